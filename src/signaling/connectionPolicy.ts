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
 * trusted proxies), banned addresses are refused, each address has a budget of new
 * connections per minute and of sockets open at once. (A socket that stays out of a
 * room is closed by its ClientSession.)
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
    limits.allowConnection(socket.data.ip).then(
      (allowed) => {
        if (allowed) return next();
        logger.warn('connection rate limited', { ip: socket.data.ip });
        next(new Error('too many connections from your address, wait a minute'));
      },
      // A limiter that cannot answer must not leave the handshake hanging.
      (error: Error) => {
        logger.error('connection limit check failed', { error: error.message });
        next(new Error('server busy, try again'));
      },
    );
  });
  // Last, so that a socket holds a slot only once nothing else can refuse it. A socket
  // that passes can still fail to connect (its transport closed meanwhile): the slot is
  // given back when the transport closes, as well as on disconnect.
  io.use((socket, next) => {
    // Closed during the rate-limit check: no 'close' would come to give the slot back.
    if (socket.conn.readyState !== 'open') return next(new Error('connection closed'));
    const release = limits.openSocket(socket.data.ip);
    if (!release) {
      logger.warn('too many open connections', { ip: socket.data.ip });
      return next(new Error('too many open connections from your address; close other tabs'));
    }
    socket.conn.once('close', release);
    socket.once('disconnect', release);
    next();
  });
}
