import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from './createLogger.ts';
import { jsonLineFormat } from './createLogger.ts';

const MESSAGE = Symbol.for('message');

export type LogEntry = { level: string; message: string; [field: string]: unknown };

export type LogTailEvents = {
  /** One new line, exactly as written to server.log (JSON), and its parsed form. */
  line: [line: string, entry: LogEntry];
};

/**
 * The last `capacity` log lines in memory (what `action=logs` and the admin console's
 * live tail show), fed by a winston transport added to an existing logger.
 */
export class LogTail extends EventEmitter<LogTailEvents> {
  readonly capacity: number;
  readonly #lines: string[] = [];
  readonly #transport: winston.transport;
  readonly #logger: Logger;

  constructor(logger: Logger, capacity = 100) {
    super();
    this.capacity = capacity;
    this.#logger = logger;
    const stream = new Writable({
      objectMode: true,
      write: (info: Record<string | symbol, unknown>, _encoding, done) => {
        const line = String(info[MESSAGE]);
        this.#lines.push(line);
        if (this.#lines.length > this.capacity) this.#lines.shift();
        this.emit('line', line, info as LogEntry);
        done();
      },
    });
    this.#transport = new winston.transports.Stream({ stream, format: jsonLineFormat() });
    logger.add(this.#transport);
  }

  /** Oldest first. */
  lines(): string[] {
    return [...this.#lines];
  }

  close(): void {
    this.#logger.remove(this.#transport);
  }
}
