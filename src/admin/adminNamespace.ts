import type { Namespace } from 'socket.io';
import type { Logger } from '../logging/createLogger.ts';
import type {
  AdminAck,
  AdminClientToServerEvents,
  AdminServerToClientEvents,
  PeerSnapshot,
  RoomSnapshot,
} from '../protocol/adminProtocol.ts';
import type { MainIoServer } from '../signaling/ioTypes.ts';
import type { AdminAuth } from './AdminAuth.ts';
import type { AdminService } from './AdminService.ts';
import { sessionFromCookie } from './AdminSessions.ts';
import { BanSyntaxError } from './BanList.ts';

type AdminNamespace = Namespace<
  AdminClientToServerEvents,
  AdminServerToClientEvents,
  Record<string, never>,
  { ip: string }
>;

export type AdminNamespaceOptions = {
  io: MainIoServer;
  service: AdminService;
  auth: AdminAuth;
  resolveIp: (socket: { request: import('node:http').IncomingMessage }) => string;
  isBanned: (ip: string) => boolean;
  logger: Logger;
  /** How often rooms are diffed while an admin is connected (ms). */
  pollMs?: number;
};

function fail(error: unknown): AdminAck<never> {
  if (error instanceof BanSyntaxError) return { ok: false, error: error.message };
  return { ok: false, error: 'internal error' };
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= 256 ? value : undefined;
}

/**
 * `/admin`: the live console. Authenticated in the handshake, by the session cookie the
 * admin page was served with or (scripts) by `auth.key`; pushes the room list, join/leave
 * events, stats every 2 s and every new log line.
 */
export function setUpAdminNamespace(options: AdminNamespaceOptions): () => void {
  const { service, auth, logger } = options;
  const ns = options.io.of('/admin') as unknown as AdminNamespace;

  ns.use((socket, next) => {
    const ip = options.resolveIp(socket);
    socket.data.ip = ip;
    if (options.isBanned(ip)) return next(new Error('forbidden'));
    const key = asString((socket.handshake.auth as Record<string, unknown>)?.key);
    const session = sessionFromCookie(socket.handshake.headers.cookie);
    auth.authenticate(ip, { key, session }).then(
      (result) => {
        if (result.ok) return next();
        if (result.reason === 'wrong' || result.reason === 'limited') {
          logger.warn('admin console login refused', { ip, reason: result.reason });
        }
        next(new Error(result.reason === 'limited' ? 'too many attempts' : 'unauthorized'));
      },
      () => next(new Error('unauthorized')),
    );
  });

  let previous = new Map<string, { roomId: string; peer: PeerSnapshot }>();
  let previousJson = '';
  const index = (rooms: RoomSnapshot[]) =>
    new Map(
      rooms.flatMap((room) => room.peers.map((peer) => [peer.id, { roomId: room.id, peer }])),
    );

  const poll = () => {
    if (ns.sockets.size === 0) return;
    const rooms = service.rooms();
    const current = index(rooms);
    for (const [id, entry] of current) {
      if (!previous.has(id)) ns.emit('peerJoined', entry);
    }
    for (const [id, entry] of previous) {
      if (!current.has(id)) {
        ns.emit('peerLeft', { roomId: entry.roomId, peerId: id, nickname: entry.peer.nickname });
      }
    }
    previous = current;
    const json = JSON.stringify(rooms);
    if (json !== previousJson) {
      previousJson = json;
      ns.emit('rooms', rooms);
    }
  };
  const pollTimer = setInterval(poll, options.pollMs ?? 1000);
  pollTimer.unref();

  const onSample = (sample: Parameters<AdminServerToClientEvents['stats']>[0]) => {
    if (ns.sockets.size === 0) return;
    ns.emit('stats', sample);
    void service.refreshLoss();
  };
  const onLine = (line: string) => {
    if (ns.sockets.size > 0) ns.emit('log', line);
  };
  const onBans = (bans: readonly string[]) => ns.emit('bans', [...bans]);
  service.stats.on('sample', onSample);
  service.logTail.on('line', onLine);
  service.bans.on('change', onBans);

  ns.on('connection', (socket) => {
    const actor = { via: 'console' as const, ip: socket.data.ip };
    logger.info('admin console connected', { ip: actor.ip });
    const rooms = service.rooms();
    if (ns.sockets.size === 1) {
      previous = index(rooms);
      previousJson = JSON.stringify(rooms);
    }
    socket.emit('hello', {
      rooms,
      bans: service.bans.list(),
      stats: service.stats.history(),
      logs: service.logTail.lines(),
      startedAt: service.stats.startedAt,
    });
    socket.on('kick', (request, ack) => {
      if (typeof ack !== 'function') return;
      const peerId = asString(request?.peerId);
      if (!peerId) return ack({ ok: false, error: 'peerId required' });
      ack({ ok: true, data: { kicked: service.kick(peerId, actor) } });
    });
    socket.on('ban', (request, ack) => {
      if (typeof ack !== 'function') return;
      const ip = asString(request?.ip);
      if (!ip) return ack({ ok: false, error: 'ip required' });
      try {
        ack({ ok: true, data: service.ban(ip, actor) });
      } catch (error) {
        if (!(error instanceof BanSyntaxError)) {
          logger.error('ban failed', { error: (error as Error).message });
        }
        ack(fail(error));
      }
    });
    socket.on('unban', (request, ack) => {
      if (typeof ack !== 'function') return;
      const ip = asString(request?.ip);
      if (!ip) return ack({ ok: false, error: 'ip required' });
      try {
        ack({ ok: true, data: { removed: service.unban(ip, actor) } });
      } catch (error) {
        if (!(error instanceof BanSyntaxError)) {
          logger.error('unban failed', { error: (error as Error).message });
        }
        ack(fail(error));
      }
    });
  });

  return () => {
    clearInterval(pollTimer);
    service.stats.off('sample', onSample);
    service.logTail.off('line', onLine);
    service.bans.off('change', onBans);
  };
}
