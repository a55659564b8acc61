import type { Logger } from '../logging/createLogger.ts';
import type { AdminAck, AdminServerToClientEvents } from '../protocol/adminProtocol.ts';
import type { MainIoServer } from '../signaling/ioTypes.ts';
import type { AdminAuth } from './AdminAuth.ts';
import type { AdminNamespace, AdminService, AdminView } from './AdminService.ts';
import { sessionFromCookie } from './AdminSessions.ts';
import { AdminRequestError, ClusterUnreachableError } from './adminErrors.ts';
import { BanSyntaxError } from './BanList.ts';

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

function asString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= 256 ? value : undefined;
}

type Seen = { roomId: string; node: string; peer: AdminView['rooms'][number]['peers'][number] };

/**
 * `/admin`: the live console. Authenticated in the handshake, by the session cookie the
 * admin page was served with or (scripts) by `auth.key`; pushes the room list (every
 * node's, a room spanning nodes as one), join/leave events, the nodes, and this node's stats every 2 s and new log
 * lines. In a cluster each node pushes to its own consoles only (`ns.local`): the
 * adapter would otherwise hand every node's push to every console.
 */
export function setUpAdminNamespace(options: AdminNamespaceOptions): () => void {
  const { service, auth, logger } = options;
  const ns = options.io.of('/admin') as unknown as AdminNamespace;

  const fail = (what: string, error: unknown): AdminAck<never> => {
    if (
      error instanceof BanSyntaxError ||
      error instanceof AdminRequestError ||
      error instanceof ClusterUnreachableError
    ) {
      return { ok: false, error: error.message };
    }
    logger.error(`${what} failed`, { error: (error as Error).message });
    return { ok: false, error: 'internal error' };
  };

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

  let previous = new Map<string, Seen>();
  let previousRooms = '';
  let previousCluster = '';
  // By the node each person is on: in a room spanning nodes, not every one is the room's.
  const index = (view: AdminView) =>
    new Map<string, Seen>(
      view.rooms.flatMap((room) =>
        room.peers.map((peer) => [peer.id, { roomId: room.id, node: peer.node, peer }]),
      ),
    );
  const remember = (view: AdminView) => {
    previous = index(view);
    previousRooms = JSON.stringify(view.rooms);
    previousCluster = JSON.stringify(view.cluster);
  };

  const push = (view: AdminView) => {
    const current = index(view);
    // A node that is alive but did not answer has not lost its people: keep them as seen.
    const alive = new Set(view.cluster.nodes.map((n) => n.id));
    for (const [id, entry] of previous) {
      if (!view.answered.has(entry.node) && alive.has(entry.node) && !current.has(id)) {
        current.set(id, entry);
      }
    }
    for (const [id, entry] of current) {
      if (!previous.has(id))
        ns.local.emit('peerJoined', { roomId: entry.roomId, peer: entry.peer });
    }
    for (const [id, entry] of previous) {
      if (!current.has(id)) {
        ns.local.emit('peerLeft', {
          roomId: entry.roomId,
          peerId: id,
          nickname: entry.peer.nickname,
        });
      }
    }
    previous = current;
    const rooms = JSON.stringify(view.rooms);
    if (rooms !== previousRooms) {
      previousRooms = rooms;
      ns.local.emit('rooms', view.rooms);
    }
    const cluster = JSON.stringify(view.cluster);
    if (cluster !== previousCluster) {
      previousCluster = cluster;
      ns.local.emit('cluster', view.cluster);
    }
  };

  // One view at a time: in a cluster each takes a round trip through Redis.
  let polling = false;
  const poll = () => {
    if (polling || ns.sockets.size === 0) return;
    polling = true;
    service
      .view()
      .then((view) => {
        if (ns.sockets.size > 0) push(view);
      })
      .catch((error: Error) => logger.error('admin view failed', { error: error.message }))
      .finally(() => {
        polling = false;
      });
  };
  const pollTimer = setInterval(poll, options.pollMs ?? 1000);
  pollTimer.unref();

  const onSample = (sample: Parameters<AdminServerToClientEvents['stats']>[0]) => {
    if (ns.sockets.size === 0) return;
    ns.local.emit('stats', sample);
    void service.refreshLoss();
  };
  const onLine = (line: string) => {
    if (ns.sockets.size > 0) ns.local.emit('log', line);
  };
  // Every node sees the change (from Redis) and tells its own consoles.
  const onBans = (bans: readonly string[]) => ns.local.emit('bans', [...bans]);
  service.stats.on('sample', onSample);
  service.logTail.on('line', onLine);
  service.bans.on('change', onBans);

  ns.on('connection', (socket) => {
    const actor = { via: 'console' as const, ip: socket.data.ip };
    logger.info('admin console connected', { ip: actor.ip });
    void service.view().then(
      (view) => {
        if (!socket.connected) return;
        if (ns.sockets.size === 1) remember(view);
        socket.emit('hello', {
          rooms: view.rooms,
          cluster: view.cluster,
          bans: service.bans.list(),
          stats: service.stats.history(),
          logs: service.logTail.lines(),
          startedAt: service.stats.startedAt,
        });
      },
      (error: Error) => logger.error('admin view failed', { error: error.message }),
    );
    socket.on('kick', (request, ack) => {
      if (typeof ack !== 'function') return;
      const peerId = asString(request?.peerId);
      if (!peerId) return ack({ ok: false, error: 'peerId required' });
      service.kick(peerId, actor).then(
        (kicked) => ack({ ok: true, data: { kicked } }),
        (error) => ack(fail('kick', error)),
      );
    });
    socket.on('ban', (request, ack) => {
      if (typeof ack !== 'function') return;
      const ip = asString(request?.ip);
      if (!ip) return ack({ ok: false, error: 'ip required' });
      service.ban(ip, actor).then(
        (data) => ack({ ok: true, data }),
        (error) => ack(fail('ban', error)),
      );
    });
    socket.on('unban', (request, ack) => {
      if (typeof ack !== 'function') return;
      const ip = asString(request?.ip);
      if (!ip) return ack({ ok: false, error: 'ip required' });
      service.unban(ip, actor).then(
        (removed) => ack({ ok: true, data: { removed } }),
        (error) => ack(fail('unban', error)),
      );
    });
    socket.on('drain', (request, ack) => {
      if (typeof ack !== 'function') return;
      const node = asString(request?.node);
      if (!node) return ack({ ok: false, error: 'node required' });
      service.drain(node, actor).then(
        (data) => ack({ ok: true, data }),
        (error) => ack(fail('drain', error)),
      );
    });
  });

  return () => {
    clearInterval(pollTimer);
    service.stats.off('sample', onSample);
    service.logTail.off('line', onLine);
    service.bans.off('change', onBans);
  };
}
