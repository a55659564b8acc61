import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../logging/createLogger.ts';
import { UnavailableError } from '../media/errors.ts';
import type { RoomRegistry } from '../media/RoomRegistry.ts';
import type { JoinRoute, NodeLoad, NodeRecord } from './clusterRecords.ts';
import { NodeRegistry } from './NodeRegistry.ts';
import type { PipeSettings } from './PipeLink.ts';
import { RelayChannel } from './RelayChannel.ts';
import { type RelayedLink, type RelayedSession, RelayHost } from './RelayHost.ts';
import { RemoteSession } from './RemoteSession.ts';
import { type Claim, RoomClaims } from './RoomClaims.ts';
import { RoomSpans } from './RoomSpans.ts';
import type { RedisClients } from './redisClients.ts';

export type ClusterNodeOptions = {
  redis: RedisClients;
  nodeId: string;
  leaseMs: number;
  /** Where this node's media is reached (RTC_ANNOUNCED_ADDRESS), for the operator's view. */
  mediaAddress: string;
  rooms: RoomRegistry;
  load: () => NodeLoad;
  /** Where this node's ends of pipes to other nodes listen (rooms spanning nodes). */
  pipe: PipeSettings;
  /** Consumers on this node past which a room's new people go to another node. */
  nodeConsumerBudget: number;
  logger: Logger;
};

export type ClusterNodeEvents = {
  /** An operator asked (from any node) that this node be drained. */
  drainRequested: [];
};

/** NODE_ID is held by another live process. */
export class NodeIdInUseError extends Error {
  override name = 'NodeIdInUseError';
}

type Owned = { raw: string; orphanTicks: number };

const unreachable = () => new UnavailableError('the cluster is unreachable; try again in a moment');

/**
 * This node's part in a cluster: its record and heartbeat, the rooms it has claimed,
 * and the relay that lets any node answer any client. Every decision that needs
 * another node goes through Redis; a room that lives here needs none.
 */
export class ClusterNode extends EventEmitter<ClusterNodeEvents> {
  readonly nodeId: string;
  readonly #o: ClusterNodeOptions;
  readonly #registry: NodeRegistry;
  readonly #claims: RoomClaims;
  readonly #channel: RelayChannel;
  readonly #spans: RoomSpans;
  readonly #remotes = new Map<string, RemoteSession>();
  readonly #owned = new Map<string, Owned>();
  /** Rooms sent to each node since the last heartbeat: loads read from Redis lag. */
  readonly #picks = new Map<string, number>();
  #host: RelayHost | undefined;
  #nodes = new Map<string, NodeRecord>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #redisUp = true;
  /** Until then, a node missing from Redis may just not have re-registered yet. */
  #absenceTrustedFrom = 0;
  #closed = false;

  static async create(options: ClusterNodeOptions): Promise<ClusterNode> {
    const registry = new NodeRegistry({
      redis: options.redis.command,
      leaseMs: options.leaseMs,
      self: {
        v: 1,
        id: options.nodeId,
        instance: randomUUID(),
        mediaAddress: options.mediaAddress,
        startedAt: Date.now(),
      },
    });
    await ensureIdFree(registry, options);
    const channel = await RelayChannel.create({
      publisher: options.redis.command,
      subscriber: options.redis.subscriber,
      nodeId: options.nodeId,
      logger: options.logger,
    });
    const node = new ClusterNode(options, registry, channel);
    await node.#tick();
    node.#timer = setInterval(() => void node.#tick(), Math.floor(options.leaseMs / 3));
    node.#timer.unref();
    return node;
  }

  private constructor(options: ClusterNodeOptions, registry: NodeRegistry, channel: RelayChannel) {
    super();
    this.#o = options;
    this.nodeId = options.nodeId;
    this.#registry = registry;
    this.#claims = new RoomClaims(options.redis.command, options.leaseMs);
    this.#channel = channel;
    this.#spans = new RoomSpans({
      channel,
      redis: options.redis.command,
      nodeId: options.nodeId,
      leaseMs: options.leaseMs,
      rooms: options.rooms,
      pipe: options.pipe,
      nodeConsumerBudget: options.nodeConsumerBudget,
      consumers: () => options.load().consumers,
      logger: options.logger,
    });
    channel.on('toEdge', (message) => this.#remotes.get(message.sid)?.receive(message));
    channel.on('toOwner', (message) => {
      if (message.t === 'drain') this.emit('drainRequested');
      else this.#host?.receive(message);
    });
    options.rooms.on('roomClosed', (room) => {
      const owned = this.#owned.get(room.id);
      if (!owned || options.rooms.exists(room.id)) return;
      this.#owned.delete(room.id);
      this.#claims.release(room.id, owned.raw).catch(() => {});
    });
    const subscriber = options.redis.subscriber;
    subscriber.on('close', () => this.#redisState(false));
    subscriber.on('ready', () => this.#redisState(true));
  }

  get closed(): boolean {
    return this.#closed;
  }

  get draining(): boolean {
    return this.#registry.draining;
  }

  /** Why the cluster cannot be used right now, if it cannot (for /healthz). */
  get problem(): string | undefined {
    return this.#redisUp ? undefined : 'redis unreachable: new rooms and relayed requests wait';
  }

  /** The nodes alive at the last heartbeat (this one included). */
  get nodes(): readonly NodeRecord[] {
    return [...this.#nodes.values()];
  }

  /** Rooms spanning nodes: who goes where, and the pipes between the nodes. */
  get spans(): RoomSpans {
    return this.#spans;
  }

  /** Alive at the last heartbeat. */
  isAlive(nodeId: string): boolean {
    return nodeId === this.nodeId || this.#nodes.has(nodeId);
  }

  /** Relayed sessions open here, for clients connected through other nodes. */
  get hostedSessions(): number {
    return this.#host?.size ?? 0;
  }

  /** How this node runs the sessions of clients connected through other nodes. */
  hostSessions(createSession: (link: RelayedLink) => RelayedSession): void {
    this.#host = new RelayHost({
      channel: this.#channel,
      createSession,
      logger: this.#o.logger,
    });
  }

  /**
   * The node that has (or is given) the room. `mayRelay` is false for a join that came
   * over the relay: that one is never sent on again, and fails if the room moved.
   */
  async route(roomId: string, mayRelay: boolean): Promise<string> {
    // Claimed by us and renewed since: no Redis needed (a loss shows at the next renewal).
    if (this.#owned.has(roomId) && !this.draining) return this.nodeId;
    if (this.draining && !mayRelay) {
      throw new UnavailableError('this server is handing its rooms over; try again');
    }
    let claim: Claim | undefined;
    let candidate: string;
    const dead = new Set<string>();
    let selfRewritten = false;
    // A room whose node let it go may still have people on others: one of those takes it.
    const holding = new Set(await this.#spans.members(roomId).catch(() => []));
    do {
      candidate = this.#pick(dead, holding);
      try {
        claim = await this.#claims.claim(roomId, candidate);
      } catch (error) {
        if (error instanceof UnavailableError) {
          this.#o.logger.warn('room claim refused', { room: roomId, error: error.message });
          throw error;
        }
        throw unreachable();
      }
      if (!claim) {
        if (candidate === this.nodeId && !selfRewritten) {
          // Our own record is missing (Redis came back empty): write it, try again.
          selfRewritten = true;
          await this.#tick();
          continue;
        }
        // Our list of nodes is a heartbeat old: that one has died since.
        dead.add(candidate);
      }
    } while (!claim);
    const owner = claim.record.node;
    if (owner === this.nodeId) {
      if (this.draining) {
        await this.#claims.release(roomId, claim.raw).catch(() => {});
        throw new UnavailableError('this server is handing its rooms over; try again');
      }
      const owned = this.#owned.get(roomId);
      if (owned) owned.raw = claim.raw;
      else this.#owned.set(roomId, { raw: claim.raw, orphanTicks: 0 });
      return owner;
    }
    if (!mayRelay) throw new UnavailableError('the room moved to another server; try again');
    if (owner === candidate) this.#picks.set(owner, (this.#picks.get(owner) ?? 0) + 1);
    return owner;
  }

  /**
   * A session with the room on `owner`, for one client connected here; `route` says why
   * the join goes there.
   */
  openRemote(owner: string, ip: string, route: JoinRoute = 'claim'): RemoteSession {
    const session = new RemoteSession({
      channel: this.#channel,
      from: this.nodeId,
      owner,
      ip,
      route,
      onFinished: (s) => this.#remotes.delete(s.id),
    });
    this.#remotes.set(session.id, session);
    return session;
  }

  /** Asks `nodeId` (this one included) to drain; false if no such node is alive. */
  async requestDrain(nodeId: string): Promise<boolean> {
    if (nodeId === this.nodeId) {
      this.emit('drainRequested');
      return true;
    }
    if (!this.#nodes.has(nodeId)) return false;
    await this.#channel.send(nodeId, { t: 'drain', from: this.nodeId }).catch(() => {
      throw unreachable();
    });
    return true;
  }

  /**
   * Takes no new rooms from now on and hands over the ones it has: their claims are
   * released, then each room is reset, so its people join afresh elsewhere.
   */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.#registry.draining = true;
    await this.#registry.heartbeat(this.#o.load()).catch(() => {});
    const owned = [...this.#owned];
    this.#owned.clear();
    await Promise.all(
      owned.map(([roomId, { raw }]) => this.#claims.release(roomId, raw).catch(() => {})),
    );
    // Parts of rooms spanning nodes go too: their people join afresh on the others.
    const rooms = [...this.#o.rooms.values()];
    for (const room of rooms) room.reset('the server is draining');
    this.#o.logger.info('node draining', { rooms: rooms.length });
  }

  /**
   * Least loaded node that takes rooms (one of `preferred` if any can): people first,
   * then rooms, then chance.
   */
  #pick(dead: ReadonlySet<string>, preferred: ReadonlySet<string>): string {
    type Candidate = Pick<NodeRecord, 'id' | 'draining' | 'load'>;
    const self: Candidate = { id: this.nodeId, draining: this.draining, load: this.#o.load() };
    const others: Candidate[] = [...this.#nodes.values()].filter((n) => n.id !== this.nodeId);
    const candidates = [self, ...others].filter(
      (node) =>
        !dead.has(node.id) &&
        !node.draining &&
        node.load.rooms < node.load.maxRooms &&
        node.load.peers < node.load.maxPeers,
    );
    if (candidates.length === 0) {
      throw new UnavailableError('every server is full or draining; try again later');
    }
    const holding = candidates.filter((node) => preferred.has(node.id));
    if (holding.length > 0) candidates.splice(0, candidates.length, ...holding);
    const score = (node: Candidate) =>
      node.load.peers + node.load.rooms + (this.#picks.get(node.id) ?? 0);
    const best = Math.min(...candidates.map(score));
    const tied = candidates.filter((node) => score(node) === best);
    return (tied[Math.floor(Math.random() * tied.length)] as Candidate).id;
  }

  #redisState(up: boolean): void {
    if (up === this.#redisUp || this.#closed) return;
    this.#redisUp = up;
    if (!up) {
      this.#o.logger.warn('redis connection lost: calls go on, joins that need the cluster wait');
      return;
    }
    this.#o.logger.info('redis connection restored');
    // A Redis that restarted empty lists no node until each heartbeats again: nobody is
    // presumed dead before a whole lease has passed.
    this.#absenceTrustedFrom = Date.now() + this.#o.leaseMs;
    void this.#tick();
    // Messages sent meanwhile are lost: relayed clients resume, which resends all state.
    // Not at once: if Redis came back empty, every owner first claims its rooms again
    // (at its own reconnect, within a heartbeat), or a resume could make a second room.
    const resync = setTimeout(
      () => {
        if (this.#closed) return;
        for (const remote of [...this.#remotes.values()]) remote.resync();
      },
      this.#o.leaseMs / 3 + 500,
    );
    resync.unref();
  }

  /** Heartbeat, claim renewal, and what vanished since the last one. */
  #tick(): Promise<void> {
    this.#ticking ??= this.#beat().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #beat(): Promise<void> {
    if (this.#closed) return;
    const { rooms, logger } = this.#o;
    try {
      await this.#registry.heartbeat(this.#o.load());
      this.#picks.clear();
      const claims = new Map<string, string>();
      for (const [roomId, owned] of this.#owned) {
        if (rooms.exists(roomId)) {
          owned.orphanTicks = 0;
          claims.set(roomId, owned.raw);
        } else if (++owned.orphanTicks > 1) {
          // Claimed for a join that never made the room.
          this.#owned.delete(roomId);
          await this.#claims.release(roomId, owned.raw);
        } else {
          claims.set(roomId, owned.raw);
        }
      }
      for (const roomId of await this.#claims.renew(claims)) {
        this.#owned.delete(roomId);
        logger.warn('room claimed by another node meanwhile; its people join it there', {
          room: roomId,
        });
        rooms.get(roomId)?.reset('the room moved to another server');
      }
      const nodes = await this.#registry.list();
      this.#nodes = new Map(nodes.map((node) => [node.id, node]));
    } catch (error) {
      // A beat still in flight at close must not write to a logger already closed.
      if (!this.#closed)
        logger.debug('cluster heartbeat failed', { error: (error as Error).message });
      return;
    }
    const trusted = Date.now() >= this.#absenceTrustedFrom;
    await this.#spans.beat(this.nodes, trusted).catch((error: Error) => {
      if (!this.#closed) logger.debug('span renewal failed', { error: error.message });
    });
    if (!trusted) return;
    const alive = new Set(this.#nodes.keys());
    for (const remote of [...this.#remotes.values()]) {
      if (!alive.has(remote.owner)) remote.ownerLost();
    }
    this.#host?.edgesLost(alive);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#host?.close();
    this.#spans.close();
    // Its clients reconnect through another node and take their places back.
    for (const remote of [...this.#remotes.values()]) remote.close('transport close');
    this.#channel.close();
    const redis = this.#o.redis;
    // Leave at once rather than after the lease; then let go of Redis.
    void this.#registry
      .remove()
      .catch(() => {})
      .finally(() => redis.close());
  }
}

/**
 * A record under our id that keeps being refreshed belongs to another live process (a
 * copy-pasted NODE_ID); one that stops is a previous run of this node, and is ours.
 */
async function ensureIdFree(registry: NodeRegistry, options: ClusterNodeOptions): Promise<void> {
  const first = await registry.current();
  if (!first) return;
  const deadline = Date.now() + options.leaseMs;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(500, options.leaseMs / 4)));
    const now = await registry.current();
    if (!now) return;
    if (now.heartbeatAt !== first.heartbeatAt && now.instance === first.instance) {
      throw new NodeIdInUseError(
        `-node-id / NODE_ID: "${options.nodeId}" is used by another running node (media at ${now.mediaAddress}); give each node its own`,
      );
    }
  }
}
