import { type FileHandle, open, rename } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';

/** How often a log file that failed is tried again. */
export const LOG_FILE_RETRY_MS = 5_000;
/** Lines waiting for the file are capped; beyond this they are dropped (and counted). */
const MAX_QUEUED_BYTES = 1024 * 1024;
/** A healthy file keeps its queue near empty; this much waiting means the disk is stuck. */
const BACKED_UP_BYTES = MAX_QUEUED_BYTES / 2;

export type LogFileOptions = {
  path: string;
  /** A file is rotated before it would grow past this. */
  maxBytes: number;
  /** Files kept: `server.log` plus `server1.log` … (winston's tailable naming). */
  maxFiles: number;
  retryMs?: number;
  /** The file stopped taking lines (once per distinct problem). */
  onFailure: (error: Error) => void;
  /** It takes lines again; `linesLost` were dropped meanwhile. */
  onResume: (linesLost: number) => void;
};

/**
 * An append-only, size-rotated log file that never pushes back on the logger and
 * never throws or emits: a failing disk (ENOSPC, EISDIR, ELOOP…) only sets `problem`
 * and lines wait (up to a cap) until a retry writes them. winston's own File transport
 * instead emits an unhandled 'error' (a failed stat) or stalls with its stream unpiped
 * (a failed write), and its back pressure pauses the logger for every transport.
 */
export class LogFile {
  readonly path: string;
  readonly #o: LogFileOptions;
  #handle: FileHandle | undefined;
  /** Bytes in the open file, all of them whole lines. */
  #size = 0;
  readonly #queue: string[] = [];
  #queuedBytes = 0;
  #dropped = 0;
  #error: NodeJS.ErrnoException | undefined;
  #busy = false;
  #draining: Promise<void> = Promise.resolve();
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: LogFileOptions) {
    this.#o = options;
    this.path = options.path;
  }

  /** Why lines are not reaching the file now; undefined while they are. */
  get problem(): string | undefined {
    const name = basename(this.path);
    if (this.#error) return `${name} cannot be written: ${this.#error.code ?? this.#error.message}`;
    return this.#queuedBytes >= BACKED_UP_BYTES ? `${name} writes are backed up` : undefined;
  }

  /** One line, without its newline. */
  write(line: string): void {
    if (this.#closed) return;
    const text = `${line}\n`;
    const bytes = Buffer.byteLength(text);
    if (this.#queuedBytes + bytes > MAX_QUEUED_BYTES) {
      this.#dropped += 1;
      return;
    }
    this.#queue.push(text);
    this.#queuedBytes += bytes;
    // While failing, only the retry timer tries the file again.
    if (!this.#error) this.#kick();
  }

  /** Writes what is queued (unless the file is failing) and closes it. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#draining;
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => {});
  }

  #kick(): void {
    if (!this.#busy) this.#draining = this.#drain();
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#queue.length > 0) await this.#writeBatch();
    } catch (error) {
      this.#fail(error as NodeJS.ErrnoException);
    } finally {
      this.#busy = false;
    }
  }

  /** The longest run of queued lines that fits in the current file, rotating first if none does. */
  async #writeBatch(): Promise<void> {
    let handle = this.#handle ?? (await this.#open());
    this.#handle = handle;
    const first = Buffer.byteLength(this.#queue[0] ?? '');
    if (this.#size > 0 && this.#size + first > this.#o.maxBytes) {
      await this.#rotate();
      handle = await this.#open();
      this.#handle = handle;
    }
    let count = 0;
    let bytes = 0;
    for (const text of this.#queue) {
      const next = Buffer.byteLength(text);
      if (count > 0 && this.#size + bytes + next > this.#o.maxBytes) break;
      count += 1;
      bytes += next;
    }
    try {
      await handle.appendFile(this.#queue.slice(0, count).join(''));
    } catch (error) {
      // A partly written batch would leave half a JSON line; it is written again later.
      await handle.truncate(this.#size).catch(() => {});
      throw error;
    }
    this.#queue.splice(0, count);
    this.#queuedBytes -= bytes;
    this.#size += bytes;
    if (this.#error) {
      this.#error = undefined;
      const lost = this.#dropped;
      this.#dropped = 0;
      this.#o.onResume(lost);
    }
  }

  async #open(): Promise<FileHandle> {
    const handle = await open(this.path, 'a');
    try {
      this.#size = (await handle.stat()).size;
      return handle;
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    }
  }

  /** server.log → server1.log → … → server{maxFiles-1}.log, the oldest overwritten. */
  async #rotate(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
    for (let i = this.#o.maxFiles - 1; i > 1; i--) {
      await renameIfPresent(this.#numbered(i - 1), this.#numbered(i));
    }
    await renameIfPresent(this.path, this.#numbered(1));
  }

  #numbered(n: number): string {
    const ext = extname(this.path);
    return join(dirname(this.path), `${basename(this.path, ext)}${n}${ext}`);
  }

  #fail(error: NodeJS.ErrnoException): void {
    const handle = this.#handle;
    this.#handle = undefined;
    void handle?.close().catch(() => {});
    const before = this.problem;
    this.#error = error;
    if (this.#closed) return;
    this.#retry = setTimeout(() => this.#kick(), this.#o.retryMs ?? LOG_FILE_RETRY_MS).unref();
    if (this.problem !== before) this.#o.onFailure(error);
  }
}

async function renameIfPresent(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
