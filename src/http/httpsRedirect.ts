import type { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';

/** `uri-host [":" port]` (RFC 9110 §7.2) with an IP literal or a name; the port is dropped. */
const HOST_HEADER = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::\d{0,5})?$/;

export type RequestHost = { kind: 'ip' | 'name'; host: string };

/**
 * The host a Host header names, lower-cased and without port or trailing dot, or
 * undefined unless it is an IPv4 address, a bracketed IPv6 address or made of letters,
 * digits, dots and hyphens: no userinfo, path, backslash or percent sign can reach a
 * Location. Whether it is a name worth redirecting to is the certificate's to say.
 */
export function hostFromHeader(header: string | undefined): RequestHost | undefined {
  const match = header === undefined ? null : HOST_HEADER.exec(header);
  if (!match) return undefined;
  const [, ipv6, name] = match;
  if (ipv6 !== undefined) {
    return isIPv6(ipv6) ? { kind: 'ip', host: ipv6.toLowerCase() } : undefined;
  }
  const host = (name as string).toLowerCase().replace(/\.$/, '');
  return { kind: isIPv4(host) ? 'ip' : 'name', host };
}

/**
 * Where a plain-HTTP request goes: the same host, path and query over https:// on
 * `httpsPort` (no port in the URL for 443). Only for hosts the served certificate
 * covers: any other name would fail the TLS handshake anyway, and refusing it means a
 * forged Host header (say, one a shared cache stores) can never send anyone elsewhere.
 */
export function redirectLocation(
  hostHeader: string | undefined,
  target: string | undefined,
  httpsPort: number,
  leaf: X509Certificate,
): string | undefined {
  const parsed = hostFromHeader(hostHeader);
  if (!parsed || !target?.startsWith('/')) return undefined;
  const { kind, host } = parsed;
  if ((kind === 'ip' ? leaf.checkIP(host) : leaf.checkHost(host)) === undefined) return undefined;
  const url = new URL(`https://${isIPv6(host) ? `[${host}]` : host}`);
  if (httpsPort !== 443) url.port = String(httpsPort);
  // Set as parts, so the target can only ever be a path (`//evil.example` stays one).
  const query = target.indexOf('?');
  url.pathname = query === -1 ? target : target.slice(0, query);
  url.search = query === -1 ? '' : target.slice(query);
  return url.href;
}

/** HTTP_REDIRECT_PORT: answers every request with a 308 to the HTTPS server. */
export function createRedirectServer(options: {
  httpsPort: number;
  /** The certificate served now (it may be renewed while running). */
  leaf: () => X509Certificate;
}): Server {
  return createServer((req, res) => {
    const location = redirectLocation(req.headers.host, req.url, options.httpsPort, options.leaf());
    const headers = {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
    };
    if (!location) {
      res
        .writeHead(400, headers)
        .end('This server answers over HTTPS, for the names its certificate holds.\n');
      return;
    }
    res.writeHead(308, { ...headers, Location: location }).end(`Moved to ${location}\n`);
  });
}
