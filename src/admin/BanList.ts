import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { AddressSet, type Cidr, parseCidr } from '../net/addresses.ts';

/** banned_ips.json cannot be used: the server must not start (and must not overwrite it). */
export class BanFileError extends Error {
  override name = 'BanFileError';
}

/** A ban that is not an IP address or CIDR range. */
export class BanSyntaxError extends Error {
  override name = 'BanSyntaxError';
}

/** Shortest prefixes accepted, so one typo cannot lock out a whole address family. */
const MIN_PREFIX = { 4: 8, 6: 16 } as const;

/**
 * `1.2.3.4`, `2001:db8::1`, `10.0.0.0/8`, `2001:db8::/32` in their canonical spelling
 * (see net/addresses.ts), or a BanSyntaxError saying why not.
 */
export function parseBan(input: string): Cidr {
  const cidr = parseCidr(input);
  if (!cidr) {
    throw new BanSyntaxError(
      `not an IP address or CIDR range: ${JSON.stringify(input.slice(0, 64))} (use 203.0.113.7, 2001:db8::1, 198.51.100.0/24 or 2001:db8::/48)`,
    );
  }
  if (cidr.prefix < MIN_PREFIX[cidr.family]) {
    throw new BanSyntaxError(
      `range ${cidr.text} is too wide: the shortest prefix allowed is /${MIN_PREFIX[cidr.family]} for IPv${cidr.family}`,
    );
  }
  return cidr;
}

/** Every ban file shape we read: ours (array of strings) and older ones. */
function entriesFromJson(data: unknown): string[] {
  if (Array.isArray(data)) {
    return data.map((item, i) => {
      if (typeof item === 'string') return item;
      if (item && typeof item === 'object') {
        const value =
          (item as Record<string, unknown>).ip ?? (item as Record<string, unknown>).cidr;
        if (typeof value === 'string') return value;
      }
      throw new Error(`entry ${i} is not an IP string`);
    });
  }
  if (data && typeof data === 'object') {
    const record = data as Record<string, unknown>;
    if (Array.isArray(record.bans)) return entriesFromJson(record.bans);
    // A map of address -> true/metadata, as a Go map[string]bool marshals.
    return Object.keys(record);
  }
  throw new Error('expected a JSON array of IP addresses or CIDR ranges');
}

export type BanListEvents = { change: [bans: readonly string[]] };

/**
 * Persistent banned addresses and ranges, in `banned_ips.json`: a JSON array of
 * strings, rewritten atomically (temp file, fsync, rename) on every change.
 */
export class BanList extends EventEmitter<BanListEvents> {
  readonly file: string;
  #bans: string[] = [];
  #matcher = new AddressSet([]);

  /**
   * Reads `file`. A missing file is an empty list; anything unreadable or invalid is a
   * BanFileError naming the file, and the file is left exactly as it is.
   */
  static load(file: string): BanList {
    const list = new BanList(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      if (code === 'ENOENT') return list;
      throw new BanFileError(`cannot read the ban list ${file}: ${code ?? message}`);
    }
    try {
      const values = text.trim() === '' ? [] : entriesFromJson(JSON.parse(text));
      list.#set(values.map((v) => parseBan(v).text));
    } catch (error) {
      throw new BanFileError(
        `the ban list ${file} is not valid (${(error as Error).message}). It was left untouched: fix it, or move it away to start with no bans.`,
      );
    }
    return list;
  }

  private constructor(file: string) {
    super();
    this.file = file;
  }

  get size(): number {
    return this.#bans.length;
  }

  list(): string[] {
    return [...this.#bans];
  }

  isBanned(address: string): boolean {
    return this.#matcher.has(address);
  }

  /** Adds and persists a ban; returns its canonical form. Throws BanSyntaxError. */
  add(input: string): string {
    const value = parseBan(input).text;
    if (!this.#bans.includes(value)) this.#commit([...this.#bans, value]);
    return value;
  }

  /** Removes and persists; false if it was not banned (same canonical spelling). */
  remove(input: string): boolean {
    const value = parseBan(input).text;
    if (!this.#bans.includes(value)) return false;
    this.#commit(this.#bans.filter((b) => b !== value));
    return true;
  }

  /**
   * Makes the list exactly `values` (the cluster's list, from Redis) and persists it if
   * that changes anything. Each value goes through parseBan: what does not parse is left
   * out and returned, for the caller to log. Bans already here keep their place in the
   * file; new ones are appended in sorted order (a set has none).
   */
  replace(values: readonly string[]): { changed: boolean; rejected: string[] } {
    const rejected: string[] = [];
    const wanted = new Set<string>();
    for (const value of values) {
      try {
        wanted.add(parseBan(value).text);
      } catch {
        rejected.push(value);
      }
    }
    const kept = this.#bans.filter((ban) => wanted.has(ban));
    const current = new Set(this.#bans);
    const added = [...wanted].filter((ban) => !current.has(ban)).sort();
    const changed = added.length > 0 || kept.length !== this.#bans.length;
    if (changed) this.#commit([...kept, ...added]);
    return { changed, rejected };
  }

  /** Writes first, then changes memory: a failed write leaves both as they were. */
  #commit(next: string[]): void {
    writeAtomically(this.file, `${JSON.stringify(next, null, 2)}\n`);
    this.#set(next);
    this.emit('change', this.list());
  }

  #set(values: string[]): void {
    const unique = [...new Set(values)];
    this.#matcher = new AddressSet(unique.map(parseBan));
    this.#bans = unique;
  }
}

/** Temp file in the same folder, fsync, rename over the target, fsync the folder. */
export function writeAtomically(file: string, content: string): void {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  try {
    const dir = openSync(dirname(file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some filesystems cannot fsync a directory; the rename is still atomic.
  }
}
