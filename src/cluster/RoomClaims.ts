import type { Redis, Result } from 'ioredis';
import { UnavailableError } from '../media/errors.ts';
import { keys, RECORD_VERSION, type RoomRecord, roomRecordSchema } from './clusterRecords.ts';

/**
 * Sets the claim unless a live node holds it; returns the claim in force, or nil when
 * the candidate itself is no longer alive (the caller picks again). A record
 * that does not decode is returned as it is (and refused by the caller), never replaced:
 * it may come from a newer node.
 */
const CLAIM = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, record = pcall(cjson.decode, current)
  if not ok or type(record) ~= 'table' or type(record.node) ~= 'string' then return current end
  if redis.call('EXISTS', ARGV[3] .. record.node) == 1 then return current end
end
if redis.call('EXISTS', ARGV[3] .. ARGV[4]) == 0 then return false end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`;

/** 1: the claim is ours, extended or (after Redis lost it) set again; 0: someone else's. */
const RENEW = `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not current then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    ghosttalkClaim(
      key: string,
      record: string,
      leaseMs: number,
      nodePrefix: string,
      candidate: string,
    ): Result<string | null, Context>;
    ghosttalkRenew(key: string, record: string, leaseMs: number): Result<number, Context>;
    ghosttalkRelease(key: string, record: string): Result<number, Context>;
  }
}

export type Claim = { record: RoomRecord; raw: string };

/** room → node, each claim a lease that its node renews while the room lives. */
export class RoomClaims {
  readonly #redis: Redis;
  readonly #leaseMs: number;

  constructor(redis: Redis, leaseMs: number) {
    this.#redis = redis;
    this.#leaseMs = leaseMs;
    redis.defineCommand('ghosttalkClaim', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('ghosttalkRenew', { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand('ghosttalkRelease', { numberOfKeys: 1, lua: RELEASE });
  }

  /**
   * The room's claim: the one in force, or a new one for `candidate` if none is (or its
   * node is dead); undefined if `candidate` is dead too. Atomic in Redis, so simultaneous first joins through different nodes
   * all get the same answer.
   */
  async claim(roomId: string, candidate: string): Promise<Claim | undefined> {
    const wanted: RoomRecord = { v: RECORD_VERSION, node: candidate, claimedAt: Date.now() };
    const raw = await this.#redis.ghosttalkClaim(
      keys.room(roomId),
      JSON.stringify(wanted),
      this.#leaseMs,
      keys.nodePrefix,
      candidate,
    );
    if (raw === null) return undefined;
    let parsed: ReturnType<typeof roomRecordSchema.safeParse> | undefined;
    try {
      parsed = roomRecordSchema.safeParse(JSON.parse(raw));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      throw new UnreadableClaimError(
        `the record of room ${roomId} in Redis is not one this node can read; try again later`,
      );
    }
    return { record: parsed.data, raw };
  }

  /** Renews each claim; returns the rooms whose claim another node now holds. */
  async renew(claims: ReadonlyMap<string, string>): Promise<string[]> {
    if (claims.size === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const [roomId, raw] of claims)
      pipeline.ghosttalkRenew(keys.room(roomId), raw, this.#leaseMs);
    const results = (await pipeline.exec()) ?? [];
    const lost: string[] = [];
    [...claims.keys()].forEach((roomId, i) => {
      const [error, result] = results[i] ?? [];
      if (!error && result === 0) lost.push(roomId);
    });
    return lost;
  }

  async release(roomId: string, raw: string): Promise<void> {
    await this.#redis.ghosttalkRelease(keys.room(roomId), raw);
  }
}

/** A room record written by a node we cannot understand: refused, never overwritten. */
export class UnreadableClaimError extends UnavailableError {
  override name = 'UnreadableClaimError';
}
