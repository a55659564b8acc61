import type { Namespace } from 'socket.io';
import type { z } from 'zod';
import type { ClusterNode } from '../cluster/ClusterNode.ts';
import { type NodeRecord, nodeIdSchema } from '../cluster/clusterRecords.ts';
import type { RedisClients } from '../cluster/redisClients.ts';
import type { Logger } from '../logging/createLogger.ts';
import type { LogTail } from '../logging/LogTail.ts';
import { UnavailableError } from '../media/errors.ts';
import type { Peer } from '../media/Peer.ts';
import type { RoomRegistry } from '../media/RoomRegistry.ts';
import type { WorkerPool } from '../media/WorkerPool.ts';
import type {
  AdminClientToServerEvents,
  AdminServerToClientEvents,
  ClusterStatus,
  NodeSnapshot,
  PeerSnapshot,
  PipeCounts,
  RoomSnapshot,
} from '../protocol/adminProtocol.ts';
import type { MainIoServer } from '../signaling/ioTypes.ts';
import type { ServerStats } from '../stats/ServerStats.ts';
import { AdminRequestError, ClusterUnreachableError } from './adminErrors.ts';
import {
  type actorSchema,
  adminEvents,
  bansAnswerSchema,
  bansRequestSchema,
  kickAnswerSchema,
  kickRequestSchema,
  snapshotAnswerSchema,
} from './adminMessages.ts';
import { type BanList, parseBan } from './BanList.ts';
import { mergeRoomParts, type RoomPart } from './roomView.ts';
import { SharedBans } from './SharedBans.ts';

/** `/admin`, typed by the admin protocol (server-side events are untyped: validated by zod). */
export type AdminNamespace = Namespace<
  AdminClientToServerEvents,
  AdminServerToClientEvents,
  Record<string, never>,
  { ip: string }
>;

/**
 * How long a node waits for the others' answers. Give the Redis adapter the same
 * `requestsTimeout`, so that a slow node costs only its own part of the view.
 */
export const CLUSTER_REQUEST_TIMEOUT_MS = 1500;
/** The adapter's own wait can be stuck behind Redis (its publisher queues): ours is not. */
const HARD_TIMEOUT_MS = CLUSTER_REQUEST_TIMEOUT_MS + 500;
const BAN_SYNC_MS = 10_000;
const LOSS_REFRESH_MS = 2000;

export type AdminServiceOptions = {
  io: MainIoServer;
  rooms: RoomRegistry;
  workers: WorkerPool;
  bans: BanList;
  stats: ServerStats;
  logTail: LogTail;
  logger: Logger;
  /** NODE_ID: what this node's rooms are tagged with. */
  nodeId: string;
  /** With REDIS_URL: the other nodes, and Redis for the shared ban list. */
  cluster?: ClusterNode | undefined;
  redis?: RedisClients | undefined;
  /** How often the ban list is reread from Redis, for a change this node missed (ms). */
  banSyncMs?: number;
};

/** Who asked for an admin action, for the log (`node`: the one they used, if another). */
export type Actor = z.infer<typeof actorSchema>;

/** The rooms of every node that answered (one per room id), and how complete that is. */
export type AdminView = {
  rooms: RoomSnapshot[];
  cluster: ClusterStatus;
  /** Nodes whose rooms are in `rooms` (this one always). */
  answered: ReadonlySet<string>;
};

type Answers = { answers: unknown[]; problem: string | null; unreachable: boolean };

const NO_PIPES: PipeCounts = { transports: 0, consumers: 0, producers: 0 };

const UNREACHABLE_VIEW =
  'the cluster is unreachable (Redis does not answer): only this node’s rooms are shown';

function nodeSnapshot(record: NodeRecord, pipes: PipeCounts | undefined): NodeSnapshot {
  const { load } = record;
  return {
    id: record.id,
    mediaAddress: record.mediaAddress,
    draining: record.draining,
    startedAt: record.startedAt,
    heartbeatAt: record.heartbeatAt,
    load: {
      rooms: load.rooms,
      peers: load.peers,
      maxRooms: load.maxRooms,
      maxPeers: load.maxPeers,
      consumers: load.consumers,
      workerCpuPercent: load.workerCpuPercent,
    },
    pipes: pipes ?? null,
  };
}

/**
 * What an operator can see and do, shared by the HTTP API and the admin console:
 * snapshots and stats, kick, ban (which disconnects matching sessions at once), unban,
 * drain. In a cluster every one of them covers every node: this node asks the others
 * over socket.io's Redis adapter (each answers for what it has locally), and the ban
 * list lives in Redis (see SharedBans). Asking never waits on Redis for long: without it
 * the view is this node's, said so; a change that needs it is refused.
 */
export class AdminService {
  readonly #o: AdminServiceOptions;
  readonly #ns: AdminNamespace;
  readonly #shared: SharedBans | undefined;
  readonly #lossByPeer = new Map<string, number>();
  readonly #cleanups: (() => void)[] = [];
  #lossRefreshedAt = 0;
  #syncing: Promise<void> | undefined;

  /** With Redis, reads the cluster's ban list first (rewriting banned_ips.json from it). */
  static async create(options: AdminServiceOptions): Promise<AdminService> {
    const shared = options.redis
      ? await SharedBans.open({
          list: options.bans,
          redis: options.redis.command,
          logger: options.logger,
        })
      : undefined;
    return new AdminService(options, shared);
  }

  private constructor(options: AdminServiceOptions, shared: SharedBans | undefined) {
    this.#o = options;
    this.#shared = shared;
    this.#ns = options.io.of('/admin') as unknown as AdminNamespace;
    if (options.cluster) this.#answerOtherNodes();
    if (shared && options.redis) {
      const timer = setInterval(() => void this.#syncBans(), options.banSyncMs ?? BAN_SYNC_MS);
      timer.unref();
      // Back from an outage: changes made meanwhile (or Redis's lost data) are seen now.
      const onReady = () => void this.#syncBans();
      options.redis.command.on('ready', onReady);
      this.#cleanups.push(
        () => clearInterval(timer),
        () => options.redis?.command.off('ready', onReady),
      );
    }
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

  get nodeId(): string {
    return this.#o.nodeId;
  }

  get clustered(): boolean {
    return this.#o.cluster !== undefined;
  }

  /**
   * This node's rooms, each with this node's own peers only: of a room spanning nodes,
   * this node's part (the members other nodes reported are theirs to tell).
   */
  rooms(): RoomSnapshot[] {
    return mergeRoomParts(this.#parts());
  }

  #parts(): RoomPart[] {
    return [...this.#o.rooms.values()]
      .filter((room) => !room.closed)
      .map((room) => ({
        id: room.id,
        node: this.#o.nodeId,
        createdAt: room.createdAt,
        capacity: room.capacity,
        encrypted: room.encrypted,
        peers: [...room.peers.values()].map((peer) => this.#peer(peer, room.speaking)),
      }));
  }

  /** This node's pipes to other nodes (all zero without a cluster). */
  async pipes(): Promise<PipeCounts> {
    return (await this.#o.cluster?.spans.counts()) ?? NO_PIPES;
  }

  #peer(peer: Peer, speaking: readonly string[]): Omit<PeerSnapshot, 'node'> {
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

  /**
   * Every node's rooms, as far as they answer within CLUSTER_REQUEST_TIMEOUT_MS: a room
   * spanning nodes is one room, with each node's own part of it (see mergeRoomParts).
   */
  async view(): Promise<AdminView> {
    const node = this.#o.nodeId;
    const parts = this.#parts();
    const answered = new Set([node]);
    const cluster = this.#o.cluster;
    if (!cluster) {
      return {
        rooms: mergeRoomParts(parts),
        answered,
        cluster: { node, clustered: false, nodes: [], problem: null },
      };
    }
    const [{ answers, problem, unreachable }, own] = await Promise.all([
      this.#ask(adminEvents.snapshot, []),
      this.pipes().catch(() => undefined),
    ]);
    const pipes = new Map<string, PipeCounts | undefined>([[node, own]]);
    for (const answer of this.#valid(answers, snapshotAnswerSchema, 'snapshot')) {
      if (answered.has(answer.node)) continue;
      answered.add(answer.node);
      pipes.set(answer.node, answer.pipes);
      // A node speaks for its own rooms (its parts of them) and its own peers only.
      parts.push(...answer.rooms.filter((room) => room.node === answer.node));
    }
    const nodes = cluster.nodes
      .map((record) => nodeSnapshot(record, pipes.get(record.id)))
      .sort((a, b) => a.id.localeCompare(b.id));
    const missing = nodes.map((n) => n.id).filter((id) => !answered.has(id));
    const status: ClusterStatus = {
      node,
      clustered: true,
      nodes,
      problem: unreachable
        ? UNREACHABLE_VIEW
        : missing.length > 0
          ? `no answer from ${missing.join(', ')}: ${missing.length === 1 ? 'its' : 'their'} rooms are not shown`
          : problem,
    };
    // In a stable order (answers arrive in any order): an unchanged view is not pushed again.
    return { rooms: mergeRoomParts(parts), answered, cluster: status };
  }

  /** Refreshes each talker's uplink loss from mediasoup's receive stats. */
  async refreshLoss(): Promise<void> {
    this.#lossRefreshedAt = Date.now();
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

  /**
   * The `action=stats` document: every node's rooms (one per room id; `peers` counts
   * everyone, `nodes` how many are on each node, `node` the one with most), the counts
   * over them, the nodes; `worker`, `process`, `consumers` and `pipes` are those of the
   * node that answered.
   */
  async statsJson(): Promise<Record<string, unknown>> {
    const view = await this.view();
    const node = this.#o.nodeId;
    // The view asked for them already, unless this node is not in its list of nodes.
    const pipes = view.cluster.nodes.find((n) => n.id === node)?.pipes ?? (await this.pipes());
    const rooms = view.rooms.map((room) => ({
      id: room.id,
      node: room.node,
      nodes: room.nodes,
      peers: room.peers.length,
      capacity: room.capacity,
      encrypted: room.encrypted,
      createdAt: new Date(room.createdAt).toISOString(),
    }));
    const latest = this.#o.stats.latest();
    const memory = process.memoryUsage();
    const { workers } = this.#o;
    return {
      node,
      uptimeSeconds: Math.round((Date.now() - this.#o.stats.startedAt) / 1000),
      roomCount: rooms.length,
      peerCount: rooms.reduce((n, room) => n + room.peers, 0),
      rooms,
      consumers: workers.workers.reduce((n, w) => n + w.consumerCount, 0),
      pipes,
      cluster: {
        clustered: this.clustered,
        problem: view.cluster.problem,
        nodes: view.cluster.nodes.map((n) => ({
          ...n,
          startedAt: new Date(n.startedAt).toISOString(),
          heartbeatAt: new Date(n.heartbeatAt).toISOString(),
        })),
      },
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

  /**
   * Disconnects the peer's socket (which makes it leave its room), on whichever node it
   * is connected to. ClusterUnreachableError: not here, and the others could not be asked.
   */
  async kick(peerId: string, actor: Actor): Promise<boolean> {
    if (this.#kickHere(peerId, actor)) return true;
    if (!this.clustered) return false;
    const { answers, problem, unreachable } = await this.#ask(adminEvents.kick, [
      { peerId, actor: { ...actor, node: this.#o.nodeId } },
    ]);
    const kicked = this.#valid(answers, kickAnswerSchema, 'kick').some((a) => a.kicked);
    if (!kicked && unreachable) {
      throw new ClusterUnreachableError(
        'that peer is not connected to this node, and the cluster is unreachable; try again',
      );
    }
    if (!kicked && problem) {
      throw new ClusterUnreachableError(`that peer was not found, but ${problem}; try again`);
    }
    return kicked;
  }

  /**
   * Bans an address or range and disconnects every live session inside it, on every
   * node: signaling and admin console alike (a banned address keeps no console open
   * either). In a cluster the ban goes to Redis first: ClusterUnreachableError if it
   * cannot, and nothing changed.
   */
  async ban(input: string, actor: Actor): Promise<{ ban: string; disconnected: number }> {
    let ban: string;
    let disconnected: number;
    if (this.#shared) {
      ban = await this.#shared.add(input);
      disconnected = this.#disconnectBanned();
      disconnected += await this.#tellBans('ban', ban, actor);
    } else {
      ban = this.#o.bans.add(input);
      disconnected = this.#disconnectBanned();
    }
    this.#o.logger.info('admin banned address', { ban, disconnected, admin: actor });
    return { ban, disconnected };
  }

  async unban(input: string, actor: Actor): Promise<boolean> {
    let removed: boolean;
    if (this.#shared) {
      removed = await this.#shared.remove(input);
      await this.#tellBans('unban', parseBan(input).text, actor);
    } else {
      removed = this.#o.bans.remove(input);
    }
    this.#o.logger.info('admin unbanned address', { ban: input, removed, admin: actor });
    return removed;
  }

  /** Asks a node (this one included) to hand its rooms over and exit. */
  async drain(nodeId: string, actor: Actor): Promise<{ node: string }> {
    const cluster = this.#o.cluster;
    if (!cluster) {
      throw new AdminRequestError(
        'this server is not part of a cluster (no REDIS_URL): there is no other node to hand its rooms to',
        409,
      );
    }
    if (!nodeIdSchema.safeParse(nodeId).success) {
      throw new AdminRequestError(
        'not a node id (1-64 letters, digits, dots, dashes, underscores)',
      );
    }
    let known: boolean;
    try {
      known = await cluster.requestDrain(nodeId);
    } catch (error) {
      if (error instanceof UnavailableError) throw new ClusterUnreachableError();
      throw error;
    }
    if (!known) {
      const live = cluster.nodes.map((n) => n.id).sort();
      throw new AdminRequestError(
        `unknown node "${nodeId}": the live nodes are ${live.join(', ') || 'not known yet'}`,
        404,
      );
    }
    this.#o.logger.info('admin asked a node to drain', { node: nodeId, admin: actor });
    return { node: nodeId };
  }

  close(): void {
    for (const cleanup of this.#cleanups) cleanup();
  }

  #kickHere(peerId: string, actor: Actor): boolean {
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

  /** Disconnects this node's sockets (signaling and console) that the ban list covers. */
  #disconnectBanned(): number {
    let disconnected = 0;
    const banned = (socket: { data: { ip?: string }; handshake: { address: string } }) =>
      this.#o.bans.isBanned(socket.data.ip ?? socket.handshake.address);
    for (const socket of this.#o.io.of('/').sockets.values()) {
      if (!banned(socket)) continue;
      socket.emit('kicked', { reason: 'banned' });
      socket.disconnect(true);
      disconnected += 1;
    }
    for (const socket of this.#ns.sockets.values()) {
      if (!banned(socket)) continue;
      socket.disconnect(true);
      disconnected += 1;
    }
    return disconnected;
  }

  /**
   * Tells the other nodes the list changed; returns how many sockets they disconnected.
   * A node that does not hear it catches up at its next sync (BAN_SYNC_MS).
   */
  async #tellBans(op: 'ban' | 'unban', ban: string, actor: Actor): Promise<number> {
    const { answers, problem } = await this.#ask(adminEvents.bans, [
      { op, ban, actor: { ...actor, node: this.#o.nodeId } },
    ]);
    if (problem) {
      this.#o.logger.warn('ban list change not confirmed by every node; they reread it soon', {
        op,
        ban,
        problem,
      });
    }
    return this.#valid(answers, bansAnswerSchema, 'bans').reduce((n, a) => n + a.disconnected, 0);
  }

  /** Rereads the shared list; whoever a new ban covers is disconnected. */
  #syncBans(): Promise<void> {
    this.#syncing ??= (async () => {
      try {
        if (await this.#shared?.sync()) {
          const disconnected = this.#disconnectBanned();
          if (disconnected > 0) {
            this.#o.logger.info('banned sessions disconnected after a ban list sync', {
              disconnected,
            });
          }
        }
      } catch (error) {
        this.#o.logger.debug('ban list sync failed', { error: (error as Error).message });
      } finally {
        this.#syncing = undefined;
      }
    })();
    return this.#syncing;
  }

  /** What this node answers when another one asks. */
  #answerOtherNodes(): void {
    const ns = this.#ns as unknown as {
      on(event: string, listener: (...args: unknown[]) => void): void;
      off(event: string, listener: (...args: unknown[]) => void): void;
    };
    const node = this.#o.nodeId;
    const handlers: Record<string, (...args: unknown[]) => void> = {
      [adminEvents.snapshot]: (ack) => {
        if (typeof ack !== 'function') return;
        const rooms = this.#parts();
        this.pipes().then(
          (pipes) => ack({ node, rooms, pipes }),
          () => ack({ node, rooms }),
        );
        // Nobody may watch this node's own console: keep loss figures fresh for the others.
        if (Date.now() - this.#lossRefreshedAt > LOSS_REFRESH_MS) void this.refreshLoss();
      },
      [adminEvents.kick]: (request, ack) => {
        const parsed = kickRequestSchema.safeParse(request);
        if (typeof ack !== 'function' || !parsed.success) return;
        ack({ node, kicked: this.#kickHere(parsed.data.peerId, parsed.data.actor) });
      },
      [adminEvents.bans]: (request, ack) => {
        const parsed = bansRequestSchema.safeParse(request);
        if (typeof ack !== 'function' || !parsed.success) return;
        void this.#applyBanChange(parsed.data).then((disconnected) => ack({ node, disconnected }));
      },
    };
    for (const [event, handler] of Object.entries(handlers)) ns.on(event, handler);
    this.#cleanups.push(() => {
      for (const [event, handler] of Object.entries(handlers)) ns.off(event, handler);
    });
  }

  /** Another node changed the list: reread it (or, failing that, apply the change). */
  async #applyBanChange(change: z.infer<typeof bansRequestSchema>): Promise<number> {
    try {
      await this.#shared?.sync();
    } catch {
      // Redis just carried the message, so this is rare: apply it here; the next sync settles it.
      try {
        if (change.op === 'ban') this.#o.bans.add(change.ban);
        else this.#o.bans.remove(change.ban);
      } catch (error) {
        this.#o.logger.warn('ban list change from another node refused', {
          ...change,
          error: (error as Error).message,
        });
      }
    }
    return this.#disconnectBanned();
  }

  /**
   * One request to every other node; resolves with the answers that came in time, and
   * never later than HARD_TIMEOUT_MS (the adapter's publisher queues while Redis is away).
   */
  #ask(event: string, args: unknown[]): Promise<Answers> {
    const redis = this.#o.redis;
    if (!redis || !this.clustered)
      return Promise.resolve({ answers: [], problem: null, unreachable: false });
    if (redis.adapterPublisher.status !== 'ready' || redis.adapterSubscriber.status !== 'ready') {
      return Promise.resolve({ answers: [], problem: UNREACHABLE_VIEW, unreachable: true });
    }
    return new Promise((resolve) => {
      let done = false;
      const finish = (result: Answers) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(
        () =>
          finish({
            answers: [],
            problem: `no answer from the cluster within ${HARD_TIMEOUT_MS} ms`,
            unreachable: true,
          }),
        HARD_TIMEOUT_MS,
      );
      const emit = this.#ns.serverSideEmit as unknown as (
        this: AdminNamespace,
        event: string,
        ...rest: unknown[]
      ) => boolean;
      try {
        emit.call(this.#ns, event, ...args, (error: Error | null, answers: unknown[]) =>
          finish({
            answers: Array.isArray(answers) ? answers : [],
            problem: error
              ? `some nodes did not answer within ${CLUSTER_REQUEST_TIMEOUT_MS} ms`
              : null,
            unreachable: false,
          }),
        );
      } catch (error) {
        finish({ answers: [], problem: (error as Error).message, unreachable: true });
      }
    });
  }

  #valid<T>(answers: unknown[], schema: z.ZodType<T>, what: string): T[] {
    return answers.flatMap((answer) => {
      const parsed = schema.safeParse(answer);
      if (parsed.success) return [parsed.data];
      this.#o.logger.warn('admin answer from another node refused', {
        what,
        issue: parsed.error.issues[0]?.message,
      });
      return [];
    });
  }
}
