import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import type { Logger } from '../logging/createLogger.ts';
import { logMediaConnections } from './connectionLog.ts';
import {
  ConflictError,
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
  Resumed,
  RoomEvents,
  RoomOptions,
} from './RoomTypes.ts';
import { SpeakingDetector } from './SpeakingDetector.ts';

type Timing = Pick<RoomOptions, 'reconnectGraceMs' | 'joinTimeoutMs' | 'relayAddresses'>;

/**
 * A voice room: who is in it, the seats being taken, and the two deadlines each peer
 * has (its media must connect within the join timeout; a dropped connection must come
 * back within the grace period). Where its media lives is RoomPlacement's job; who is
 * speaking, SpeakingDetector's. It knows nothing of sockets: it emits what happened.
 */
export class Room extends EventEmitter<RoomEvents> {
  readonly id: string;
  readonly capacity: number;
  readonly createdAt = Date.now();
  readonly #peers = new Map<string, Peer>();
  readonly #placement: RoomPlacement;
  readonly #speaking: SpeakingDetector;
  readonly #logger: Logger;
  readonly #timing: Timing;
  readonly #budget: ProducerBudgetLimits;
  /** Peers whose producer was closed over budget: they may not produce again. */
  readonly #overBudget = new WeakSet<Peer>();
  /** producer id → id of the peer producing it. */
  readonly #talkers = new Map<string, string>();
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
    this.#logger = options.logger;
    this.#timing = options;
    this.#budget = options.producerBudget;
    this.#placement = placement;
    this.#speaking = speaking;
    speaking.on('change', (peerIds) => this.emit('speaking', peerIds));
    placement.on('workerLost', (lost, main) => this.#onWorkerLost(lost, main));
    this.#logger.info('room created', { room: this.id, worker: placement.main.worker.index });
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

  /** Seats taken: peers plus joins in progress. */
  get occupancy(): number {
    return this.#peers.size + this.#joining;
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
        router,
        webRtcServer: worker.webRtcServer,
        maxIncomingBitrate: this.#budget.maxKbps * 1000,
      });
      consumers = await this.#consumeAll(peer);
      if (this.#closed) throw new UnavailableError('room closed while joining');
    } catch (error) {
      peer?.close();
      this.#joining -= 1;
      if (this.idle) this.emit('empty');
      throw error;
    }
    this.#joining -= 1;
    const others = [...this.#peers.values()];
    this.#peers.set(peer.id, peer);
    this.#watch(peer);
    this.#logger.info('peer joined', {
      room: this.id,
      peer: peer.id,
      nickname: peer.nickname,
      ip: peer.ip,
    });
    this.emit('peerJoined', peer);
    return { peer, others, consumers };
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
    return { peer, others: [...this.#peers.values()].filter((p) => p !== peer) };
  }

  /**
   * Paused consumers for every existing talker, created in parallel. Loops because a
   * talker may start producing while we await; the caller adds the peer to the room
   * synchronously after the last pass, so no producer can fall between the two.
   */
  async #consumeAll(peer: Peer): Promise<types.Consumer[]> {
    for (;;) {
      const consumed = new Set([...peer.consumers.values()].map((c) => c.producerId));
      const missing = [...this.#peers.values()].filter(
        (p) => p.producer && !p.producer.closed && !consumed.has(p.producer.id),
      );
      if (missing.length === 0) break;
      const results = await Promise.allSettled(
        missing.map((p) => this.#consume(peer, p, p.producer as types.Producer)),
      );
      for (const result of results) if (result.status === 'rejected') throw result.reason;
    }
    return [...peer.consumers.values()];
  }

  /** The consumer `peer` has of `producerPeer`'s producer, wherever each one is. */
  async #consume(peer: Peer, producerPeer: Peer, producer: types.Producer) {
    await this.#placement.availableOn(producer, producerPeer.router, peer.router);
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
    producer.observer.once('close', () => this.#talkers.delete(producer.id));
    this.#enforceBudget(peer, producer);
    try {
      await this.#placement.availableOn(producer, peer.router, this.router);
      await this.#speaking.add(producer.id, peerId);
    } catch (error) {
      this.#logger.warn('speaking detection unavailable for a producer', {
        room: this.id,
        peer: peerId,
        error: (error as Error).message,
      });
    }
    await Promise.all(
      [...this.#peers.values()]
        .filter((other) => other !== peer)
        .map(async (other) => {
          try {
            const { consumer, created } = await this.#consume(other, peer, producer);
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
    return producer.id;
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
    const consumers = consumerIds.map((id) => {
      const consumer = peer.consumers.get(id);
      if (!consumer) throw new NotFoundError(`no consumer ${id} for this peer`);
      return consumer;
    });
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
  }

  leave(peerId: string, reason: LeaveReason = 'left'): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    this.#peers.delete(peerId);
    this.#forget(peer, reason);
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
