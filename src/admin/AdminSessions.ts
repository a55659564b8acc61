import { randomBytes } from 'node:crypto';
import { parseCookie } from 'cookie';

/** Path `/`: the socket.io handshake (`/socket.io/`) must carry it as well as `/admin`. */
export const SESSION_COOKIE = 'ghosttalk_admin';

export type AdminSessionsOptions = {
  ttlSeconds?: number;
  /** Most live sessions; opening one more forgets the oldest. */
  max?: number;
};

/** The session id in a Cookie header, if any (length-capped: it is untrusted input). */
export function sessionFromCookie(header: string | undefined): string | undefined {
  if (!header || header.length > 8192) return undefined;
  const id = parseCookie(header)[SESSION_COOKIE];
  return id && id.length <= 128 ? id : undefined;
}

/**
 * Console sessions, in memory: opened by one good key on `/admin?key=`, then carried by
 * an HttpOnly cookie so the key itself does not stay in the address bar, the history or
 * the page. A restart forgets them all (the operator opens `/admin?key=` again).
 */
export class AdminSessions {
  readonly ttlSeconds: number;
  readonly #max: number;
  /** id -> expiry (epoch ms), oldest first. */
  readonly #expiry = new Map<string, number>();

  constructor({ ttlSeconds = 12 * 60 * 60, max = 100 }: AdminSessionsOptions = {}) {
    this.ttlSeconds = ttlSeconds;
    this.#max = max;
  }

  open(): string {
    const now = Date.now();
    for (const [id, expiresAt] of this.#expiry) if (expiresAt <= now) this.#expiry.delete(id);
    while (this.#expiry.size >= this.#max) {
      const oldest = this.#expiry.keys().next().value;
      if (oldest === undefined) break;
      this.#expiry.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    this.#expiry.set(id, now + this.ttlSeconds * 1000);
    return id;
  }

  has(id: string | undefined): boolean {
    if (id === undefined) return false;
    const expiresAt = this.#expiry.get(id);
    if (expiresAt === undefined) return false;
    if (expiresAt > Date.now()) return true;
    this.#expiry.delete(id);
    return false;
  }
}
