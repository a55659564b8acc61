import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import type { Logger } from '../logging/createLogger.ts';
import { logMediaConnections } from './connectionLog.ts';
import {
  ConflictError,
  EncryptionMismatchError,
  InvalidInputError,
  NotFoundError,
  NotInRoomError,
  RoomFullError,
  UnavailableError,
} from './errors.ts';
import { Peer } from './Peer.ts';
import { ProducerBudget } from './ProducerBudget.ts';
import type { ProducerBudgetLimits } from './ProducerBudgetTypes.ts';
import { type Placement, RoomPlacement } from './RoomPlacement.ts';
import type {
  Joined,
  JoinOptions,
  LeaveReason,
  Member,
  RemoteMember,
  Resumed,
  RoomEvents,
  RoomOptions,
} from './RoomTypes.ts';
import { SpeakingDetector } from './SpeakingDetector.ts';

type Timing = Pick<
  RoomOptions,
  'reconnectGraceMs' | 'joinTimeoutMs' | 'relayAddresses' | 'resumeTokenPrefix'
>;

/**
 * A voice room: who is in it, the seats being taken, and the two deadlines each peer
 * has (its media must connect within the join timeout; a dropped connection must come
 * back within the grace period). Where its media lives is RoomPlacement's job; who is
 * speaking, SpeakingDetector's. It knows nothing of sockets: it emits what happened.
 *
 * In a room spanning nodes this is one node's part of it: its own peers, plus the
 * members the other nodes report, whose producers the cluster layer pipes in.
 */
export class Room extends EventEmitter<RoomEvents> {
  readonly id: string;
  readonly capacity: number;
  /** Its audio is end-to-end encrypted by the clients: the server only forwards it. */
  readonly encrypted: boolean;
  readonly createdAt = Date.now();
  readonly #peers = new Map<string, Peer>();
  readonly #placement: RoomPlacement;
  readonly #speaking: SpeakingDetector;
  readonly #logger: Logger;
  readonly #timing: Timing;
  readonly #budget: ProducerBudgetLimits;
  /** Peers whose producer was closed over budget: they may not produce again. */
  readonly #overBudget = new WeakSet<Peer>();
  /** producer id → id of the peer (or remote member) producing it. */
  readonly #talkers = new Map<string, string>();
  /** Members on other nodes, by id; each node's list replaces its previous one. */
  readonly #remote = new Map<string, RemoteMember>();
  /** Remote member id → its producer piped onto this room's main router. */
  readonly #remoteProducers = new Map<string, types.Producer>();
  /** Two separate deadlines per peer, so one never cancels the other. */
  readonly #joinTimers = new Map<Peer, NodeJS.Timeout>();
  readonly #graceTimers = new Map<Peer, NodeJS.Timeout>();
  /** Joins admitted but still creating their transports: they hold a seat. */
  #joining = 0;
  #closed = false;

  static async create(options: RoomOptions): Promise<Room> {
    const placement = await RoomPlacement.create({ ...options, roomId: options.id });
    try {
      const speaking = await SpeakingDetector.create(placement.main.router, options.capacity);
      return new Room(options, placement, speaking);
    } catch (error) {
      placement.close();
      throw error;
    }
  }

  private constructor(options: RoomOptions, placement: RoomPlacement, speaking: SpeakingDetector) {
    super();
    this.id = options.id;
    this.capacity = options.capacity;
    this.encrypted = options.encrypted;
    this.#logger = options.logger;
    this.#timing = options;
    this.#budget = options.producerBudget;
    this.#placement = placement;
    this.#speaking = speaking;
    speaking.on('change', (peerIds) => this.emit('speaking', peerIds));
    placement.on('workerLost', (lost, main) => this.#onWorkerLost(lost, main));
    this.#logger.info('room created', {
      room: this.id,
      worker: placement.main.worker.index,
      encrypted: this.encrypted,
    });
  }

  /** The first router: it hosts speaking detection and every producer is piped to it. */
  get router(): types.Router {
    return this.#placement.main.router;
  }

  /** Routers this room has, one per worker it spans. */
  get routers(): readonly types.Router[] {
    return this.#placement.routers;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get peers(): ReadonlyMap<string, Peer> {
    return this.#peers;
  }

  /** Peer ids speaking now, as last emitted. */
  get speaking(): readonly string[] {
    return this.#speaking.speaking;
  }

  /** Members on other nodes (a room spanning nodes). */
  get remoteMembers(): ReadonlyMap<string, RemoteMember> {
    return this.#remote;
  }

  /** Seats taken: peers, joins in progress, and members on other nodes. */
  get occupancy(): number {
    return this.#peers.size + this.#joining + this.#remote.size;
  }

  /** No peer and no join in progress: safe to close. */
  get idle(): boolean {
    return this.#peers.size === 0 && this.#joining === 0;
  }

  /** Its connection dropped and the room holds its place until the grace period ends. */
  isDetached(peerId: string): boolean {
    const peer = this.#peers.get(peerId);
    return peer !== undefined && this.#graceTimers.has(peer);
  }

  /** The id of the peer whose producer this is, if it is still in the room. */
  talkerOf(producerId: string): string | undefined {
    return this.#talkers.get(producerId);
  }

  peer(peerId: string): Peer {
    const peer = this.#peers.get(peerId);
    if (!peer) throw new NotInRoomError('not in this room');
    return peer;
  }

  async join(options: JoinOptions): Promise<Joined> {
    if (this.#closed) throw new UnavailableError('room is closing, try again');
    // Never an unencrypted client in an encrypted room, nor the other way round.
    if (options.e2ee !== this.encrypted) throw new EncryptionMismatchError(this.encrypted);
    if (this.occupancy >= this.capacity) {
      throw new RoomFullError(`room is full (${this.capacity} people)`);
    }
    this.#joining += 1;
    let peer: Peer | undefined;
    let consumers: types.Consumer[];
    try {
      const { worker, router } = await this.#placement.placeNewPeer();
      peer = await Peer.create({
        ...options,
        id: options.peerId,
        resumeTokenPrefix: this.#timing.resumeTokenPrefix,
        router,
        webRtcServer: worker.webRtcServer,
        maxIncomingBitrate: this.#budget.maxKbps * 1000,
      });
      peer.muted = options.muted ?? false;
      consumers = await this.#consumeAll(peer);
      if (this.#closed) throw new UnavailableError('room closed while joining');
    } catch (error) {
      peer?.close();
      this.#joining -= 1;
      if (this.idle) this.emit('empty');
      throw error;
    }
    this.#joining -= 1;
    const others = this.#members();
    this.#peers.set(peer.id, peer);
    this.#watch(peer);
    this.#logger.info('peer joined', {
      room: this.id,
      peer: peer.id,
      nickname: peer.nickname,
      ip: peer.ip,
    });
    this.emit('peerJoined', peer);
    this.emit('rosterChanged');
    return { peer, others, consumers };
  }

  /** Everyone in the room as members, this node's peers first. */
  #members(except?: Peer): Member[] {
    const local = [...this.#peers.values()].filter((p) => p !== except);
    return [...local, ...this.#remote.values()];
  }

  #watch(peer: Peer): void {
    logMediaConnections(peer, this.id, this.#timing.relayAddresses, this.#logger);
    peer.on('consumerClosed', (consumerId) => this.emit('consumerClosed', peer, consumerId));
    // A join whose media never connects holds a seat and ports: give them back.
    const joinTimer = setTimeout(() => {
      this.#joinTimers.delete(peer);
      if (peer.mediaConnected) return;
      this.#logger.warn('join timed out', { room: this.id, peer: peer.id });
      this.leave(peer.id, 'joinTimeout');
    }, this.#timing.joinTimeoutMs);
    joinTimer.unref();
    this.#joinTimers.set(peer, joinTimer);
    peer.once('connected', () => this.#clear(this.#joinTimers, peer));
  }

  #clear(timers: Map<Peer, NodeJS.Timeout>, peer: Peer): void {
    clearTimeout(timers.get(peer));
    timers.delete(peer);
  }

  /** The peer's connection dropped: keep its place for the grace period. */
  detach(peerId: string): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    this.#clear(this.#graceTimers, peer);
    const timer = setTimeout(() => {
      this.#graceTimers.delete(peer);
      this.leave(peerId, 'reconnectTimeout');
    }, this.#timing.reconnectGraceMs);
    timer.unref();
    this.#graceTimers.set(peer, timer);
  }

  /** The same client is back on a new connection: same peer, same media. */
  resume(peerId: string, token: string): Resumed {
    const peer = this.#peers.get(peerId);
    if (!peer || peer.resumeToken !== token) {
      throw new NotFoundError('that place in the room is gone; join again');
    }
    this.#clear(this.#graceTimers, peer);
    this.#logger.info('peer resumed', { room: this.id, peer: peerId });
    return { peer, others: this.#members(peer) };
  }

  /**
   * Paused consumers for every existing talker, created in parallel. Loops because a
   * talker may start producing while we await; the caller adds the peer to the room
   * synchronously after the last pass, so no producer can fall between the two.
   */
  async #consumeAll(peer: Peer): Promise<types.Consumer[]> {
    for (;;) {
      const consumed = new Set([...peer.consumers.values()].map((c) => c.producerId));
      const missing = this.#sources().filter(({ producer }) => !consumed.has(producer.id));
      if (missing.length === 0) break;
      const results = await Promise.allSettled(
        missing.map(({ producer, router }) => this.#consume(peer, producer, router)),
      );
      for (const result of results) if (result.status === 'rejected') throw result.reason;
    }
    return [...peer.consumers.values()];
  }

  /** Every live producer a new peer hears, with the router it is on. */
  #sources(): { producer: types.Producer; router: types.Router }[] {
    const local = [...this.#peers.values()].flatMap((p) =>
      p.producer && !p.producer.closed ? [{ producer: p.producer, router: p.router }] : [],
    );
    const remote = [...this.#remoteProducers.values()]
      .filter((producer) => !producer.closed)
      .map((producer) => ({ producer, router: this.router }));
    return [...local, ...remote];
  }

  /** The consumer `peer` has of `producer` (on `from`), wherever each one is. */
  async #consume(peer: Peer, producer: types.Producer, from: types.Router) {
    await this.#placement.availableOn(producer, from, peer.router);
    return peer.consume(producer.id);
  }

  async produce(
    peerId: string,
    transportId: string,
    rtpParameters: types.RtpParameters,
  ): Promise<string> {
    const peer = this.peer(peerId);
    if (transportId !== peer.sendTransport.id) {
      throw new NotFoundError('produce needs this peer’s send transport');
    }
    // Refused for as long as this peer is in the room: each new producer would get a
    // fresh window. Rejoining is the way back, and joins are limited per IP
    // (JOINS_PER_MINUTE), so a flood costs at most one window per join.
    if (this.#overBudget.has(peer)) {
      throw new ConflictError('your microphone was turned off for sending too much; join again');
    }
    if (peer.producer) throw new ConflictError('already producing');
    const producer = await peer.sendTransport
      .produce({ kind: 'audio', rtpParameters, paused: peer.muted })
      .catch((error: Error) => {
        // Its only input is the client's: the worker refuses what the schema cannot
        // judge (e.g. clashing SSRCs). On a closed transport the peer simply left.
        if (peer.sendTransport.closed) throw new NotInRoomError('left the room');
        throw new InvalidInputError(`rtpParameters refused: ${error.message}`);
      });
    if (peer.closed) {
      producer.close();
      throw new NotInRoomError('left the room');
    }
    peer.producer = producer;
    this.#talkers.set(producer.id, peerId);
    producer.observer.once('close', () => {
      this.#talkers.delete(producer.id);
      if (this.#peers.get(peerId) === peer) this.emit('rosterChanged');
    });
    this.#enforceBudget(peer, producer);
    // Piped to the main router first: speaking detection and other nodes' pipes start there.
    await this.#hearFrom(peerId, producer, peer.router, peer);
    this.emit('rosterChanged');
    return producer.id;
  }

  /**
   * Speaking detection for a new producer (on `from`), and a paused consumer of it for
   * every peer of this node but `except`, each told by newConsumer.
   */
  async #hearFrom(
    talkerId: string,
    producer: types.Producer,
    from: types.Router,
    except?: Peer,
  ): Promise<void> {
    try {
      await this.#placement.availableOn(producer, from, this.router);
      await this.#speaking.add(producer.id, talkerId);
    } catch (error) {
      this.#logger.warn('speaking detection unavailable for a producer', {
        room: this.id,
        peer: talkerId,
        error: (error as Error).message,
      });
    }
    await Promise.all(
      [...this.#peers.values()]
        .filter((other) => other !== except)
        .map(async (other) => {
          try {
            const { consumer, created } = await this.#consume(other, producer, from);
            // A peer that joined meanwhile already has it, in its join answer.
            if (created && this.#peers.get(other.id) === other) {
              this.emit('newConsumer', other, consumer);
            }
          } catch (error) {
            this.#logger.warn('consumer not created', {
              room: this.id,
              peer: other.id,
              error: (error as Error).message,
            });
          }
        }),
    );
  }

  /**
   * What `node` reports of its part of this room, replacing what it reported before:
   * members that appear, change or vanish are announced to this node's peers.
   */
  setRemoteMembers(node: string, members: readonly RemoteMember[]): void {
    if (this.#closed) return;
    const next = new Map(members.map((m) => [m.id, m]));
    for (const [id, old] of this.#remote) {
      if (old.node !== node || next.has(id)) continue;
      this.#remote.delete(id);
      this.#dropRemoteProducer(id);
      this.#speaking.forget(id);
      this.emit('memberLeft', old);
    }
    for (const member of next.values()) {
      const old = this.#remote.get(member.id);
      // A member id is a peer's UUID: one on this node is never also reported by another.
      if (this.#peers.has(member.id) || (old && old.node !== node)) continue;
      this.#remote.set(member.id, member);
      if (!old) this.emit('memberJoined', member);
      else if (old.muted !== member.muted) this.emit('memberMuted', member);
      if (old?.producerId && old.producerId !== member.producerId) {
        this.#dropRemoteProducer(member.id);
      }
    }
  }

  /**
   * `producer`, on this room's main router, carries a remote member's microphone (piped
   * from its node): this node's peers get consumers of it. False if it is not wanted.
   */
  async addRemoteProducer(memberId: string, producer: types.Producer): Promise<boolean> {
    const member = this.#remote.get(memberId);
    if (this.#closed || !member || member.producerId !== producer.id) return false;
    if (this.#remoteProducers.get(memberId) === producer) return true;
    this.#dropRemoteProducer(memberId);
    this.#remoteProducers.set(memberId, producer);
    this.#talkers.set(producer.id, memberId);
    producer.observer.once('close', () => {
      this.#talkers.delete(producer.id);
      if (this.#remoteProducers.get(memberId) === producer) this.#remoteProducers.delete(memberId);
    });
    await this.#hearFrom(memberId, producer, this.router);
    return true;
  }

  #dropRemoteProducer(memberId: string): void {
    const producer = this.#remoteProducers.get(memberId);
    this.#remoteProducers.delete(memberId);
    producer?.close();
  }

  /** This node's part of the room, as the other nodes it spans are told. */
  localMembers(node: string): RemoteMember[] {
    return [...this.#peers.values()].map((peer) => ({
      id: peer.id,
      nickname: peer.nickname,
      muted: peer.muted,
      node,
      producerId: peer.producer && !peer.producer.closed ? peer.producer.id : null,
    }));
  }

  /** Closes the producer once it sends past its budget; the rest of the room carries on. */
  #enforceBudget(peer: Peer, producer: types.Producer): void {
    const budget = new ProducerBudget({ producer, ...this.#budget });
    budget.once('exceeded', (kbps) => {
      if (producer.closed) return;
      this.#overBudget.add(peer);
      const { maxKbps } = this.#budget;
      this.#logger.warn('producer closed over its bitrate budget', {
        room: this.id,
        peer: peer.id,
        ip: peer.ip,
        kbps,
        maxKbps,
      });
      producer.close();
      this.#speaking.forget(peer.id);
      this.emit('producerOverBudget', peer, { kbps, maxKbps });
    });
  }

  async resumeConsumers(peerId: string, consumerIds: string[]): Promise<void> {
    const peer = this.peer(peerId);
    // One that closed since the client heard of it (its talker left, or a pipe from
    // another node closed) is skipped: the client hears of that by consumerClosed.
    const consumers = consumerIds.flatMap((id) => peer.consumers.get(id) ?? []);
    if (consumers.length === 0) {
      throw new NotFoundError(`no consumer ${consumerIds[0]} for this peer`);
    }
    // A talker may leave meanwhile: its consumer is gone in the worker before mediasoup
    // tells us, and the client hears of it through consumerClosed.
    await Promise.all(
      consumers.map((c) =>
        c.resume().catch((error) => {
          if (!c.closed && this.#talkers.has(c.producerId)) throw error;
        }),
      ),
    );
  }

  async setMuted(peerId: string, muted: boolean): Promise<void> {
    const peer = this.peer(peerId);
    if (peer.muted === muted) return;
    peer.muted = muted;
    // A producer closed over budget stays as peer.producer; the worker no longer knows it.
    if (peer.producer && !peer.producer.closed) {
      await (muted ? peer.producer.pause() : peer.producer.resume());
    }
    this.emit('peerMuted', peer);
    this.emit('rosterChanged');
  }

  leave(peerId: string, reason: LeaveReason = 'left'): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    this.#peers.delete(peerId);
    this.#forget(peer, reason);
    this.emit('rosterChanged');
    if (this.idle) this.emit('empty');
  }

  #forget(peer: Peer, reason: LeaveReason): void {
    this.#clear(this.#joinTimers, peer);
    this.#clear(this.#graceTimers, peer);
    peer.close();
    this.#speaking.forget(peer.id);
    this.#logger.info('peer left', {
      room: this.id,
      peer: peer.id,
      nickname: peer.nickname,
      ip: peer.ip,
      reason,
      durationMs: Date.now() - peer.joinedAt,
    });
    this.emit('peerLeft', peer, reason);
  }

  /**
   * The peers on a dead worker's router lost their transports and must join again.
   * Losing the main router loses speaking detection and every pipe: the whole room goes.
   */
  #onWorkerLost(lost: Placement, main: boolean): void {
    const gone = [...this.#peers.values()].filter((p) => main || p.router === lost.router);
    this.#logger.warn('room lost a worker', {
      room: this.id,
      worker: lost.worker.index,
      main,
      peers: gone.length,
    });
    for (const peer of gone) this.#peers.delete(peer.id);
    for (const peer of gone) this.#forget(peer, 'mediaReset');
    if (gone.length > 0) this.emit('rosterChanged');
    if (main) this.close();
    else if (this.idle) this.emit('empty');
  }

  /** Everyone must join afresh (elsewhere, in a cluster): each is told, then the room goes. */
  reset(why: string): void {
    if (this.#closed) return;
    this.#logger.info('room reset', { room: this.id, why, peers: this.#peers.size });
    const peers = [...this.#peers.values()];
    this.#peers.clear();
    for (const peer of peers) this.#forget(peer, 'mediaReset');
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of [...this.#joinTimers.values(), ...this.#graceTimers.values()]) {
      clearTimeout(timer);
    }
    this.#joinTimers.clear();
    this.#graceTimers.clear();
    const peers = [...this.#peers.values()];
    for (const peer of peers) peer.close();
    this.#peers.clear();
    this.#placement.close();
    this.#logger.info('room closed', { room: this.id });
    this.emit('close', peers);
    this.removeAllListeners();
  }
}
