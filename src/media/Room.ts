import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import type { Logger } from '../logging/createLogger.ts';
import type { ConsumerInfo, Responses } from '../signaling/protocol.ts';
import { SignalingError } from '../signaling/SignalingError.ts';
import type { MediaWorker } from './MediaWorker.ts';
import { mediaCodecs } from './mediaCodecs.ts';
import { Peer } from './Peer.ts';
import type { Notify } from './PeerTypes.ts';
import type { JoinOptions, RoomEvents, RoomOptions } from './RoomTypes.ts';

/** Voice below this (dBov) does not count as speaking; fake and real mics sit well above. */
const SPEAKING_THRESHOLD_DBOV = -65;
const SPEAKING_INTERVAL_MS = 400;

export type JoinResult = Omit<Responses['join'], 'iceServers' | 'iceTransportPolicy'>;

type Timing = Pick<RoomOptions, 'reconnectGraceMs' | 'joinTimeoutMs'>;

/**
 * A voice room: one mediasoup Router on one worker, its peers, and an
 * AudioLevelObserver that tells everyone who is speaking.
 */
export class Room extends EventEmitter<RoomEvents> {
  readonly id: string;
  readonly router: types.Router;
  readonly mediaWorker: MediaWorker;
  readonly capacity: number;
  readonly createdAt = Date.now();
  readonly #peers = new Map<string, Peer>();
  readonly #audioLevelObserver: types.AudioLevelObserver;
  readonly #logger: Logger;
  readonly #timing: Timing;
  /** Per peer: the pending removal of a detached peer or of a join that never connected. */
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Joins admitted but still creating their transports: they hold a seat. */
  #joining = 0;
  #speaking: string[] = [];
  #closed = false;

  static async create(options: RoomOptions): Promise<Room> {
    const { id, mediaWorker, capacity, logger } = options;
    const router = await mediaWorker.createRouter(mediaCodecs);
    try {
      const audioLevelObserver = await router.createAudioLevelObserver({
        maxEntries: capacity,
        threshold: SPEAKING_THRESHOLD_DBOV,
        interval: SPEAKING_INTERVAL_MS,
      });
      return new Room(id, router, mediaWorker, capacity, audioLevelObserver, logger, options);
    } catch (error) {
      router.close();
      throw error;
    }
  }

  private constructor(
    id: string,
    router: types.Router,
    mediaWorker: MediaWorker,
    capacity: number,
    audioLevelObserver: types.AudioLevelObserver,
    logger: Logger,
    timing: Timing,
  ) {
    super();
    this.#timing = timing;
    this.id = id;
    this.router = router;
    this.mediaWorker = mediaWorker;
    this.capacity = capacity;
    this.#audioLevelObserver = audioLevelObserver;
    this.#logger = logger;
    audioLevelObserver.on('volumes', (volumes) => {
      this.#setSpeaking(volumes.map((v) => v.producer.appData.peerId as string));
    });
    audioLevelObserver.on('silence', () => this.#setSpeaking([]));
    router.on('workerclose', () => {
      this.#logger.warn('room lost its worker', { room: id, peers: this.#peers.size });
      for (const peer of this.#peers.values()) peer.notify('mediaReset');
      this.close();
    });
    logger.info('room created', { room: id, worker: mediaWorker.index });
  }

  get closed(): boolean {
    return this.#closed;
  }

  get peers(): ReadonlyMap<string, Peer> {
    return this.#peers;
  }

  /** Peer ids speaking now, as last broadcast. */
  get speaking(): readonly string[] {
    return this.#speaking;
  }

  /** Seats taken: peers plus joins in progress. */
  get occupancy(): number {
    return this.#peers.size + this.#joining;
  }

  /** No peer and no join in progress: safe to close. */
  get idle(): boolean {
    return this.#peers.size === 0 && this.#joining === 0;
  }

  async join(options: JoinOptions): Promise<JoinResult> {
    if (this.#closed) throw new SignalingError('SERVER_BUSY', 'room is closing, try again');
    if (this.occupancy >= this.capacity) {
      throw new SignalingError('ROOM_FULL', `room is full (${this.capacity} people)`);
    }
    this.#joining += 1;
    let peer: Peer | undefined;
    let consumers: ConsumerInfo[];
    try {
      peer = await Peer.create({
        ...options,
        id: options.peerId,
        router: this.router,
        webRtcServer: this.mediaWorker.webRtcServer,
      });
      consumers = await this.#consumeAll(peer);
      if (this.#closed) throw new SignalingError('SERVER_BUSY', 'room closed while joining');
    } catch (error) {
      peer?.close();
      this.#joining -= 1;
      if (this.idle) this.emit('empty');
      throw error;
    }
    this.#joining -= 1;
    const others = [...this.#peers.values()];
    this.#peers.set(peer.id, peer);
    this.#removeUnlessConnected(peer);
    for (const other of others) other.notify('peerJoined', peer.info);
    this.emit('peerJoined', peer);
    this.#logger.info('peer joined', {
      room: this.id,
      peer: peer.id,
      nickname: peer.nickname,
      ip: peer.ip,
    });
    return {
      peerId: peer.id,
      roomId: this.id,
      resumeToken: peer.resumeToken,
      resumed: false,
      peers: others.map((p) => p.info),
      sendTransport: peer.transports.send,
      recvTransport: peer.transports.recv,
      consumers,
    };
  }

  /** A join whose media never connects holds a seat and ports: give them back. */
  #removeUnlessConnected(peer: Peer): void {
    this.#setTimer(peer.id, this.#timing.joinTimeoutMs, () => {
      if (peer.sendTransport.dtlsState === 'connected') return;
      this.#logger.warn('join timed out', { room: this.id, peer: peer.id });
      peer.notify('kicked', { reason: 'your connection did not come up in time' });
      this.leave(peer.id);
    });
  }

  /** The peer's signaling connection dropped: keep its place for a grace period. */
  detach(peerId: string): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    peer.detach();
    this.#setTimer(peerId, this.#timing.reconnectGraceMs, () => this.leave(peerId));
  }

  /** The same client is back on a new connection: same peer, same media. */
  resume(peerId: string, token: string, sink: Notify): JoinResult {
    const peer = this.#peers.get(peerId);
    if (!peer || peer.resumeToken !== token) {
      throw new SignalingError('NOT_FOUND', 'that place in the room is gone; join again');
    }
    this.#clearTimer(peerId);
    peer.attach(sink);
    this.#logger.info('peer resumed', { room: this.id, peer: peerId });
    return {
      peerId,
      roomId: this.id,
      resumeToken: peer.resumeToken,
      resumed: true,
      peers: [...this.#peers.values()].filter((p) => p !== peer).map((p) => p.info),
      sendTransport: peer.transports.send,
      recvTransport: peer.transports.recv,
      consumers: peer.consumerInfos(),
    };
  }

  #setTimer(peerId: string, ms: number, run: () => void): void {
    this.#clearTimer(peerId);
    const timer = setTimeout(() => {
      this.#timers.delete(peerId);
      run();
    }, ms);
    timer.unref();
    this.#timers.set(peerId, timer);
  }

  #clearTimer(peerId: string): void {
    clearTimeout(this.#timers.get(peerId));
    this.#timers.delete(peerId);
  }

  /**
   * Paused consumers for every existing talker, created in parallel. Loops because a
   * talker may start producing while we await; the caller adds the peer to the room
   * synchronously after the last pass, so no producer can fall between the two.
   */
  async #consumeAll(peer: Peer): Promise<ConsumerInfo[]> {
    const infos: ConsumerInfo[] = [];
    for (;;) {
      const consumed = new Set([...peer.consumers.values()].map((c) => c.producerId));
      const missing = [...this.#peers.values()].filter(
        (p) => p.producer && !p.producer.closed && !consumed.has(p.producer.id),
      );
      if (missing.length === 0) break;
      const results = await Promise.allSettled(
        missing.map((p) => peer.consume(p.producer as types.Producer, p.id)),
      );
      for (const result of results) {
        if (result.status === 'fulfilled') infos.push(result.value);
        else throw result.reason;
      }
    }
    return infos.filter((info) => peer.consumers.has(info.id));
  }

  peer(peerId: string): Peer {
    const peer = this.#peers.get(peerId);
    if (!peer) throw new SignalingError('NOT_IN_ROOM', 'not in this room');
    return peer;
  }

  async produce(
    peerId: string,
    transportId: string,
    rtpParameters: types.RtpParameters,
  ): Promise<string> {
    const peer = this.peer(peerId);
    if (transportId !== peer.sendTransport.id) {
      throw new SignalingError('NOT_FOUND', 'produce needs this peer’s send transport');
    }
    if (peer.producer) throw new SignalingError('BAD_REQUEST', 'already producing');
    const producer = await peer.sendTransport.produce({
      kind: 'audio',
      rtpParameters,
      paused: peer.muted,
      appData: { peerId },
    });
    if (peer.closed) {
      producer.close();
      throw new SignalingError('NOT_IN_ROOM', 'left the room');
    }
    peer.producer = producer;
    await this.#audioLevelObserver.addProducer({ producerId: producer.id }).catch(() => {});
    await Promise.all(
      [...this.#peers.values()]
        .filter((other) => other !== peer)
        .map(async (other) => {
          try {
            other.notify('newConsumer', await other.consume(producer, peer.id));
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

  async resumeConsumers(peerId: string, consumerIds: string[]): Promise<void> {
    const peer = this.peer(peerId);
    const consumers = consumerIds.map((id) => {
      const consumer = peer.consumers.get(id);
      if (!consumer) throw new SignalingError('NOT_FOUND', `no consumer ${id} for this peer`);
      return consumer;
    });
    await Promise.all(consumers.map((c) => c.resume()));
  }

  async setMuted(peerId: string, muted: boolean): Promise<void> {
    const peer = this.peer(peerId);
    if (peer.muted === muted) return;
    peer.muted = muted;
    if (peer.producer) await (muted ? peer.producer.pause() : peer.producer.resume());
    for (const other of this.#peers.values()) {
      if (other !== peer) other.notify('peerMuted', { peerId, muted });
    }
  }

  leave(peerId: string): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    this.#clearTimer(peerId);
    this.#peers.delete(peerId);
    peer.close();
    for (const other of this.#peers.values()) other.notify('peerLeft', { peerId });
    this.emit('peerLeft', peer);
    this.#logger.info('peer left', {
      room: this.id,
      peer: peer.id,
      nickname: peer.nickname,
      ip: peer.ip,
      durationMs: Date.now() - peer.joinedAt,
    });
    if (this.#speaking.includes(peerId)) {
      this.#setSpeaking(this.#speaking.filter((id) => id !== peerId));
    }
    if (this.idle) this.emit('empty');
  }

  #setSpeaking(peerIds: string[]): void {
    const next = [...new Set(peerIds)].sort();
    if (next.length === this.#speaking.length && next.every((id, i) => id === this.#speaking[i])) {
      return;
    }
    this.#speaking = next;
    for (const peer of this.#peers.values()) peer.notify('speaking', { peerIds: next });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    for (const peer of this.#peers.values()) peer.close();
    this.#peers.clear();
    this.router.close();
    this.#logger.info('room closed', { room: this.id });
    this.emit('close');
  }
}
