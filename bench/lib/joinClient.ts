/**
 * A joining person for the join-time benchmark: GhostTalk's socket.io protocol and real
 * WebRTC (werift, ICE + DTLS + SRTP), issuing its requests in the same order and with
 * the same overlap as the browser app (client/src/call.ts with mediasoup-client):
 *
 *   page load:  connect, `capabilities`            (before the clock starts)
 *   Join:       `join`                                          round trip 1
 *               send side: `connectTransport` -> `produce`      round trips 2, 3
 *               receive side: `connectTransport` -> `resumeConsumers`  (in parallel)
 *
 * The clock runs from sending `join` to the first RTP packet received from anyone.
 * (test/support/weriftClient.ts runs these steps one after another, so it would measure
 * a slower client than the browser app.) Talkers send 50 Opus-sized packets/s.
 */
import type { RTCPeerConnection } from 'werift';
import type { Responses } from '../../src/protocol/protocol.ts';
import { SignalingClient } from '../../test/support/signalingClient.ts';
import {
  answerDtlsParameters,
  consumerMediaSection,
  createPeerConnection,
  createSendOffer,
  mediasoupSdp,
  OpusRtpWriter,
  weriftConnected,
  weriftRtpCapabilities,
  withTimeout,
} from '../../test/support/weriftPeer.ts';

type Timing = { event: string; depth: number };

export type JoinMeasurement = {
  /** From sending `join` to the first RTP packet received. */
  ms: number;
  requests: number;
  /** Longest chain of requests that waited for each other's answers. */
  roundTrips: number;
  peerId: string;
  /**
   * The longest time werift itself spent in createOffer/setLocalDescription (its ICE
   * gathering): a client-side cost no browser shows at that size.
   */
  clientStallMs: number;
  /** When each step finished, ms from sending `join` (to explain slow joins). */
  phasesMs: Record<string, number>;
};

export class JoinClient {
  readonly signaling: SignalingClient;
  readonly #log: Timing[] = [];
  readonly #pcs: RTCPeerConnection[] = [];
  #talkTimer: NodeJS.Timeout | undefined;
  #firstPacket: (() => void) | undefined;
  #firstPacketAt = 0;
  #start = 0;
  #clientStallMs = 0;
  readonly #phases: Record<string, number> = {};
  /** RTP packets received and sent so far. */
  received = 0;
  sent = 0;
  #joined: Responses['join'] | undefined;
  #closed = false;

  /** Connects and fetches capabilities, as the page does on load. */
  static async open(url: string): Promise<JoinClient> {
    const signaling = await SignalingClient.connect(url);
    await signaling.call('capabilities', {});
    return new JoinClient(signaling);
  }

  private constructor(signaling: SignalingClient) {
    this.signaling = signaling;
  }

  get peerId(): string | undefined {
    return this.#joined?.peerId;
  }

  async #request<N extends 'join' | 'connectTransport' | 'produce' | 'resumeConsumers'>(
    name: N,
    payload: unknown,
    after?: Timing,
  ): Promise<{ data: Responses[N]; timing: Timing }> {
    const timing = { event: name, depth: (after?.depth ?? 0) + 1 };
    this.#log.push(timing);
    const data = await this.signaling.call(name, payload);
    return { data, timing };
  }

  /**
   * Joins, produces (sending 50 packets/s if `talk`) and consumes whoever talks;
   * resolves at the first received packet (or at once if nobody talks and `talk`).
   */
  async join(options: { roomId: string; nickname: string; talk: boolean; timeoutMs: number }) {
    const start = performance.now();
    this.#start = start;
    const { data: joined, timing: joinTiming } = await this.#request('join', {
      roomId: options.roomId,
      nickname: options.nickname,
      rtpCapabilities: weriftRtpCapabilities,
    });
    this.#phase('joinAck');
    this.#joined = joined;
    const firstPacket = new Promise<void>((resolve) => {
      this.#firstPacket = resolve;
    });
    const send = this.#produce(joined, joinTiming, options.talk);
    const receive = this.#consume(joined, joinTiming);
    await withTimeout(Promise.all([send, receive]), options.timeoutMs, 'join set-up');
    if (joined.consumers.length > 0) {
      await withTimeout(firstPacket, options.timeoutMs, `first packet in ${options.roomId}`);
    }
    return {
      ms: (this.#firstPacketAt || performance.now()) - start,
      requests: this.#log.length,
      roundTrips: Math.max(...this.#log.map((t) => t.depth)),
      peerId: joined.peerId,
      clientStallMs: Math.round(this.#clientStallMs),
      phasesMs: this.#phases,
    } satisfies JoinMeasurement;
  }

  /** Runs a werift step and remembers the longest one. */
  async #werift<T>(step: Promise<T>): Promise<T> {
    const start = performance.now();
    const result = await step;
    this.#clientStallMs = Math.max(this.#clientStallMs, performance.now() - start);
    return result;
  }

  #phase(name: string): void {
    this.#phases[name] = Math.round(performance.now() - this.#start);
  }

  async #produce(joined: Responses['join'], after: Timing, talk: boolean): Promise<void> {
    const offer = await this.#werift(createSendOffer());
    this.#pcs.push(offer.pc);
    const transportId = joined.sendTransport.id;
    const { timing } = await this.#request(
      'connectTransport',
      { transportId, dtlsParameters: offer.dtlsParameters },
      after,
    );
    const connected = weriftConnected(offer.pc);
    await offer.pc.setRemoteDescription({
      type: 'answer',
      sdp: offer.answer(joined.sendTransport),
    });
    await this.#request(
      'produce',
      { transportId, kind: 'audio', rtpParameters: offer.rtpParameters },
      timing,
    );
    this.#phase('produceAck');
    await connected;
    this.#phase('sendConnected');
    if (!talk || this.#closed) return;
    const writer = new OpusRtpWriter(offer.track, offer.rtpParameters);
    const payload = Buffer.alloc(100, 0x55);
    this.#talkTimer = setInterval(() => {
      writer.write(payload);
      this.sent++;
    }, 20);
  }

  async #consume(joined: Responses['join'], after: Timing): Promise<void> {
    if (joined.consumers.length === 0) return;
    const pc = createPeerConnection();
    this.#pcs.push(pc);
    pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe(() => {
        this.received++;
        if (this.#firstPacketAt === 0) {
          this.#firstPacketAt = performance.now();
          this.#phase('firstPacket');
          this.#firstPacket?.();
        }
      });
    });
    const sdp = mediasoupSdp({
      transport: joined.recvTransport,
      setup: 'actpass',
      media: joined.consumers.map((c) => consumerMediaSection(c)),
    });
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await pc.createAnswer();
    const { timing } = await this.#request(
      'connectTransport',
      { transportId: joined.recvTransport.id, dtlsParameters: answerDtlsParameters(answer.sdp) },
      after,
    );
    // mediasoup-client resumes as soon as the transport's connect is acknowledged.
    const resumed = this.#request(
      'resumeConsumers',
      { consumerIds: joined.consumers.map((c) => c.id) },
      timing,
    );
    this.#phase('recvConnectAck');
    const connected = weriftConnected(pc);
    await this.#werift(pc.setLocalDescription(answer));
    this.#phase('recvLocalDescription');
    await resumed;
    this.#phase('resumeAck');
    await connected;
    this.#phase('recvConnected');
  }

  async leave(): Promise<void> {
    if (this.#closed) return;
    await this.signaling.call('leave', {}).catch(() => undefined);
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#talkTimer);
    for (const pc of this.#pcs) pc.close().catch(() => undefined);
    this.signaling.close();
  }
}
