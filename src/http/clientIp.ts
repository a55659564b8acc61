import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import { canonicalIp } from '../net/addresses.ts';

export type TrustFunction = (address: string, hop: number) => boolean;

/**
 * The `trust proxy` function, compiled once from TRUSTED_PROXIES and shared by Express
 * and socket.io, so both agree on who the client is. An empty list trusts nobody: the
 * TCP peer is the client and X-Forwarded-For is ignored.
 */
export function compileTrust(trustedProxies: readonly string[]): TrustFunction {
  return proxyaddr.compile([...trustedProxies]);
}

/**
 * The client's address in canonical form: the right-most X-Forwarded-For entry not
 * added by a trusted proxy (Express semantics), or the TCP peer when it is not a
 * trusted proxy.
 */
export function resolveClientIp(req: IncomingMessage, trust: TrustFunction): string {
  if (!req.socket?.remoteAddress) return 'unknown';
  const address = proxyaddr(req, trust);
  return canonicalIp(address) ?? address;
}
