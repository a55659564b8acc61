import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../logging/createLogger.ts';
import { ClusterUnreachableError } from './adminErrors.ts';
import { type BanList, parseBan } from './BanList.ts';

export const BANS_KEY = 'gt:bans';
/** Set once Redis holds the cluster's list: from then on Redis is the truth. */
export const BANS_SEEDED_KEY = 'gt:bans:seeded';

/**
 * One change (or none: 'sync') to the shared set, atomically. An uninitialised Redis
 * (first start, or one that lost its data) is seeded with the caller's list first; without
 * a list to seed with, the script answers -1 and the caller sends it.
 * ARGV: op, value, '1' if seeds follow, seeds...
 */
const BAN_SCRIPT = `
if redis.call('EXISTS', KEYS[2]) == 0 then
  if ARGV[3] ~= '1' then return -1 end
  for i = 4, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
  redis.call('SET', KEYS[2], '1')
end
local changed = 0
if ARGV[1] == 'add' then changed = redis.call('SADD', KEYS[1], ARGV[2])
elseif ARGV[1] == 'remove' then changed = redis.call('SREM', KEYS[1], ARGV[2]) end
return {changed, redis.call('SMEMBERS', KEYS[1])}`;

const scriptResult = z.union([z.literal(-1), z.tuple([z.number().int(), z.array(z.string())])]);

type Op = 'add' | 'remove' | 'sync';

export type SharedBansOptions = {
  /** This node's list: banned_ips.json, which stays a copy of the cluster's. */
  list: BanList;
  /** The command client: no offline queue, so a call fails at once while Redis is away. */
  redis: Redis;
  logger: Logger;
};

/**
 * The cluster's ban list, a Redis set. Redis is the truth once it holds a list: the
 * first node to find it uninitialised seeds it from its banned_ips.json; every node
 * then rewrites its own file from Redis at start and on every change it sees, so the
 * file stays what operators (and the Go version) read. A node whose file had other
 * bans loses them: in a cluster, bans are changed through the admin API or console.
 * Every entry read from Redis goes through parseBan; a bad one is logged and skipped.
 */
export class SharedBans {
  readonly #o: SharedBansOptions;
  /** Bad entries already logged (a periodic sync must not repeat them forever). */
  readonly #reported = new Set<string>();

  /** Reads the cluster's list into the local one; if Redis fails now, the file stands. */
  static async open(options: SharedBansOptions): Promise<SharedBans> {
    const shared = new SharedBans(options);
    try {
      await shared.sync();
    } catch (error) {
      options.logger.warn('ban list not read from redis at start: the file applies until it is', {
        error: (error as Error).message,
      });
    }
    return shared;
  }

  private constructor(options: SharedBansOptions) {
    this.#o = options;
  }

  /** Makes the local list (and file) the cluster's; true if that changed it. */
  async sync(): Promise<boolean> {
    return this.#apply((await this.#run('sync', '')).list);
  }

  /** Bans in Redis, then here; returns the canonical form. BanSyntaxError, ClusterUnreachableError. */
  async add(input: string): Promise<string> {
    const ban = parseBan(input).text;
    this.#apply((await this.#run('add', ban)).list);
    return ban;
  }

  /** False if the cluster did not have it. */
  async remove(input: string): Promise<boolean> {
    const ban = parseBan(input).text;
    const { changed, list } = await this.#run('remove', ban);
    this.#apply(list);
    return changed;
  }

  async #run(op: Op, value: string): Promise<{ changed: boolean; list: string[] }> {
    const { redis } = this.#o;
    if (redis.status !== 'ready') throw new ClusterUnreachableError();
    const call = async (seeds: readonly string[] | undefined) => {
      const flag = seeds ? '1' : '0';
      const raw = await redis.eval(
        BAN_SCRIPT,
        2,
        BANS_KEY,
        BANS_SEEDED_KEY,
        op,
        value,
        flag,
        ...(seeds ?? []),
      );
      return scriptResult.parse(raw);
    };
    let result: z.infer<typeof scriptResult>;
    try {
      result = await call(undefined);
      if (result === -1) {
        this.#o.logger.info('ban list seeded in redis from this node', {
          bans: this.#o.list.size,
        });
        result = await call(this.#o.list.list());
      }
    } catch (error) {
      this.#o.logger.warn('redis ban list unreachable', { op, error: (error as Error).message });
      throw new ClusterUnreachableError();
    }
    if (result === -1) throw new ClusterUnreachableError();
    return { changed: result[0] === 1, list: result[1] };
  }

  #apply(values: readonly string[]): boolean {
    const { changed, rejected } = this.#o.list.replace(values);
    for (const entry of rejected) {
      if (this.#reported.has(entry)) continue;
      if (this.#reported.size < 1000) this.#reported.add(entry);
      this.#o.logger.warn('ban in redis is not an address or range; skipped', {
        entry: entry.slice(0, 80),
      });
    }
    return changed;
  }
}
