import type { Logger } from '../logging/createLogger.ts';
import type { LogTail } from '../logging/LogTail.ts';
import type { Peer } from '../media/Peer.ts';
import type { RoomRegistry } from '../media/RoomRegistry.ts';
import type { WorkerPool } from '../media/WorkerPool.ts';
import type { PeerSnapshot, RoomSnapshot } from '../protocol/adminProtocol.ts';
import type { MainIoServer } from '../signaling/ioTypes.ts';
import type { ServerStats } from '../stats/ServerStats.ts';
import type { BanList } from './BanList.ts';

export type AdminServiceOptions = {
  io: MainIoServer;
  rooms: RoomRegistry;
  workers: WorkerPool;
  bans: BanList;
  stats: ServerStats;
  logTail: LogTail;
  logger: Logger;
};

/** Who asked for an admin action, for the log. */
export type Actor = { via: 'http' | 'console'; ip: string };

/**
 * What an operator can see and do, shared by the HTTP API and the admin console:
 * snapshots and stats, kick, ban (which disconnects matching sessions at once), unban.
 */
export class AdminService {
  readonly #o: AdminServiceOptions;
  readonly #lossByPeer = new Map<string, number>();

  constructor(options: AdminServiceOptions) {
    this.#o = options;
  }

  get bans(): BanList {
    return this.#o.bans;
  }

  get stats(): ServerStats {
    return this.#o.stats;
  }

  get logTail(): LogTail {
    return this.#o.logTail;
  }

  rooms(): RoomSnapshot[] {
    return [...this.#o.rooms.values()]
      .filter((room) => !room.closed)
      .map((room) => ({
        id: room.id,
        createdAt: room.createdAt,
        capacity: room.capacity,
        peers: [...room.peers.values()].map((peer) => this.#peer(peer, room.speaking)),
      }));
  }

  #peer(peer: Peer, speaking: readonly string[]): PeerSnapshot {
    const send = peer.sendTransport;
    const tuple = send.iceSelectedTuple ?? peer.recvTransport.iceSelectedTuple;
    return {
      id: peer.id,
      nickname: peer.nickname,
      ip: peer.ip,
      joinedAt: peer.joinedAt,
      muted: peer.muted,
      speaking: speaking.includes(peer.id),
      producing: Boolean(peer.producer && !peer.producer.closed),
      connection: {
        iceState: send.closed ? 'closed' : send.iceState,
        dtlsState: send.closed ? 'closed' : send.dtlsState,
        protocol: tuple?.protocol ?? null,
        remote: tuple?.remoteIp ? `${tuple.remoteIp}:${tuple.remotePort}` : null,
      },
      lossPercent: this.#lossByPeer.get(peer.id) ?? null,
    };
  }

  /** Refreshes each talker's uplink loss from mediasoup's receive stats. */
  async refreshLoss(): Promise<void> {
    const seen = new Set<string>();
    const jobs: Promise<void>[] = [];
    for (const room of this.#o.rooms.values()) {
      for (const peer of room.peers.values()) {
        seen.add(peer.id);
        const producer = peer.producer;
        if (!producer || producer.closed) continue;
        jobs.push(
          producer.getStats().then(
            (stats) => {
              const fraction = stats[0]?.fractionLost;
              if (fraction !== undefined) {
                this.#lossByPeer.set(peer.id, Math.round((fraction / 256) * 1000) / 10);
              }
            },
            () => {},
          ),
        );
      }
    }
    await Promise.all(jobs);
    for (const id of this.#lossByPeer.keys()) if (!seen.has(id)) this.#lossByPeer.delete(id);
  }

  /** The `action=stats` document. */
  statsJson(): Record<string, unknown> {
    const rooms = [...this.#o.rooms.values()].map((room) => ({
      id: room.id,
      peers: room.peers.size,
      capacity: room.capacity,
      createdAt: new Date(room.createdAt).toISOString(),
    }));
    const latest = this.#o.stats.latest();
    const memory = process.memoryUsage();
    const { workers } = this.#o;
    return {
      uptimeSeconds: Math.round((Date.now() - this.#o.stats.startedAt) / 1000),
      roomCount: rooms.length,
      peerCount: this.#o.rooms.peerCount,
      rooms,
      bans: this.#o.bans.size,
      worker: {
        count: workers.workers.length,
        pids: workers.workers.map((w) => w.pid),
        consumers: workers.workers.map((w) => w.consumerCount),
        alive: workers.healthy,
        cpuPercent: latest?.workerCpuPercent ?? null,
        maxRssBytes: latest?.workerMaxRssBytes ?? null,
      },
      process: {
        pid: process.pid,
        node: process.version,
        cpuPercent: latest?.processCpuPercent ?? null,
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        heapTotalBytes: memory.heapTotal,
        externalBytes: memory.external,
      },
    };
  }

  /** Disconnects the peer's socket (which makes it leave its room). */
  kick(peerId: string, actor: Actor): boolean {
    for (const socket of this.#o.io.of('/').sockets.values()) {
      if (socket.data.peerId !== peerId) continue;
      this.#o.logger.info('admin kicked peer', {
        peer: peerId,
        room: socket.data.roomId,
        ip: socket.data.ip,
        admin: actor,
      });
      socket.emit('kicked', { reason: 'removed by an operator' });
      socket.disconnect(true);
      return true;
    }
    return false;
  }

  /**
   * Bans an address or range and disconnects every live session inside it: signaling
   * and admin console alike (a banned address keeps no console open either).
   */
  ban(input: string, actor: Actor): { ban: string; disconnected: number } {
    const ban = this.#o.bans.add(input);
    let disconnected = 0;
    const banned = (socket: { data: { ip?: string }; handshake: { address: string } }) =>
      this.#o.bans.isBanned(socket.data.ip ?? socket.handshake.address);
    for (const socket of this.#o.io.of('/').sockets.values()) {
      if (!banned(socket)) continue;
      socket.emit('kicked', { reason: 'banned' });
      socket.disconnect(true);
      disconnected += 1;
    }
    for (const socket of this.#o.io.of('/admin').sockets.values()) {
      if (!banned(socket)) continue;
      socket.disconnect(true);
      disconnected += 1;
    }
    this.#o.logger.info('admin banned address', { ban, disconnected, admin: actor });
    return { ban, disconnected };
  }

  unban(input: string, actor: Actor): boolean {
    const removed = this.#o.bans.remove(input);
    this.#o.logger.info('admin unbanned address', { ban: input, removed, admin: actor });
    return removed;
  }
}
