import type { Redis } from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import { clientKey } from '../net/addresses.ts';
import { SignalingError } from './SignalingError.ts';

export type SignalingLimitSettings = {
  /** New socket.io connections per IP per minute. */
  connectionsPerIpPerMinute: number;
  joinsPerIpPerMinute: number;
  roomCreationsPerIpPerMinute: number;
  /** Requests per socket per 10 s. */
  messagesPerSocketPer10s: number;
  /** Signaling sockets one IP may hold open at once. */
  socketsPerIp: number;
  /** A socket not in a room is closed after this long. */
  socketIdleMs: number;
  /** IPv6 clients are counted per network of this prefix length (see clientKey). */
  ipv6Prefix: number;
};

/** Keys of the shared (Redis) budgets: `gt:rl:<limiter>:<address key>`. */
const KEY_PREFIX = 'gt:rl:';

async function take(limiter: RateLimiterAbstract, key: string): Promise<boolean> {
  try {
    await limiter.consume(key);
    return true;
  } catch (error) {
    if (error instanceof RateLimiterRes) return false;
    throw error;
  }
}

/**
 * Per-address and per-socket budgets. With a Redis client (a cluster), the per-address
 * ones (connections, joins, room creations) are shared by every node, so a client cannot
 * multiply them by spreading over nodes. While Redis is away each falls back to an
 * in-memory limiter with the same budget on each node (rate-limiter-flexible's
 * insuranceLimiter): limits still hold, per node, and nothing waits for Redis.
 * Per-socket message budgets and open-socket counts stay in memory: a socket lives on
 * one node, and a count of open sockets must not outlive a crashed node in Redis.
 */
export class SignalingLimits {
  readonly settings: SignalingLimitSettings;
  readonly #connections: RateLimiterAbstract;
  readonly #joins: RateLimiterAbstract;
  readonly #roomCreations: RateLimiterAbstract;
  readonly #messages: RateLimiterMemory;
  readonly #openSockets = new Map<string, number>();

  /** Defaults (in the settings table) are generous enough for an honest client that
   * reconnects with backoff, and tight enough that one address cannot flood the server.
   * `store`: the cluster's command client (no offline queue, short timeout). */
  constructor(settings: SignalingLimitSettings, store?: Redis) {
    this.settings = settings;
    const perAddress = (name: string, points: number): RateLimiterAbstract => {
      const duration = 60;
      if (!store) return new RateLimiterMemory({ points, duration });
      return new RateLimiterRedis({
        storeClient: store,
        keyPrefix: `${KEY_PREFIX}${name}`,
        points,
        duration,
        // Not connected: straight to the insurance, rather than a command that fails.
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory({ points, duration }),
      });
    };
    this.#connections = perAddress('connections', settings.connectionsPerIpPerMinute);
    this.#joins = perAddress('joins', settings.joinsPerIpPerMinute);
    this.#roomCreations = perAddress('rooms', settings.roomCreationsPerIpPerMinute);
    this.#messages = new RateLimiterMemory({
      points: settings.messagesPerSocketPer10s,
      duration: 10,
    });
  }

  /** Every per-address budget is kept under this key: canonical, IPv6 per network. */
  #key(ip: string): string {
    return clientKey(ip, this.settings.ipv6Prefix);
  }

  allowConnection(ip: string): Promise<boolean> {
    return take(this.#connections, this.#key(ip));
  }

  /**
   * Takes one of the address's open-socket slots: undefined when all are taken, else
   * the function that gives it back (only the first call counts).
   */
  openSocket(ip: string): (() => void) | undefined {
    const key = this.#key(ip);
    const open = this.#openSockets.get(key) ?? 0;
    if (open >= this.settings.socketsPerIp) return undefined;
    this.#openSockets.set(key, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#openSockets.get(key) ?? 1) - 1;
      if (left > 0) this.#openSockets.set(key, left);
      else this.#openSockets.delete(key);
    };
  }

  allowMessage(socketId: string): Promise<boolean> {
    return take(this.#messages, socketId);
  }

  /** Throws a RATE_LIMITED error the client can show. (Server-wide caps: RoomRegistry.) */
  async checkJoin(ip: string, load: { createsRoom: boolean }): Promise<void> {
    const key = this.#key(ip);
    if (!(await take(this.#joins, key))) {
      throw new SignalingError('RATE_LIMITED', 'too many joins from your address, wait a minute');
    }
    if (load.createsRoom && !(await take(this.#roomCreations, key))) {
      throw new SignalingError(
        'RATE_LIMITED',
        'too many new rooms from your address, wait a minute',
      );
    }
  }
}
