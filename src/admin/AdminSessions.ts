import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseCookie } from 'cookie';

/** Path `/`: the socket.io handshake (`/socket.io/`) must carry it as well as `/admin`. */
export const SESSION_COOKIE = 'ghosttalk_admin';

export type AdminSessionsOptions = {
  /** ADMIN_KEY: every node of a cluster has the same, so every node checks every session. */
  secret: string;
  ttlSeconds?: number;
};

/** The session id in a Cookie header, if any (length-capped: it is untrusted input). */
export function sessionFromCookie(header: string | undefined): string | undefined {
  if (!header || header.length > 8192) return undefined;
  const id = parseCookie(header)[SESSION_COOKIE];
  return id && id.length <= 128 ? id : undefined;
}

const VERSION = 's1';
const TOKEN = /^s1\.([0-9a-z]{1,12})\.([\w-]{22})\.([\w-]{43})$/;

/**
 * Console sessions: opened by one good key on `/admin?key=`, then carried by an HttpOnly
 * cookie so the key itself does not stay in the address bar, the history or the page.
 * A session is a token, `s1.<expiry>.<nonce>.<HMAC-SHA256>`, signed with a key derived
 * from ADMIN_KEY: nothing is stored, so a cookie made on one node of a cluster is good on
 * every node (behind a load balancer the next request may land anywhere) and across
 * restarts, until it expires. Changing ADMIN_KEY ends every session at once.
 */
export class AdminSessions {
  readonly ttlSeconds: number;
  readonly #key: Buffer;

  constructor({ secret, ttlSeconds = 12 * 60 * 60 }: AdminSessionsOptions) {
    this.ttlSeconds = ttlSeconds;
    // Its own key, not ADMIN_KEY itself: a cookie is never a MAC made with the key.
    this.#key = createHmac('sha256', secret).update('ghosttalk admin session v1').digest();
  }

  open(): string {
    const expiresAt = Date.now() + this.ttlSeconds * 1000;
    const payload = `${VERSION}.${expiresAt.toString(36)}.${randomBytes(16).toString('base64url')}`;
    return `${payload}.${this.#mac(payload).toString('base64url')}`;
  }

  has(token: string | undefined): boolean {
    if (token === undefined) return false;
    const match = TOKEN.exec(token);
    if (!match) return false;
    const mac = Buffer.from(match[3] as string, 'base64url');
    const expected = this.#mac(token.slice(0, token.lastIndexOf('.')));
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return false;
    return Number.parseInt(match[1] as string, 36) > Date.now();
  }

  #mac(payload: string): Buffer {
    return createHmac('sha256', this.#key).update(payload, 'utf8').digest();
  }
}
