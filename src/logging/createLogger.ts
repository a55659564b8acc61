import { join } from 'node:path';
import winston from 'winston';

export type Logger = winston.Logger;

export type LoggerOptions = {
  dataDir: string;
  level: string;
  /** Console output too (off in tests that only read server.log). */
  console?: boolean;
};

/** JSON lines in `<dataDir>/server.log`, rotated by size so the disk cannot fill. */
export function createLogger({ dataDir, level, console = true }: LoggerOptions): Logger {
  const transports: winston.transport[] = [
    new winston.transports.File({
      filename: join(dataDir, 'server.log'),
      format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
      maxsize: 10 * 1024 * 1024,
      maxFiles: 5,
      tailable: true,
    }),
  ];
  if (console) {
    transports.push(
      new winston.transports.Console({
        format: winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss' }),
          winston.format.printf(({ timestamp, level: lvl, message, ...meta }) => {
            const extra = Object.keys(meta).length ? ` ${JSON.stringify(meta)}` : '';
            return `${timestamp} ${lvl} ${message}${extra}`;
          }),
        ),
      }),
    );
  }
  return winston.createLogger({ level, transports });
}

/** Resolves once every transport has written what it was given. */
export function closeLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    logger.on('finish', () => resolve());
    logger.end();
  });
}
