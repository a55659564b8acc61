import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

export type TrustFunction = (address: string, hop: number) => boolean;

/**
 * The `trust proxy` function, compiled once from TRUSTED_PROXIES and shared by Express
 * and socket.io, so both agree on who the client is. An empty list trusts nobody: the
 * TCP peer is the client and X-Forwarded-For is ignored.
 */
export function compileTrust(trustedProxies: readonly string[]): TrustFunction {
  return proxyaddr.compile([...trustedProxies]);
}

/** `::ffff:1.2.3.4` is how a dual-stack socket shows an IPv4 client. */
export function normaliseIp(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return (mapped?.[1] ?? address).toLowerCase();
}

/**
 * The client's address: the right-most X-Forwarded-For entry not added by a trusted
 * proxy (Express semantics), or the TCP peer when it is not a trusted proxy.
 */
export function resolveClientIp(req: IncomingMessage, trust: TrustFunction): string {
  if (!req.socket?.remoteAddress) return 'unknown';
  return normaliseIp(proxyaddr(req, trust));
}
