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
import type { WorkerPool } from './WorkerPool.ts';

/** Voice below this (dBov) does not count as speaking; fake and real mics sit well above. */
const SPEAKING_THRESHOLD_DBOV = -65;
const SPEAKING_INTERVAL_MS = 400;

export type JoinResult = Omit<Responses['join'], 'iceServers' | 'iceTransportPolicy'>;

type Settings = Pick<
  RoomOptions,
  'reconnectGraceMs' | 'joinTimeoutMs' | 'workers' | 'workerConsumerBudget' | 'relayAddresses'
>;

type Placement = { worker: MediaWorker; router: types.Router };

/**
 * A voice room: its peers, the mediasoup Routers they are on and an AudioLevelObserver
 * that tells everyone who is speaking. A room starts with one router on the
 * least-loaded worker; when that worker passes its consumer budget, new peers go to a
 * router on another worker, and producers are piped (`pipeToRouter`) to whichever
 * router has a consumer for them, so one room is not capped by one core.
 */
export class Room extends EventEmitter<RoomEvents> {
  readonly id: string;
  /** The first router: it hosts the speaking observer and every producer is piped to it. */
  readonly router: types.Router;
  readonly capacity: number;
  readonly createdAt = Date.now();
  readonly #peers = new Map<string, Peer>();
  readonly #audioLevelObserver: types.AudioLevelObserver;
  readonly #logger: Logger;
  readonly #timing: Settings;
  readonly #workers: WorkerPool;
  readonly #workerConsumerBudget: number;
  readonly #placements = new Map<MediaWorker, Promise<Placement>>();
  /** Per `producerId:routerId`: the pipe that makes a producer consumable there. */
  readonly #pipes = new Map<string, Promise<void>>();
  readonly #producerPeers = new Map<string, string>();
  readonly #routers: types.Router[] = [];
  /** Per peer: the pending removal of a detached peer or of a join that never connected. */
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Joins admitted but still creating their transports: they hold a seat. */
  #joining = 0;
  #speaking: string[] = [];
  #closed = false;

  static async create(options: RoomOptions): Promise<Room> {
    const { id, workers, capacity, logger } = options;
    const mediaWorker = workers.leastLoaded();
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
    settings: Settings,
  ) {
    super();
    this.#timing = settings;
    this.#workers = settings.workers;
    this.#workerConsumerBudget = settings.workerConsumerBudget;
    this.id = id;
    this.router = router;
    this.capacity = capacity;
    this.#audioLevelObserver = audioLevelObserver;
    this.#logger = logger;
    audioLevelObserver.on('volumes', (volumes) => {
      this.#setSpeaking(volumes.flatMap((v) => this.#producerPeers.get(v.producer.id) ?? []));
    });
    audioLevelObserver.on('silence', () => this.#setSpeaking([]));
    this.#adopt({ worker: mediaWorker, router });
    logger.info('room created', { room: id, worker: mediaWorker.index });
  }

  #adopt(placement: Placement): Placement {
    this.#placements.set(placement.worker, Promise.resolve(placement));
    this.#routers.push(placement.router);
    placement.router.on('workerclose', () => {
      // Its peers' transports are gone; the simple, safe recovery is for everyone to rejoin.
      this.#logger.warn('room lost a worker', {
        room: this.id,
        worker: placement.worker.index,
        peers: this.#peers.size,
      });
      for (const peer of this.#peers.values()) peer.notify('mediaReset');
      this.close();
    });
    return placement;
  }

  /** Routers this room has, one per worker it spans. */
  get routers(): readonly types.Router[] {
    return this.#routers;
  }

  /**
   * The router a new peer goes on: the room's least-loaded one, unless that worker is
   * past its budget and another worker has less load, which then gets a router.
   */
  async #placeNewPeer(): Promise<Placement> {
    const placements = await Promise.all(this.#placements.values());
    const live = placements.filter((p) => !p.worker.closed);
    const best = live.reduce<Placement | undefined>(
      (min, p) => (!min || p.worker.consumerCount < min.worker.consumerCount ? p : min),
      undefined,
    );
    if (!best) throw new SignalingError('SERVER_BUSY', 'media server restarting, try again');
    if (best.worker.consumerCount < this.#workerConsumerBudget) return best;
    const candidate = this.#workers.leastLoaded();
    if (candidate.consumerCount >= best.worker.consumerCount) return best;
    const existing = this.#placements.get(candidate);
    if (existing) return existing;
    const placement = candidate.createRouter(mediaCodecs).then((router) => {
      if (this.#closed) {
        router.close();
        throw new SignalingError('SERVER_BUSY', 'room closed while joining');
      }
      this.#logger.info('room spans another worker', { room: this.id, worker: candidate.index });
      return this.#adopt({ worker: candidate, router });
    });
    this.#placements.set(candidate, placement);
    placement.catch(() => this.#placements.delete(candidate));
    return placement;
  }

  /** Makes `producer` (on `from`) consumable on `to`, piping it once if they differ. */
  #availableOn(producer: types.Producer, from: types.Router, to: types.Router): Promise<void> {
    if (from === to) return Promise.resolve();
    const key = `${producer.id}:${to.id}`;
    let pipe = this.#pipes.get(key);
    if (!pipe) {
      pipe = from.pipeToRouter({ producerId: producer.id, router: to }).then(() => {});
      this.#pipes.set(key, pipe);
      pipe.catch(() => this.#pipes.delete(key));
      producer.observer.once('close', () => this.#pipes.delete(key));
    }
    return pipe;
  }

  /** A paused consumer for `peer` of `producerPeer`'s producer, wherever each one is. */
  async #consume(peer: Peer, producerPeer: Peer, producer: types.Producer): Promise<ConsumerInfo> {
    await this.#availableOn(producer, producerPeer.router, peer.router);
    return peer.consume(producer.id, producerPeer.id);
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
      const { worker, router } = await this.#placeNewPeer();
      peer = await Peer.create({
        ...options,
        id: options.peerId,
        router,
        webRtcServer: worker.webRtcServer,
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
    this.#logConnections(peer);
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

  /**
   * Logs each transport's DTLS outcome with the path it took. The server sees only the
   * remote address, so it can tell relayed (from our TURN server) from direct, not a
   * client's host candidate from its server-reflexive one.
   */
  #logConnections(peer: Peer): void {
    for (const [direction, transport] of [
      ['send', peer.sendTransport],
      ['recv', peer.recvTransport],
    ] as const) {
      transport.on('dtlsstatechange', (state) => {
        if (state !== 'connected' && state !== 'failed') return;
        const tuple = transport.iceSelectedTuple;
        const remoteIp = tuple?.remoteIp ?? '';
        this.#logger.info(state === 'connected' ? 'media connected' : 'media failed', {
          room: this.id,
          peer: peer.id,
          direction,
          protocol: tuple?.protocol,
          remoteIp,
          path: this.#timing.relayAddresses.has(remoteIp) ? 'relay' : 'direct',
        });
      });
    }
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
        missing.map((p) => this.#consume(peer, p, p.producer as types.Producer)),
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
    const producer = await peer.sendTransport
      .produce({ kind: 'audio', rtpParameters, paused: peer.muted, appData: { peerId } })
      .catch((error: Error) => {
        // The worker refuses parameters the schema cannot judge (e.g. clashing SSRCs).
        if (error instanceof SignalingError || peer.sendTransport.closed) throw error;
        throw new SignalingError('BAD_REQUEST', `rtpParameters refused: ${error.message}`);
      });
    if (peer.closed) {
      producer.close();
      throw new SignalingError('NOT_IN_ROOM', 'left the room');
    }
    peer.producer = producer;
    this.#producerPeers.set(producer.id, peerId);
    producer.observer.once('close', () => this.#producerPeers.delete(producer.id));
    try {
      await this.#availableOn(producer, peer.router, this.router);
      await this.#audioLevelObserver.addProducer({ producerId: producer.id });
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
            other.notify('newConsumer', await this.#consume(other, peer, producer));
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
    // A talker may leave meanwhile: its consumer is gone in the worker before mediasoup
    // tells us, and the client hears of it through consumerClosed.
    await Promise.all(
      consumers.map((c) =>
        c.resume().catch((error) => {
          if (!c.closed && this.#producerPeers.has(c.producerId)) throw error;
        }),
      ),
    );
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
    for (const router of this.#routers) router.close();
    this.#logger.info('room closed', { room: this.id });
    this.emit('close');
  }
}
