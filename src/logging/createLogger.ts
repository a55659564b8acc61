import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import { LOG_FILE_RETRY_MS, LogFile } from './LogFile.ts';
import { redact } from './redact.ts';

const MESSAGE = Symbol.for('message');

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

const logFiles = new WeakMap<Logger, LogFile>();

/** The server.log behind a logger from createLogger (its `problem` feeds /healthz). */
export function logFileOf(logger: Logger): LogFile | undefined {
  return logFiles.get(logger);
}

/**
 * JSON lines in `<dataDir>/server.log`, rotated by size so the disk cannot fill
 * (at most LOG_MAX_FILES files of LOG_MAX_BYTES). Every line has `timestamp`, `level`
 * and `message`, plus context fields such as `room`, `peer`, `nickname`, `ip`.
 * A file that cannot be written never stops the console or the other transports:
 * see LogFile.
 */
export function createLogger({
  dataDir,
  level,
  console = true,
  secrets = [],
}: LoggerOptions): Logger {
  const file = new LogFile({
    path: join(dataDir, 'server.log'),
    maxBytes: LOG_MAX_BYTES,
    maxFiles: LOG_MAX_FILES,
    onFailure: (error) =>
      logger.error('server.log cannot be written; retrying', {
        error: error.message,
        retrySeconds: LOG_FILE_RETRY_MS / 1000,
      }),
    onResume: (linesLost) => logger.warn('server.log is written again', { linesLost }),
  });
  // Takes every line at once (no back pressure), so a stuck file cannot pause the logger.
  const fileStream = new Writable({
    objectMode: true,
    write: (info: Record<string | symbol, unknown>, _encoding, done) => {
      file.write(String(info[MESSAGE]));
      done();
    },
  });
  const transports: winston.transport[] = [
    new winston.transports.Stream({ stream: fileStream, format: jsonLineFormat() }),
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
  const logger = winston.createLogger({
    level,
    format: winston.format.combine(winston.format.errors(), redact({ secrets })),
    transports,
  });
  logFiles.set(logger, file);
  return logger;
}

/** Resolves once every transport, server.log included, has written what it was given. */
export async function closeLogger(logger: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    logger.on('finish', () => resolve());
    logger.end();
  });
  await logFiles.get(logger)?.close();
}
