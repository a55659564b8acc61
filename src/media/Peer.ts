import { randomBytes } from 'node:crypto';
import type { types } from 'mediasoup';
import type { ConsumerInfo, PeerInfo, TransportInfo } from '../signaling/protocol.ts';
import { SignalingError } from '../signaling/SignalingError.ts';
import type { Notify, PeerOptions } from './PeerTypes.ts';

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

function transportInfo(transport: Transport): TransportInfo {
  return {
    id: transport.id,
    iceParameters: transport.iceParameters,
    iceCandidates: transport.iceCandidates,
    dtlsParameters: transport.dtlsParameters,
  };
}

/**
 * One person in a room: a send transport carrying their microphone producer and a
 * receive transport carrying one consumer per other talker. Closing it closes both
 * transports, which closes everything they carry.
 */
export class Peer {
  readonly id: string;
  readonly nickname: string;
  readonly ip: string;
  readonly joinedAt = Date.now();
  readonly rtpCapabilities: types.RtpCapabilities;
  /** The room's router this peer's transports live on (rooms may span workers). */
  readonly router: types.Router;
  readonly sendTransport: Transport;
  readonly recvTransport: Transport;
  readonly consumers = new Map<string, types.Consumer>();
  /** Proves a reconnecting client is this peer; only ever sent to its own socket. */
  readonly resumeToken = randomBytes(18).toString('base64url');
  #sink: Notify | undefined;
  producer: types.Producer | undefined;
  muted = false;
  readonly #consumerPeers = new Map<string, string>();
  readonly #connected = new Set<string>();
  #closed = false;

  static async create(options: PeerOptions): Promise<Peer> {
    const { router, webRtcServer, id } = options;
    const sendTransport = await createTransport(router, webRtcServer, id);
    try {
      const recvTransport = await createTransport(router, webRtcServer, id);
      return new Peer(options, sendTransport, recvTransport);
    } catch (error) {
      sendTransport.close();
      throw error;
    }
  }

  private constructor(options: PeerOptions, sendTransport: Transport, recvTransport: Transport) {
    this.id = options.id;
    this.nickname = options.nickname;
    this.ip = options.ip;
    this.rtpCapabilities = options.rtpCapabilities;
    this.router = options.router;
    this.#sink = options.notify;
    this.sendTransport = sendTransport;
    this.recvTransport = recvTransport;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Lost its signaling connection; media may still flow while it reconnects. */
  get detached(): boolean {
    return this.#sink === undefined;
  }

  /** Sends to this peer's client; dropped while it is detached. */
  readonly notify: Notify = (event, ...args) => this.#sink?.(event, ...args);

  attach(sink: Notify): void {
    this.#sink = sink;
  }

  detach(): void {
    this.#sink = undefined;
  }

  get info(): PeerInfo {
    return { id: this.id, nickname: this.nickname, muted: this.muted };
  }

  get transports(): { send: TransportInfo; recv: TransportInfo } {
    return { send: transportInfo(this.sendTransport), recv: transportInfo(this.recvTransport) };
  }

  /** Sets the client's DTLS parameters, once per transport. */
  async connect(transportId: string, dtlsParameters: types.DtlsParameters): Promise<void> {
    const transport = this.transport(transportId);
    if (this.#connected.has(transport.id)) {
      throw new SignalingError('BAD_REQUEST', 'transport already connected');
    }
    this.#connected.add(transport.id);
    try {
      await transport.connect({ dtlsParameters });
    } catch (error) {
      this.#connected.delete(transport.id);
      throw error;
    }
  }

  /** Only this peer's own transports can be addressed by its client. */
  transport(transportId: string): Transport {
    if (transportId === this.sendTransport.id) return this.sendTransport;
    if (transportId === this.recvTransport.id) return this.recvTransport;
    throw new SignalingError('NOT_FOUND', 'no such transport for this peer');
  }

  /** A paused consumer of a producer present on this peer's router. */
  async consume(producerId: string, producerPeerId: string): Promise<ConsumerInfo> {
    const consumer = await this.recvTransport.consume({
      producerId,
      rtpCapabilities: this.rtpCapabilities,
      paused: true,
      appData: { peerId: producerPeerId },
    });
    // mediasoup still creates a consumer on a transport that closed while we awaited.
    if (this.#closed || this.recvTransport.closed) {
      consumer.close();
      throw new SignalingError('NOT_IN_ROOM', 'left the room');
    }
    this.consumers.set(consumer.id, consumer);
    this.#consumerPeers.set(consumer.id, producerPeerId);
    const forget = () => {
      this.consumers.delete(consumer.id);
      this.#consumerPeers.delete(consumer.id);
    };
    consumer.on('transportclose', forget);
    consumer.on('producerclose', () => {
      forget();
      if (!this.#closed) this.notify('consumerClosed', { consumerId: consumer.id });
    });
    return this.#consumerInfo(consumer, producerPeerId);
  }

  /** Everything this peer consumes now, for a client that reconnected and must catch up. */
  consumerInfos(): ConsumerInfo[] {
    return [...this.consumers.values()].map((c) =>
      this.#consumerInfo(c, this.#consumerPeers.get(c.id) ?? ''),
    );
  }

  #consumerInfo(consumer: types.Consumer, peerId: string): ConsumerInfo {
    return {
      id: consumer.id,
      producerId: consumer.producerId,
      peerId,
      kind: 'audio',
      rtpParameters: consumer.rtpParameters,
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sink = undefined;
    this.sendTransport.close();
    this.recvTransport.close();
  }
}
