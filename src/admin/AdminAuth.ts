import { createHash, timingSafeEqual } from 'node:crypto';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { clientKey } from '../net/addresses.ts';
import { AdminSessions } from './AdminSessions.ts';

export type AuthResult =
  | { ok: true; via: 'key' | 'session' }
  | { ok: false; reason: 'missing' | 'wrong' }
  | { ok: false; reason: 'limited'; retryAfterSeconds: number };

/** What a request or handshake brought: the key (scripts, first page load) or a session id. */
export type Credentials = { key?: string | undefined; session?: string | undefined };

export type AdminAuthOptions = {
  key: string;
  /** Wrong keys allowed from one address in `windowSeconds` before it is blocked. */
  maxFailures?: number;
  windowSeconds?: number;
  /** The first block; each further one (within a day) doubles, up to `maxBlockSeconds`. */
  firstBlockSeconds?: number;
  maxBlockSeconds?: number;
  sessionTtlSeconds?: number;
  /** IPv6 addresses share a budget per network of this length (one host holds a /64). */
  ipv6Prefix?: number;
};

const LOCKOUT_MEMORY_SECONDS = 24 * 60 * 60;

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * The admin check shared by the HTTP API and the admin socket.io namespace. The key is
 * compared in constant time (SHA-256 digests, so lengths match too). Wrong keys are
 * budgeted per address (canonical form, IPv6 per network); past the budget the address
 * is blocked for a time that doubles with each block up to a cap, so a guesser behind
 * the same NAT as the operator delays them by at most the cap. The right key clears
 * that history.
 * A session cookie is checked even while the address is blocked: it is signed (HMAC-SHA256),
 * nothing to guess, and it keeps a logged-in operator working. Wrong-key budgets are
 * per node (in memory): a guesser spread over N nodes gets N budgets, each still capped.
 */
export class AdminAuth {
  readonly sessions: AdminSessions;
  readonly #digest: Buffer;
  readonly #failures: RateLimiterMemory;
  readonly #lockouts: RateLimiterMemory;
  readonly #maxFailures: number;
  readonly #firstBlockSeconds: number;
  readonly #maxBlockSeconds: number;
  readonly #ipv6Prefix: number;

  constructor({
    key,
    maxFailures = 10,
    windowSeconds = 15 * 60,
    firstBlockSeconds = 60,
    maxBlockSeconds = 15 * 60,
    sessionTtlSeconds,
    ipv6Prefix = 64,
  }: AdminAuthOptions) {
    this.#ipv6Prefix = ipv6Prefix;
    this.#digest = sha256(key);
    this.#maxFailures = maxFailures;
    this.#firstBlockSeconds = firstBlockSeconds;
    this.#maxBlockSeconds = maxBlockSeconds;
    this.#failures = new RateLimiterMemory({ points: maxFailures, duration: windowSeconds });
    this.#lockouts = new RateLimiterMemory({ points: 1, duration: LOCKOUT_MEMORY_SECONDS });
    this.sessions = new AdminSessions({ secret: key, ttlSeconds: sessionTtlSeconds });
  }

  async authenticate(ip: string, { key, session }: Credentials): Promise<AuthResult> {
    if (key === undefined || key === '') {
      return this.sessions.has(session)
        ? { ok: true, via: 'session' }
        : { ok: false, reason: 'missing' };
    }
    const address = clientKey(ip, this.#ipv6Prefix);
    const state = await this.#failures.get(address);
    if (state && state.consumedPoints > this.#maxFailures && state.msBeforeNext > 0) {
      return {
        ok: false,
        reason: 'limited',
        retryAfterSeconds: Math.ceil(state.msBeforeNext / 1000),
      };
    }
    if (timingSafeEqual(sha256(key), this.#digest)) {
      await Promise.all([this.#failures.delete(address), this.#lockouts.delete(address)]);
      return { ok: true, via: 'key' };
    }
    const failed = await this.#failures.penalty(address);
    if (failed.consumedPoints <= this.#maxFailures) return { ok: false, reason: 'wrong' };
    const lockouts = (await this.#lockouts.penalty(address)).consumedPoints;
    const seconds = Math.min(this.#firstBlockSeconds * 2 ** (lockouts - 1), this.#maxBlockSeconds);
    await this.#failures.block(address, seconds);
    return { ok: false, reason: 'limited', retryAfterSeconds: Math.ceil(seconds) };
  }
}
