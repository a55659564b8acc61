/**
 * werift (a pure TypeScript WebRTC stack) as a scriptable browser stand-in for
 * mediasoup WebRtcTransports: no signaling server, no mediasoup-client, just SDP built
 * by hand from the transport's ICE and DTLS parameters (mediasoup is ICE-lite, so
 * werift is the controlling ICE agent and mediasoup needs no werift candidates).
 *
 *   const sender = await WeriftSender.create({ transport: sendTransport });
 *   const receiver = await WeriftReceiver.create({ transport: recvTransport, producerId: sender.producer.id });
 *   receiver.on('rtp', (payload) => ...);
 *   sender.sendRtp(Buffer.from('...'));
 *   sender.close(); receiver.close();
 *
 * The SDP builders take plain transport parameters (`TransportParameters`: the fields of
 * a mediasoup transport and of the join ack's TransportInfo), so WeriftClient
 * (weriftClient.ts) reuses them over real signaling.
 *
 * Each peer owns the transport it is given (a transport's DTLS session belongs to one
 * peer), so close() closes the werift connection, the producer or consumer, and the
 * transport. Everything stays on 127.0.0.1: werift uses no STUN server and checks only
 * loopback-to-loopback candidate pairs, so the transport must announce 127.0.0.1.
 */
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import {
  type MediaDescription,
  MediaStreamTrack,
  ProtectionProfileAeadAes128Gcm,
  ProtectionProfileAes128CmHmacSha1_80,
  RTCPeerConnection,
  type RTCRtpTransceiver,
  RtpHeader,
  RtpPacket,
  SessionDescription,
  type SrtpProfile,
  useOPUS,
} from 'werift';
import type { TransportInfo } from '../../src/protocol/protocol.ts';

/** SRTP protection profiles werift implements, named as mediasoup names them. */
export type SrtpProfileName = 'AEAD_AES_128_GCM' | 'AES_CM_128_HMAC_SHA1_80';

export type WeriftPeerOptions = {
  /** Restrict werift to one SRTP profile; default: werift's own list (GCM preferred). */
  srtpProfile?: SrtpProfileName;
  /** Bound on ICE + DTLS set-up, in ms (default 10000). */
  timeoutMs?: number;
};

export type WeriftSenderOptions = WeriftPeerOptions & {
  /** A fresh WebRtcTransport announcing 127.0.0.1; the sender owns it from now on. */
  transport: types.WebRtcTransport;
};

export type WeriftReceiverOptions = WeriftPeerOptions & {
  /** A fresh WebRtcTransport announcing 127.0.0.1; the receiver owns it from now on. */
  transport: types.WebRtcTransport;
  /** Producer on the same router to consume. */
  producerId: string;
};

/** Opus 48 kHz stereo, no RTCP feedback, no header extensions: what werift is set up for. */
export const weriftRtpCapabilities: types.RtpCapabilities = {
  codecs: [
    {
      kind: 'audio',
      mimeType: 'audio/opus',
      preferredPayloadType: 111,
      clockRate: 48000,
      channels: 2,
      rtcpFeedback: [],
    },
  ],
  headerExtensions: [],
};

/** One Opus frame of 20 ms at 48 kHz. */
export const OPUS_FRAME_SAMPLES = 960;

const DEFAULT_TIMEOUT_MS = 10_000;
const LOOPBACK = '127.0.0.1';

const srtpProfileIds: Record<SrtpProfileName, SrtpProfile> = {
  AEAD_AES_128_GCM: ProtectionProfileAeadAes128Gcm,
  AES_CM_128_HMAC_SHA1_80: ProtectionProfileAes128CmHmacSha1_80,
};

export function createPeerConnection(): RTCPeerConnection {
  return new RTCPeerConnection({
    codecs: { audio: [useOPUS({ payloadType: 111 })], video: [] },
    headerExtensions: { audio: [], video: [] },
    iceServers: [],
    iceUseIpv6: false,
    iceInterfaceAddresses: { udp4: LOOPBACK },
    iceAdditionalHostAddresses: [LOOPBACK],
    // werift may gather other host addresses too; only loopback-to-loopback pairs are checked.
    iceFilterCandidatePair: (pair) =>
      pair.localCandidate.host === LOOPBACK && pair.remoteCandidate.host === LOOPBACK,
    bundlePolicy: 'max-bundle',
  });
}

/**
 * werift offers every profile it knows and has no setting to narrow them; the list is
 * a per-transport field read when DTLS starts, so it is replaced before that.
 */
export function restrictSrtpProfile(
  pc: RTCPeerConnection,
  profile: SrtpProfileName | undefined,
): void {
  if (!profile) return;
  if (pc.dtlsTransports.length === 0) throw new Error('werift: no DTLS transport to configure');
  for (const dtls of pc.dtlsTransports) {
    if (dtls.state !== 'new') throw new Error('werift: DTLS already started');
    (dtls as unknown as { srtpProfiles: SrtpProfile[] }).srtpProfiles = [srtpProfileIds[profile]];
  }
}

export function negotiatedSrtpProfile(pc: RTCPeerConnection): SrtpProfileName | undefined {
  const id = pc.dtlsTransports[0]?.dtls?.srtp.srtpProfile;
  const entry = Object.entries(srtpProfileIds).find(([, value]) => value === id);
  return entry?.[0] as SrtpProfileName | undefined;
}

export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string | (() => string),
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const label = typeof what === 'function' ? what() : what;
      reject(new Error(`${label}: timed out after ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves when mediasoup's side of DTLS is connected; rejects on failed/closed. */
function mediasoupDtlsConnected(transport: types.WebRtcTransport): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (state: types.DtlsState) => {
      if (state === 'connected') {
        transport.off('dtlsstatechange', check);
        resolve();
      } else if (state === 'failed' || state === 'closed') {
        transport.off('dtlsstatechange', check);
        reject(new Error(`mediasoup DTLS ${state}`));
      }
    };
    if (transport.closed) return reject(new Error('mediasoup transport closed'));
    transport.on('dtlsstatechange', check);
    check(transport.dtlsState);
  });
}

/** Resolves when werift's connection (ICE + DTLS) is connected; rejects on failed/closed. */
export function weriftConnected(pc: RTCPeerConnection): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (state: RTCPeerConnection['connectionState']) => {
      if (state === 'connected') resolve();
      else if (state === 'failed' || state === 'closed') reject(new Error(`werift ${state}`));
    };
    const { unSubscribe } = pc.connectionStateChange.subscribe((state) => {
      check(state);
      if (state === 'connected' || state === 'failed' || state === 'closed') unSubscribe();
    });
    check(pc.connectionState);
  });
}

export function audioMedia(sdp: string): MediaDescription {
  const media = SessionDescription.parse(sdp).media.find((m) => m.kind === 'audio');
  if (!media) throw new Error('werift SDP has no audio m-section');
  return media;
}

export function weriftFingerprints(media: MediaDescription): types.DtlsFingerprint[] {
  const fingerprints = (media.dtlsParams?.fingerprints ?? []).map((f) => ({
    algorithm: f.algorithm.toLowerCase() as types.FingerprintAlgorithm,
    value: f.value,
  }));
  if (fingerprints.length === 0) throw new Error('werift SDP has no a=fingerprint');
  return fingerprints;
}

/** werift's DTLS role and fingerprints from its answer to mediasoup's `actpass` offer. */
export function answerDtlsParameters(answerSdp: string): types.DtlsParameters {
  const media = audioMedia(answerSdp);
  const role = media.dtlsParams?.role;
  if (role !== 'client' && role !== 'server') {
    throw new Error(`werift answered with DTLS role ${String(role)}`);
  }
  return { role, fingerprints: weriftFingerprints(media) };
}

export type SdpCodec = {
  payloadType: number;
  /** e.g. `opus` */
  name: string;
  clockRate: number;
  channels?: number;
  parameters?: Record<string, unknown>;
};

/** What the SDP needs of a mediasoup WebRtcTransport: a transport or a TransportInfo. */
export type TransportParameters = Pick<
  TransportInfo,
  'iceParameters' | 'iceCandidates' | 'dtlsParameters'
>;

/** One audio m-section on mediasoup's side. */
export type SdpMediaSection = {
  mid: string;
  direction: 'sendonly' | 'recvonly';
  codecs: SdpCodec[];
  /** The stream mediasoup sends in this m-section (consumers only). */
  ssrc?: { ssrc: number; cname: string; streamId: string; trackId: string };
};

/**
 * The mediasoup side of an offer/answer: audio m-sections, all BUNDLEd on one
 * transport, each carrying its ICE-lite credentials, UDP candidates and sha-256
 * fingerprint (as mediasoup-client's RemoteSdp does).
 */
export function mediasoupSdp(options: {
  transport: TransportParameters;
  setup: 'active' | 'passive' | 'actpass';
  media: SdpMediaSection[];
}): string {
  const { transport, media } = options;
  const candidates = transport.iceCandidates.filter((c) => c.protocol === 'udp');
  const first = candidates[0];
  if (!first) throw new Error('mediasoup transport has no UDP candidate');
  const fingerprint = transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256');
  if (!fingerprint) throw new Error('mediasoup transport has no sha-256 fingerprint');
  const { usernameFragment, password } = transport.iceParameters;
  const lines = [
    'v=0',
    `o=mediasoup ${Date.now()} 1 IN IP4 ${first.address}`,
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=group:BUNDLE ${media.map((m) => m.mid).join(' ')}`,
    'a=msid-semantic: WMS *',
    `a=fingerprint:${fingerprint.algorithm} ${fingerprint.value}`,
  ];
  for (const { mid, direction, codecs, ssrc } of media) {
    lines.push(
      `m=audio ${first.port} UDP/TLS/RTP/SAVPF ${codecs.map((c) => c.payloadType).join(' ')}`,
      `c=IN IP4 ${first.address}`,
      `a=mid:${mid}`,
      `a=${direction}`,
      `a=ice-ufrag:${usernameFragment}`,
      `a=ice-pwd:${password}`,
      ...candidates.map(
        (c) => `a=candidate:${c.foundation} 1 udp ${c.priority} ${c.address} ${c.port} typ host`,
      ),
      'a=end-of-candidates',
      `a=setup:${options.setup}`,
      'a=rtcp-mux',
      'a=rtcp-rsize',
    );
    for (const codec of codecs) {
      const channels = codec.channels && codec.channels > 1 ? `/${codec.channels}` : '';
      lines.push(`a=rtpmap:${codec.payloadType} ${codec.name}/${codec.clockRate}${channels}`);
      const fmtp = Object.entries(codec.parameters ?? {})
        .map(([key, value]) => `${key}=${String(value)}`)
        .join(';');
      if (fmtp) lines.push(`a=fmtp:${codec.payloadType} ${fmtp}`);
    }
    if (ssrc) {
      lines.push(`a=msid:${ssrc.streamId} ${ssrc.trackId}`);
      lines.push(`a=ssrc:${ssrc.ssrc} cname:${ssrc.cname}`);
      lines.push(`a=ssrc:${ssrc.ssrc} msid:${ssrc.streamId} ${ssrc.trackId}`);
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The m-section mediasoup offers for one consumer (mediasoup gives each its own mid). */
export function consumerMediaSection(consumer: {
  id: string;
  producerId: string;
  rtpParameters: types.RtpParameters;
}): SdpMediaSection & { ssrc: NonNullable<SdpMediaSection['ssrc']> } {
  const { rtpParameters } = consumer;
  const ssrc = rtpParameters.encodings?.[0]?.ssrc;
  const cname = rtpParameters.rtcp?.cname;
  if (ssrc === undefined || !cname) throw new Error('consumer has no SSRC or CNAME');
  return {
    mid: rtpParameters.mid ?? '0',
    direction: 'sendonly',
    codecs: rtpParameters.codecs.map((c) => ({
      payloadType: c.payloadType,
      name: c.mimeType.split('/')[1] ?? c.mimeType,
      clockRate: c.clockRate,
      channels: c.channels,
      parameters: c.parameters,
    })),
    ssrc: { ssrc, cname, streamId: `mediasoup-${consumer.producerId}`, trackId: consumer.id },
  };
}

/**
 * werift's half of a send connection, before mediasoup is told anything: a sendonly
 * Opus offer set as local description. mediasoup answers as DTLS client
 * (`a=setup:active`), so werift is the DTLS server.
 */
export type SendOffer = {
  pc: RTCPeerConnection;
  track: MediaStreamTrack;
  /** For mediasoup's `transport.connect()` / our `connectTransport` request. */
  dtlsParameters: types.DtlsParameters;
  /** For `transport.produce()` / our `produce` request: what werift will send. */
  rtpParameters: types.RtpParameters;
  /** mediasoup's answer, built from the send transport's parameters. */
  answer: (transport: TransportParameters) => string;
};

export async function createSendOffer(srtpProfile?: SrtpProfileName): Promise<SendOffer> {
  const pc = createPeerConnection();
  try {
    const track = new MediaStreamTrack({ kind: 'audio' });
    const transceiver: RTCRtpTransceiver = pc.addTransceiver(track, { direction: 'sendonly' });
    restrictSrtpProfile(pc, srtpProfile);
    const offer = await pc.setLocalDescription(await pc.createOffer());
    const media = audioMedia(offer.string);
    const opus = media.rtp.codecs.find((c) => c.mimeType.toLowerCase() === 'audio/opus');
    const ssrcInfo = media.ssrc[0];
    if (!opus || !ssrcInfo?.cname) throw new Error('werift offer lacks Opus or a=ssrc cname');
    const mid = media.rtp.muxId ?? transceiver.mid ?? '0';
    const codec = { payloadType: opus.payloadType, clockRate: 48000, channels: 2 };
    return {
      pc,
      track,
      dtlsParameters: { role: 'server', fingerprints: weriftFingerprints(media) },
      rtpParameters: {
        codecs: [{ mimeType: 'audio/opus', ...codec, parameters: {}, rtcpFeedback: [] }],
        headerExtensions: [],
        encodings: [{ ssrc: ssrcInfo.ssrc }],
        rtcp: { cname: ssrcInfo.cname, reducedSize: true },
      },
      answer: (transport) =>
        mediasoupSdp({
          transport,
          setup: 'active',
          media: [{ mid, direction: 'recvonly', codecs: [{ ...codec, name: 'opus' }] }],
        }),
    };
  } catch (error) {
    await pc.close();
    throw error;
  }
}

/** Writes 20 ms Opus frames to a werift track: sequence number +1, timestamp +960 each. */
export class OpusRtpWriter {
  readonly #track: MediaStreamTrack;
  readonly ssrc: number;
  readonly payloadType: number;
  #sequenceNumber = Math.floor(Math.random() * 0x10000);
  #timestamp = Math.floor(Math.random() * 0x1_0000_0000);
  #sent = 0;

  constructor(track: MediaStreamTrack, rtpParameters: types.RtpParameters) {
    const ssrc = rtpParameters.encodings?.[0]?.ssrc;
    const payloadType = rtpParameters.codecs[0]?.payloadType;
    if (ssrc === undefined || payloadType === undefined) throw new Error('no SSRC or codec');
    this.#track = track;
    this.ssrc = ssrc;
    this.payloadType = payloadType;
  }

  get sent(): number {
    return this.#sent;
  }

  write(payload: Buffer): void {
    const header = new RtpHeader({
      payloadType: this.payloadType,
      ssrc: this.ssrc,
      sequenceNumber: this.#sequenceNumber,
      timestamp: this.#timestamp,
      marker: this.#sent === 0,
    });
    this.#track.writeRtp(new RtpPacket(header, payload));
    this.#sequenceNumber = (this.#sequenceNumber + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + OPUS_FRAME_SAMPLES) >>> 0;
    this.#sent++;
  }
}

/** Closes the werift side when mediasoup closes the transport (router or worker gone). */
function onTransportGone(transport: types.WebRtcTransport, close: () => void): void {
  transport.observer.once('close', close);
}

/** werift sends one Opus stream into a mediasoup Producer (werift offers, mediasoup answers). */
export class WeriftSender {
  readonly pc: RTCPeerConnection;
  readonly transport: types.WebRtcTransport;
  readonly producer: types.Producer;
  readonly track: MediaStreamTrack;
  readonly #writer: OpusRtpWriter;
  #closed = false;

  static async create(options: WeriftSenderOptions): Promise<WeriftSender> {
    const { transport, srtpProfile, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
    let offer: SendOffer | undefined;
    let producer: types.Producer | undefined;
    try {
      offer = await createSendOffer(srtpProfile);
      const { pc, dtlsParameters, rtpParameters } = offer;
      await transport.connect({ dtlsParameters });
      producer = await transport.produce({ kind: 'audio', rtpParameters });
      const connected = Promise.all([weriftConnected(pc), mediasoupDtlsConnected(transport)]);
      await pc.setRemoteDescription({ type: 'answer', sdp: offer.answer(transport) });
      await withTimeout(connected, timeoutMs, 'WeriftSender connect');
      return new WeriftSender(pc, transport, producer, offer.track, rtpParameters);
    } catch (error) {
      producer?.close();
      transport.close();
      await offer?.pc.close();
      throw error;
    }
  }

  private constructor(
    pc: RTCPeerConnection,
    transport: types.WebRtcTransport,
    producer: types.Producer,
    track: MediaStreamTrack,
    rtpParameters: types.RtpParameters,
  ) {
    this.pc = pc;
    this.transport = transport;
    this.producer = producer;
    this.track = track;
    this.#writer = new OpusRtpWriter(track, rtpParameters);
    onTransportGone(transport, () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** SSRC werift puts on the wire (from its offer). */
  get ssrc(): number {
    return this.#writer.ssrc;
  }

  get payloadType(): number {
    return this.#writer.payloadType;
  }

  /** RTP packets handed to werift so far. */
  get sent(): number {
    return this.#writer.sent;
  }

  /** The SRTP profile DTLS agreed on. */
  get srtpProfile(): SrtpProfileName | undefined {
    return negotiatedSrtpProfile(this.pc);
  }

  /**
   * Sends one 20 ms Opus frame (any bytes: mediasoup does not decode). Sequence number
   * +1 and timestamp +960 per call; pacing is the caller's.
   */
  sendRtp(payload: Buffer): void {
    if (this.#closed) throw new Error('WeriftSender is closed');
    this.#writer.write(payload);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.track.stop();
    this.producer.close();
    this.transport.close();
    this.pc.close().catch(() => undefined);
  }
}

export type WeriftReceiverEvents = {
  /** One RTP packet as werift decrypted it (payload copied, safe to keep). */
  rtp: [payload: Buffer, header: RtpHeader];
};

/**
 * werift receives one mediasoup Consumer. mediasoup offers (`a=setup:actpass`, paused
 * consumer), werift answers and picks its DTLS role; the consumer resumes once DTLS is
 * connected on both sides.
 */
export class WeriftReceiver extends EventEmitter<WeriftReceiverEvents> {
  readonly pc: RTCPeerConnection;
  readonly transport: types.WebRtcTransport;
  readonly consumer: types.Consumer;
  #received = 0;
  #closed = false;

  static async create(options: WeriftReceiverOptions): Promise<WeriftReceiver> {
    const { transport, producerId, srtpProfile, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
    const pc = createPeerConnection();
    let consumer: types.Consumer | undefined;
    try {
      consumer = await transport.consume({
        producerId,
        rtpCapabilities: weriftRtpCapabilities,
        paused: true,
      });
      const offer = mediasoupSdp({
        transport,
        setup: 'actpass',
        media: [consumerMediaSection(consumer)],
      });

      // Tracks appear during setRemoteDescription; collect their packets from then on.
      const tracks: MediaStreamTrack[] = [];
      const { unSubscribe } = pc.onTrack.subscribe((track) => tracks.push(track));
      await pc.setRemoteDescription({ type: 'offer', sdp: offer });
      unSubscribe();
      restrictSrtpProfile(pc, srtpProfile);

      const answer = await pc.createAnswer();
      await transport.connect({ dtlsParameters: answerDtlsParameters(answer.sdp) });
      const receiver = new WeriftReceiver(pc, transport, consumer, tracks);
      const connected = Promise.all([weriftConnected(pc), mediasoupDtlsConnected(transport)]);
      await pc.setLocalDescription(answer);
      await withTimeout(connected, timeoutMs, 'WeriftReceiver connect');
      await consumer.resume();
      return receiver;
    } catch (error) {
      consumer?.close();
      transport.close();
      await pc.close();
      throw error;
    }
  }

  private constructor(
    pc: RTCPeerConnection,
    transport: types.WebRtcTransport,
    consumer: types.Consumer,
    tracks: MediaStreamTrack[],
  ) {
    super();
    this.pc = pc;
    this.transport = transport;
    this.consumer = consumer;
    const listen = (track: MediaStreamTrack) =>
      track.onReceiveRtp.subscribe((packet) => {
        if (this.#closed) return;
        this.#received++;
        this.emit('rtp', Buffer.from(packet.payload), packet.header);
      });
    for (const track of tracks) listen(track);
    pc.onTrack.subscribe(listen);
    onTransportGone(transport, () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** RTP packets received so far. */
  get received(): number {
    return this.#received;
  }

  /** The SRTP profile DTLS agreed on. */
  get srtpProfile(): SrtpProfileName | undefined {
    return negotiatedSrtpProfile(this.pc);
  }

  /** Resolves once `count` packets in total have arrived; rejects after `timeoutMs`. */
  waitForPackets(count: number, timeoutMs: number): Promise<void> {
    if (this.#received >= count) return Promise.resolve();
    const reached = new Promise<void>((resolve) => {
      const onRtp = () => {
        if (this.#received < count) return;
        this.off('rtp', onRtp);
        resolve();
      };
      this.on('rtp', onRtp);
    });
    return withTimeout(
      reached,
      timeoutMs,
      () => `WeriftReceiver: waiting for ${count} packets (got ${this.#received})`,
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.consumer.close();
    this.transport.close();
    this.pc.close().catch(() => undefined);
  }
}
