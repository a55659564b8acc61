import { createHmac } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import type { IceServer } from '../protocol/protocol.ts';

export type IceServerSettings = {
  /** turn:, turns: and stun: URLs, as configured. */
  urls: string[];
  /** Static credentials (compatible with older deployments). */
  username?: string;
  password?: string;
  /** coturn `static-auth-secret`: when set, per-peer credentials are minted instead. */
  secret?: string;
  ttlSeconds: number;
};

/**
 * TURN REST API credentials (coturn `use-auth-secret`): the username carries its own
 * expiry, the password is HMAC-SHA1 of it under the shared secret, so the relay can
 * check them without a database and a leaked pair stops working on its own.
 */
export function mintTurnCredentials(
  secret: string,
  peerId: string,
  ttlSeconds: number,
  nowMs = Date.now(),
): { username: string; credential: string; expiresAt: number } {
  const expiresAt = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = `${expiresAt}:${peerId}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential, expiresAt };
}

/** The ICE servers one peer may use now; empty when none are configured (no hidden STUN). */
export function iceServersFor(
  settings: IceServerSettings,
  peerId: string,
  nowMs = Date.now(),
): IceServer[] {
  const stun = settings.urls.filter((u) => u.startsWith('stun:'));
  const turn = settings.urls.filter((u) => !u.startsWith('stun:'));
  const servers: IceServer[] = [];
  if (stun.length) servers.push({ urls: stun });
  if (turn.length) {
    if (settings.secret) {
      const { username, credential } = mintTurnCredentials(
        settings.secret,
        peerId,
        settings.ttlSeconds,
        nowMs,
      );
      servers.push({ urls: turn, username, credential });
    } else {
      servers.push({ urls: turn, username: settings.username, credential: settings.password });
    }
  }
  return servers;
}

/** Minted credentials are refreshed when this share of their lifetime has passed. */
const REFRESH_AT = 0.8;

/** What a session asks for at each join and refresh. */
export function iceServerProvider(
  settings: IceServerSettings,
): (peerId: string) => { iceServers: IceServer[]; refreshInMs?: number } {
  const refreshInMs = settings.secret ? settings.ttlSeconds * 1000 * REFRESH_AT : undefined;
  return (peerId) => ({ iceServers: iceServersFor(settings, peerId), refreshInMs });
}

/** `turn:host:3478?transport=udp` → `host` (brackets of an IPv6 literal removed). */
export function iceUrlHost(url: string): string {
  const rest = url.slice(url.indexOf(':') + 1).split('?')[0] ?? '';
  const bracketed = /^\[([^\]]+)\]/.exec(rest);
  return bracketed?.[1] ?? rest.split(':')[0] ?? '';
}

/** The addresses media from our TURN servers arrives from; an unresolvable name is skipped. */
export async function resolveRelayAddresses(urls: readonly string[]): Promise<Set<string>> {
  const hosts = [...new Set(urls.filter((u) => !u.startsWith('stun:')).map(iceUrlHost))];
  const found = await Promise.all(
    hosts.map((host) =>
      lookup(host, { all: true }).then(
        (addresses) => addresses.map((a) => a.address),
        () => [],
      ),
    ),
  );
  return new Set(found.flat());
}
