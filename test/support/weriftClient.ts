/**
 * A real WebRTC participant for tests: our signaling protocol over a real socket.io
 * connection (SignalingClient), media through werift, SDP built by hand from the join
 * ack's TransportInfo (weriftPeer.ts). What a browser running client/src/call.ts does,
 * minus the browser:
 *
 *   const a = await WeriftClient.create({ url, roomId: 'r', nickname: 'Ann' });
 *   const b = await WeriftClient.create({ url, roomId: 'r', nickname: 'Bob' });
 *   a.sendRtp(Buffer.alloc(100)); // caller paces at 20 ms
 *   await b.waitForPackets(a.peerId, 1, 5000);
 *   await b.leave(); a.close({ abrupt: true });
 *
 * Send side: werift offers, mediasoup "answers" (built from `sendTransport`); DTLS
 * parameters and the producer go to the server as `connectTransport` and `produce`.
 * Receive side: one werift RTCPeerConnection on the receive transport (one DTLS
 * association), created at the first consumer. Each batch of consumers (the join ack's,
 * then every `newConsumer` push) renegotiates it: mediasoup's side offers one m-section
 * per consumer (`a=setup:actpass`), werift answers and keeps its DTLS role, then the
 * consumers are resumed with `resumeConsumers`. Negotiations run one at a time.
 *
 * Limits: Opus only, no RTCP feedback, no header extensions, no RTX; loopback only
 * (the server must announce 127.0.0.1); a closed consumer's m-section is kept as it is
 * (mediasoup never reuses a mid, and it sends nothing more there); no reconnect/resume,
 * restartIce or mute. With `produce: false` the send transport never connects, so the
 * server releases the peer after JOIN_TIMEOUT_MS (as it would a stuck browser).
 */
import { EventEmitter } from 'node:events';
import type { MediaStreamTrack, RTCPeerConnection, RtpPacket } from 'werift';
import type { ConsumerInfo, Responses } from '../../src/protocol/protocol.ts';
import { SignalingClient } from './signalingClient.ts';
import {
  answerDtlsParameters,
  consumerMediaSection,
  createPeerConnection,
  createSendOffer,
  mediasoupSdp,
  OpusRtpWriter,
  type SdpMediaSection,
  type SendOffer,
  weriftConnected,
  weriftRtpCapabilities,
  withTimeout,
} from './weriftPeer.ts';

export type WeriftClientOptions = {
  /** The server's base URL, e.g. `http://127.0.0.1:1234`. */
  url: string;
  roomId: string;
  nickname: string;
  /** Produce a microphone stream to send with sendRtp() (default true). */
  produce?: boolean;
  /** Bound on each ICE + DTLS set-up, in ms (default 10000). */
  timeoutMs?: number;
};

export type WeriftClientEvents = {
  /** One RTP payload from `peerId` (copied, safe to keep). */
  rtp: [peerId: string, payload: Buffer];
  /** A consumer is negotiated and resumed: its packets flow from now on. */
  consumer: [consumer: ConsumerInfo];
};

type SendSide = { pc: RTCPeerConnection; track: MediaStreamTrack; writer: OpusRtpWriter };

export class WeriftClient extends EventEmitter<WeriftClientEvents> {
  readonly signaling: SignalingClient;
  /** The join ack: peer id, transports, peers and consumers at join time. */
  readonly joined: Responses['join'];
  readonly producerId: string | undefined;
  /** Consumers negotiated or being negotiated, by consumer id (closed ones removed). */
  readonly consumers = new Map<string, ConsumerInfo>();
  /** RTP packets received so far, by producing peer id. */
  readonly received = new Map<string, number>();
  readonly #send: SendSide | undefined;
  readonly #timeoutMs: number;
  #recv: RTCPeerConnection | undefined;
  readonly #sections: SdpMediaSection[] = [];
  readonly #peerBySsrc = new Map<number, string>();
  #negotiation: Promise<void> = Promise.resolve();
  #error: Error | undefined;
  #closed = false;

  static async create(options: WeriftClientOptions): Promise<WeriftClient> {
    const { url, roomId, nickname, produce = true, timeoutMs = 10_000 } = options;
    const signaling = await SignalingClient.connect(url);
    // Pushes may arrive while the send side comes up: hold them for the receive side.
    const early: ConsumerInfo[] = [];
    const hold = (consumer: ConsumerInfo) => early.push(consumer);
    signaling.socket.on('newConsumer', hold);
    let offer: SendOffer | undefined;
    let client: WeriftClient | undefined;
    try {
      const { routerRtpCapabilities } = await signaling.call('capabilities', {});
      if (!routerRtpCapabilities.codecs?.some((c) => c.mimeType.toLowerCase() === 'audio/opus')) {
        throw new Error('the server does not offer Opus');
      }
      const joined = await signaling.call('join', {
        roomId,
        nickname,
        rtpCapabilities: weriftRtpCapabilities,
      });
      let producerId: string | undefined;
      let send: SendSide | undefined;
      if (produce) {
        offer = await createSendOffer();
        const transportId = joined.sendTransport.id;
        const { dtlsParameters, rtpParameters, pc } = offer;
        await signaling.call('connectTransport', { transportId, dtlsParameters });
        ({ producerId } = await signaling.call('produce', {
          transportId,
          kind: 'audio',
          rtpParameters,
        }));
        const connected = weriftConnected(pc);
        await pc.setRemoteDescription({ type: 'answer', sdp: offer.answer(joined.sendTransport) });
        await withTimeout(connected, timeoutMs, 'WeriftClient send side connect');
        send = { pc, track: offer.track, writer: new OpusRtpWriter(offer.track, rtpParameters) };
      }
      client = new WeriftClient(signaling, joined, producerId, send, timeoutMs);
      signaling.socket.off('newConsumer', hold);
      await client.#enqueue([...joined.consumers, ...early]);
      return client;
    } catch (error) {
      if (client) client.close();
      else {
        offer?.track.stop();
        await offer?.pc.close();
        signaling.close();
      }
      throw error;
    }
  }

  private constructor(
    signaling: SignalingClient,
    joined: Responses['join'],
    producerId: string | undefined,
    send: SendSide | undefined,
    timeoutMs: number,
  ) {
    super();
    this.signaling = signaling;
    this.joined = joined;
    this.producerId = producerId;
    this.#send = send;
    this.#timeoutMs = timeoutMs;
    const { socket } = signaling;
    socket.on('newConsumer', (consumer) => {
      this.#enqueue([consumer]).catch(() => undefined); // kept in `error`
    });
    socket.on('consumerClosed', ({ consumerId }) => {
      this.consumers.delete(consumerId);
    });
    socket.on('disconnect', () => this.close());
  }

  get peerId(): string {
    return this.joined.peerId;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The first failure of a receive-side negotiation pushed by the server, if any. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** RTP packets handed to werift so far. */
  get sent(): number {
    return this.#send?.writer.sent ?? 0;
  }

  /** Packets received from one producing peer so far. */
  receivedFrom(peerId: string): number {
    return this.received.get(peerId) ?? 0;
  }

  /** Sends one 20 ms Opus frame (any bytes: mediasoup does not decode); pacing is yours. */
  sendRtp(payload: Buffer): void {
    if (this.#closed) throw new Error('WeriftClient is closed');
    if (!this.#send) throw new Error('WeriftClient was created with produce: false');
    this.#send.writer.write(payload);
  }

  /** Resolves once `count` packets in total have come from `peerId`; rejects after `timeoutMs`. */
  waitForPackets(peerId: string, count: number, timeoutMs: number): Promise<void> {
    if (this.receivedFrom(peerId) >= count) return Promise.resolve();
    let onRtp: (() => void) | undefined;
    const reached = new Promise<void>((resolve) => {
      onRtp = () => {
        if (this.receivedFrom(peerId) >= count) resolve();
      };
      this.on('rtp', onRtp);
    });
    const label = () =>
      `WeriftClient ${this.peerId}: waiting for ${count} packets from ${peerId} ` +
      `(got ${this.receivedFrom(peerId)}${this.#error ? `; ${this.#error.message}` : ''})`;
    return withTimeout(reached, timeoutMs, label).finally(() => {
      if (onRtp) this.off('rtp', onRtp);
    });
  }

  /** Leaves the room through signaling, then closes. */
  async leave(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.signaling.call('leave', {});
    } finally {
      this.close();
    }
  }

  /**
   * Closes media and signaling; idempotent. `abrupt` drops the connection without a
   * socket.io disconnect packet (like a lost network): the server keeps the peer's place
   * for RECONNECT_GRACE_MS instead of removing it at once.
   */
  close(options: { abrupt?: boolean } = {}): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#send?.track.stop();
    this.#send?.pc.close().catch(() => undefined);
    this.#recv?.close().catch(() => undefined);
    if (options.abrupt) this.signaling.socket.io.engine?.close();
    else this.signaling.close();
  }

  /** Negotiations run one at a time, in arrival order. */
  #enqueue(consumers: ConsumerInfo[]): Promise<void> {
    const run = this.#negotiation.then(() => this.#consume(consumers));
    this.#negotiation = run.catch((error: Error) => {
      this.#error ??= error;
    });
    return run;
  }

  async #consume(infos: ConsumerInfo[]): Promise<void> {
    const fresh = infos.filter((info) => !this.consumers.has(info.id));
    if (this.#closed || fresh.length === 0) return;
    for (const info of fresh) {
      const section = consumerMediaSection(info);
      this.#sections.push(section);
      this.#peerBySsrc.set(section.ssrc.ssrc, info.peerId);
      this.consumers.set(info.id, info);
    }
    const first = !this.#recv;
    this.#recv ??= this.#createReceiver();
    const pc = this.#recv;
    const sdp = mediasoupSdp({
      transport: this.joined.recvTransport,
      setup: 'actpass',
      media: this.#sections,
    });
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await pc.createAnswer();
    let connected: Promise<void> | undefined;
    if (first) {
      await this.signaling.call('connectTransport', {
        transportId: this.joined.recvTransport.id,
        dtlsParameters: answerDtlsParameters(answer.sdp),
      });
      connected = weriftConnected(pc);
    }
    await pc.setLocalDescription(answer);
    if (connected) await withTimeout(connected, this.#timeoutMs, 'WeriftClient recv connect');
    if (this.#closed) return;
    await this.signaling.call('resumeConsumers', { consumerIds: fresh.map((c) => c.id) });
    for (const info of fresh) this.emit('consumer', info);
  }

  #createReceiver(): RTCPeerConnection {
    const pc = createPeerConnection();
    // Tracks appear during setRemoteDescription, again at each renegotiation: listen
    // once per track. Packets are told apart by SSRC.
    const tracks = new WeakSet<MediaStreamTrack>();
    pc.onTrack.subscribe((track) => {
      if (tracks.has(track)) return;
      tracks.add(track);
      track.onReceiveRtp.subscribe((packet) => this.#onRtp(packet));
    });
    return pc;
  }

  #onRtp(packet: RtpPacket): void {
    const peerId = this.#peerBySsrc.get(packet.header.ssrc);
    if (this.#closed || !peerId) return;
    this.received.set(peerId, this.receivedFrom(peerId) + 1);
    this.emit('rtp', peerId, Buffer.from(packet.payload));
  }
}
