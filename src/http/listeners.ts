import { createServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TlsCertificate } from './TlsCertificate.ts';

/**
 * The server on PORT: plain HTTP, or HTTPS presenting `certificate`. A renewal applies
 * to new connections; open ones (socket.io included) keep the session they have.
 */
export function createMainServer(
  certificate: TlsCertificate | undefined,
): HttpServer | HttpsServer {
  if (!certificate) return createServer();
  const { cert, key } = certificate.pair;
  const server = createHttpsServer({ cert, key });
  certificate.on('renewed', (pair) => server.setSecureContext({ cert: pair.cert, key: pair.key }));
  return server;
}
