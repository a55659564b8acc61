import { createHash, timingSafeEqual } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

export type AuthResult =
  | { ok: true }
  | { ok: false; reason: 'missing' | 'wrong' }
  | { ok: false; reason: 'limited'; retryAfterSeconds: number };

export type AdminAuthOptions = {
  key: string;
  /** Wrong keys allowed per IP in `windowSeconds` before that IP is locked out. */
  maxFailures?: number;
  windowSeconds?: number;
};

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * The admin key check shared by the HTTP API and the admin socket.io namespace:
 * constant-time comparison (of SHA-256 digests, so lengths match too) and a per-IP
 * budget of failed attempts, after which that IP is refused for the whole window.
 */
export class AdminAuth {
  readonly #digest: Buffer;
  readonly #limiter: RateLimiterMemory;
  readonly #maxFailures: number;

  constructor({ key, maxFailures = 10, windowSeconds = 15 * 60 }: AdminAuthOptions) {
    this.#digest = sha256(key);
    this.#maxFailures = maxFailures;
    this.#limiter = new RateLimiterMemory({
      keyPrefix: 'admin-auth',
      points: maxFailures,
      duration: windowSeconds,
      blockDuration: windowSeconds,
    });
  }

  matches(candidate: string): boolean {
    return timingSafeEqual(sha256(candidate), this.#digest);
  }

  async check(ip: string, candidate: string | undefined): Promise<AuthResult> {
    const state = await this.#limiter.get(ip);
    if (state && state.consumedPoints >= this.#maxFailures && state.msBeforeNext > 0) {
      return {
        ok: false,
        reason: 'limited',
        retryAfterSeconds: Math.ceil(state.msBeforeNext / 1000),
      };
    }
    if (candidate === undefined || candidate === '') return { ok: false, reason: 'missing' };
    if (this.matches(candidate)) return { ok: true };
    try {
      await this.#limiter.consume(ip);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        return {
          ok: false,
          reason: 'limited',
          retryAfterSeconds: Math.ceil(rejection.msBeforeNext / 1000),
        };
      }
      throw rejection;
    }
    return { ok: false, reason: 'wrong' };
  }
}
