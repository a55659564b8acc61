import type { IncomingMessage } from 'node:http';
import type { ServerOptions } from 'socket.io';
import type { Logger } from '../logging/createLogger.ts';
import type { MainIoServer } from './ioTypes.ts';
import type { SignalingLimits } from './SignalingLimits.ts';

/**
 * Browsers send Origin on every WebSocket/polling request: accept our own host and the
 * configured extra origins. Non-browser clients send none and are let through (an
 * Origin check protects browser users from other sites, not the server from scripts).
 */
export function originAllowed(req: IncomingMessage, allowedOrigins: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowedOrigins.includes(origin)) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** socket.io's `allowRequest`: the origin policy, before any handshake work. */
export function originPolicy(
  allowedOrigins: readonly string[],
  logger: Logger,
): NonNullable<ServerOptions['allowRequest']> {
  return (req, callback) => {
    const allowed = originAllowed(req, allowedOrigins);
    if (!allowed) logger.warn('socket.io origin refused', { origin: req.headers.origin });
    callback(allowed ? null : 'origin not allowed', allowed);
  };
}

export type ConnectionPolicyOptions = {
  resolveIp: (socket: { request: IncomingMessage }) => string;
  isBanned: (ip: string) => boolean;
  limits: SignalingLimits;
  logger: Logger;
};

/**
 * Who may open a signaling connection: the client address is resolved once (through
 * trusted proxies), banned addresses are refused, and each address has a budget of new
 * connections per minute.
 */
export function applyConnectionPolicy(io: MainIoServer, options: ConnectionPolicyOptions): void {
  const { resolveIp, isBanned, limits, logger } = options;
  io.use((socket, next) => {
    socket.data.ip = resolveIp(socket);
    if (isBanned(socket.data.ip)) {
      logger.info('banned address refused', { ip: socket.data.ip });
      return next(new Error('banned'));
    }
    next();
  });
  io.use((socket, next) => {
    void limits.allowConnection(socket.data.ip).then((allowed) => {
      if (allowed) return next();
      logger.warn('connection rate limited', { ip: socket.data.ip });
      next(new Error('too many connections from your address, wait a minute'));
    });
  });
}
