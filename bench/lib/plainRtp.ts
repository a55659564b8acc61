/**
 * Plain-RTP media load on mediasoup routers: each simulated person is a producer
 * PlainTransport (comedia: the load generator's packets teach it where they come from)
 * plus a consumer PlainTransport that sends to one of the load generator's receive
 * sockets and carries one consumer per other person's producer. No ICE or DTLS: the
 * producers are plain RTP everywhere in this benchmark; consumers are plain RTP, or
 * SRTP (`srtp`: the worker encrypts every copy as it would for a browser, and the load
 * generator only counts them), or real WebRTC (werift, ICE + DTLS + SRTP) in srtpLoad.ts.
 */
import type { types } from 'mediasoup';
import { weriftRtpCapabilities } from '../../test/support/weriftPeer.ts';
import { type Child, spawnChild } from './ipc.ts';
import type { Snapshot, StreamKind, StreamSpec } from './loadgen.ts';
import { producerRtpParameters } from './rtpPacket.ts';
import { LatencyHistogram } from './stats.ts';

const HOST = '127.0.0.1';

/**
 * What the receiving side supports. `webrtc`: Opus only, no feedback, no header
 * extensions (what the werift receivers negotiate, so SRTP and plain compare like for
 * like). `browser`: the router's full capabilities (NACK, transport-cc, header
 * extensions), as a browser's consumers get them.
 */
export type ConsumerCaps = 'webrtc' | 'browser';

export class LoadGenerator {
  readonly #child: Child;
  readonly ports: number[];
  #nextSsrc = 0x10000 + Math.floor(Math.random() * 0x100000);

  static async start(receiveSockets = 4): Promise<LoadGenerator> {
    const child = await spawnChild(new URL('./loadgen.ts', import.meta.url));
    const { ports } = await child.call<{ ports: number[] }>('init', {
      sockets: receiveSockets,
      recvBufferBytes: 4 << 20,
    });
    return new LoadGenerator(child, ports);
  }

  private constructor(child: Child, ports: number[]) {
    this.#child = child;
    this.ports = ports;
  }

  get pid(): number {
    return this.#child.pid;
  }

  ssrc(): number {
    this.#nextSsrc += 1;
    return this.#nextSsrc;
  }

  async addStreams(streams: StreamSpec[]): Promise<void> {
    for (let i = 0; i < streams.length; i += 2000) {
      await this.#child.call('addStreams', { streams: streams.slice(i, i + 2000) });
    }
  }

  /** Packets to these SSRCs count for `tag`: SRTP consumers, whose payloads are sealed. */
  async tagSrtpSsrcs(tag: number, ssrcs: number[]): Promise<void> {
    for (let i = 0; i < ssrcs.length; i += 5000) {
      await this.#child.call('tagSrtpSsrcs', { tag, ssrcs: ssrcs.slice(i, i + 5000) });
    }
  }

  removeStreams(tag: number): Promise<void> {
    return this.#child.call('removeStreams', { tag });
  }

  /** Each packet of the tag's streams should now arrive `fanout` times. */
  setFanout(tag: number, fanout: number): Promise<void> {
    return this.#child.call('setFanout', { tag, fanout });
  }

  setEnabled(tag: number, on: boolean): Promise<void> {
    return this.#child.call('setEnabled', { tag, on });
  }

  snapshot(): Promise<Snapshot> {
    return this.#child.call<Snapshot>('snapshot');
  }

  async latency(tag: number, reset = true): Promise<LatencyHistogram> {
    const sparse = await this.#child.call<[number, number][]>('latency', { tag, reset });
    return LatencyHistogram.fromSparse(sparse);
  }

  async stop(): Promise<void> {
    await this.#child.call('close').catch(() => undefined);
    await this.#child.stop();
  }
}

export type PlainRoomOptions = {
  /** Peer i lives on routers[i % routers.length]; producers are piped where consumed. */
  routers: types.Router[];
  peers: number;
  /** The first `talkers` peers talk (50 packets/s each). */
  talkers: number;
  /**
   * The others: `dtx` sends what Chromium sends in silence (a comfort-noise frame and a
   * 1-byte DTX frame per 400 ms); `muted` sends nothing.
   */
  silent: 'dtx' | 'muted';
  consumerCaps: ConsumerCaps;
  /** Consumers' transports encrypt with this SRTP suite (default: plain RTP). */
  srtp?: types.SrtpCryptoSuite;
  /** Extra consume() options: GhostTalk's own (audioConsumerOptions) in its rooms. */
  consumerOptions?: { ignoreDtx?: boolean };
  tag: number;
  load: LoadGenerator;
  /** A room's speaking observer (GhostTalk's), which watches every producer. */
  audioLevelObserver?: types.AudioLevelObserver;
};

type PlainPeer = {
  router: types.Router;
  kind?: StreamKind;
  producer?: types.Producer;
  stream?: StreamSpec;
};

/** One room's worth of plain-RTP people; `streams` are handed to the load generator. */
export class PlainRoom {
  readonly transports: types.PlainTransport[] = [];
  readonly streams: StreamSpec[] = [];
  consumers = 0;

  static async create(options: PlainRoomOptions): Promise<PlainRoom> {
    const room = new PlainRoom();
    try {
      await room.#build(options);
    } catch (error) {
      room.close();
      throw error;
    }
    return room;
  }

  async #build(options: PlainRoomOptions): Promise<void> {
    const { routers, peers: count, talkers, silent, load, tag } = options;
    const peers: PlainPeer[] = [];
    const pipes = new Map<string, Promise<unknown>>();
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const router = routers[i % routers.length] as types.Router;
        const kind: StreamKind | undefined =
          i < talkers ? 'talk' : silent === 'dtx' ? 'dtx' : undefined;
        const peer: PlainPeer = { router, kind };
        peers[i] = peer;
        if (!kind) return;
        const transport = await this.#transport(router, { comedia: true });
        const ssrc = load.ssrc();
        peer.producer = await transport.produce({
          kind: 'audio',
          rtpParameters: producerRtpParameters(ssrc) as unknown as types.RtpParameters,
        });
        await options.audioLevelObserver?.addProducer({ producerId: peer.producer.id });
        peer.stream = {
          port: transport.tuple.localPort,
          ssrc,
          tag,
          fanout: 0,
          kind,
          consumersIgnoreDtx: options.consumerOptions?.ignoreDtx ?? false,
        };
        this.streams.push(peer.stream);
      }),
    );
    const srtpSsrcs: number[] = [];
    const rtpCapabilities = (router: types.Router) =>
      options.consumerCaps === 'browser' ? router.rtpCapabilities : weriftRtpCapabilities;
    await Promise.all(
      peers.map(async (peer, i) => {
        const sources = peers.filter((p, j) => j !== i && p.producer);
        if (sources.length === 0) return;
        const transport = await this.#transport(peer.router, {
          comedia: false,
          srtp: options.srtp,
        });
        await connectToReceiver(transport, load.ports[i % load.ports.length] as number);
        for (const source of sources) {
          const producer = source.producer as types.Producer;
          if (source.router !== peer.router) {
            const key = `${producer.id}:${peer.router.id}`;
            let pipe = pipes.get(key);
            if (!pipe) {
              pipe = source.router.pipeToRouter({ producerId: producer.id, router: peer.router });
              pipes.set(key, pipe);
            }
            await pipe;
          }
          const consumer = await transport.consume({
            producerId: producer.id,
            rtpCapabilities: rtpCapabilities(peer.router),
            ...options.consumerOptions,
          });
          if (options.srtp) srtpSsrcs.push(consumer.rtpParameters.encodings?.[0]?.ssrc as number);
          this.consumers += 1;
          if (source.stream) source.stream.fanout += 1;
        }
      }),
    );
    if (srtpSsrcs.length > 0) await load.tagSrtpSsrcs(tag, srtpSsrcs);
  }

  async #transport(
    router: types.Router,
    options: { comedia: boolean; srtp?: types.SrtpCryptoSuite },
  ): Promise<types.PlainTransport> {
    const transport = await createPlainTransport(router, options);
    this.transports.push(transport);
    return transport;
  }

  close(): void {
    for (const transport of this.transports) transport.close();
  }
}

/** A PlainTransport on 127.0.0.1; with `srtp`, it encrypts what it sends with that suite. */
export function createPlainTransport(
  router: types.Router,
  options: { comedia: boolean; srtp?: types.SrtpCryptoSuite },
): Promise<types.PlainTransport> {
  return router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: HOST },
    rtcpMux: true,
    comedia: options.comedia,
    ...(options.srtp ? { enableSrtp: true, srtpCryptoSuite: options.srtp } : {}),
  });
}

/**
 * Points a consumer transport at a load-generator socket. An SRTP transport needs the
 * remote side's key for what it would receive; the receivers send nothing, so its own
 * parameters do.
 */
export async function connectToReceiver(
  transport: types.PlainTransport,
  port: number,
): Promise<void> {
  const srtpParameters = transport.srtpParameters;
  await transport.connect({ ip: HOST, port, ...(srtpParameters ? { srtpParameters } : {}) });
}
