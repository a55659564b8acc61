import { join } from 'node:path';
import winston from 'winston';
import { redact } from './redact.ts';

export type Logger = winston.Logger;

export type LoggerOptions = {
  dataDir: string;
  level: string;
  /** Console output too (off in tests that only read server.log). */
  console?: boolean;
  /** Values (admin key, TURN password) masked wherever they would appear in a log. */
  secrets?: readonly string[];
};

/** Size of one server.log before it rotates, and how many rotated files are kept. */
export const LOG_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_MAX_FILES = 5;

/** The JSON-lines format of server.log, shared by the in-memory tail. */
export const jsonLineFormat = () =>
  winston.format.combine(winston.format.timestamp(), winston.format.json());

/**
 * JSON lines in `<dataDir>/server.log`, rotated by size so the disk cannot fill
 * (at most LOG_MAX_FILES files of LOG_MAX_BYTES). Every line has `timestamp`, `level`
 * and `message`, plus context fields such as `room`, `peer`, `nickname`, `ip`.
 */
export function createLogger({
  dataDir,
  level,
  console = true,
  secrets = [],
}: LoggerOptions): Logger {
  const transports: winston.transport[] = [
    new winston.transports.File({
      filename: join(dataDir, 'server.log'),
      format: jsonLineFormat(),
      maxsize: LOG_MAX_BYTES,
      maxFiles: LOG_MAX_FILES,
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
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.errors(), redact({ secrets })),
    transports,
  });
}

/** Resolves once every transport has written what it was given. */
export function closeLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    logger.on('finish', () => resolve());
    logger.end();
  });
}
