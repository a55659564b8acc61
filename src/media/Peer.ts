import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { ConflictError, NotFoundError, NotInRoomError, withClientInput } from './errors.ts';
import { audioConsumerOptions } from './mediaCodecs.ts';
import type { PeerEvents, PeerOptions } from './PeerTypes.ts';

type Transport = types.WebRtcTransport;

async function createTransport(
  router: types.Router,
  webRtcServer: types.WebRtcServer,
  peerId: string,
): Promise<Transport> {
  return router.createWebRtcTransport({
    webRtcServer,
    enableUdp: true,
    enableTcp: true,
    preferUdp: true,
    appData: { peerId },
  });
}

/**
 * One person in a room: a send transport carrying their microphone producer and a
 * receive transport carrying one consumer per other talker. Closing it closes both
 * transports, which closes everything they carry.
 */
export class Peer extends EventEmitter<PeerEvents> {
  readonly id: string;
  readonly nickname: string;
  readonly ip: string;
  readonly joinedAt = Date.now();
  /** When its join request arrived (epoch ms). */
  readonly requestedAt: number;
  readonly rtpCapabilities: types.RtpCapabilities;
  /** The room's router this peer's transports live on (rooms may span workers). */
  readonly router: types.Router;
  readonly sendTransport: Transport;
  readonly recvTransport: Transport;
  /** Proves a reconnecting client is this peer; only ever sent to its own client. */
  readonly resumeToken: string;
  producer: types.Producer | undefined;
  muted = false;
  readonly #consumers = new Map<string, types.Consumer>();
  /** Per producer: the one consumer this peer has (or is getting) of it. */
  readonly #byProducer = new Map<string, Promise<types.Consumer>>();
  readonly #connected = new Set<string>();
  #closed = false;

  static async create(options: PeerOptions): Promise<Peer> {
    const { router, webRtcServer, id } = options;
    const sendTransport = await createTransport(router, webRtcServer, id);
    try {
      // Only a well-behaved sender follows this; ProducerBudget deals with the others.
      await sendTransport.setMaxIncomingBitrate(options.maxIncomingBitrate);
      const recvTransport = await createTransport(router, webRtcServer, id);
      return new Peer(options, sendTransport, recvTransport);
    } catch (error) {
      sendTransport.close();
      throw error;
    }
  }

  private constructor(options: PeerOptions, sendTransport: Transport, recvTransport: Transport) {
    super();
    this.id = options.id;
    this.nickname = options.nickname;
    this.ip = options.ip;
    this.rtpCapabilities = options.rtpCapabilities;
    this.resumeToken = (options.resumeTokenPrefix ?? '') + randomBytes(18).toString('base64url');
    this.requestedAt = options.requestedAt ?? this.joinedAt;
    this.router = options.router;
    this.sendTransport = sendTransport;
    this.recvTransport = recvTransport;
    sendTransport.on('dtlsstatechange', (state) => {
      if (state === 'connected') this.emit('connected');
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Media of this peer reached the server at least once. */
  get mediaConnected(): boolean {
    return !this.sendTransport.closed && this.sendTransport.dtlsState === 'connected';
  }

  /** Consumers by id: what this peer hears. */
  get consumers(): ReadonlyMap<string, types.Consumer> {
    return this.#consumers;
  }

  /** Sets the client's DTLS parameters, once per transport. */
  async connect(transportId: string, dtlsParameters: types.DtlsParameters): Promise<void> {
    const transport = this.transport(transportId);
    if (this.#connected.has(transport.id)) throw new ConflictError('transport already connected');
    this.#connected.add(transport.id);
    try {
      await withClientInput('dtlsParameters', () => transport.connect({ dtlsParameters }));
    } catch (error) {
      this.#connected.delete(transport.id);
      throw error;
    }
  }

  /** Only this peer's own transports can be addressed by its client. */
  transport(transportId: string): Transport {
    if (transportId === this.sendTransport.id) return this.sendTransport;
    if (transportId === this.recvTransport.id) return this.recvTransport;
    throw new NotFoundError('no such transport for this peer');
  }

  /**
   * A paused consumer of a producer present on this peer's router. At most one per
   * producer, ever: a second call (a join racing a new producer's fan-out) gets the
   * same consumer, with `created: false`.
   */
  async consume(producerId: string): Promise<{ consumer: types.Consumer; created: boolean }> {
    const existing = this.#byProducer.get(producerId);
    if (existing) return { consumer: await existing, created: false };
    const creating = this.#createConsumer(producerId);
    this.#byProducer.set(producerId, creating);
    creating.catch(() => {
      if (this.#byProducer.get(producerId) === creating) this.#byProducer.delete(producerId);
    });
    return { consumer: await creating, created: true };
  }

  async #createConsumer(producerId: string): Promise<types.Consumer> {
    const consumer = await withClientInput('rtpCapabilities', () =>
      this.recvTransport.consume({
        producerId,
        rtpCapabilities: this.rtpCapabilities,
        paused: true,
        ...audioConsumerOptions,
      }),
    );
    // mediasoup still creates a consumer on a transport that closed while we awaited.
    if (this.#closed || this.recvTransport.closed) {
      consumer.close();
      throw new NotInRoomError('left the room');
    }
    this.#consumers.set(consumer.id, consumer);
    consumer.observer.once('close', () => {
      this.#consumers.delete(consumer.id);
      this.#byProducer.delete(producerId);
    });
    consumer.on('producerclose', () => {
      if (!this.#closed) this.emit('consumerClosed', consumer.id);
    });
    return consumer;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.sendTransport.close();
    this.recvTransport.close();
    this.removeAllListeners();
  }
}
