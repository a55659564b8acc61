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

function createPeerConnection(): RTCPeerConnection {
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
function restrictSrtpProfile(pc: RTCPeerConnection, profile: SrtpProfileName | undefined): void {
  if (!profile) return;
  if (pc.dtlsTransports.length === 0) throw new Error('werift: no DTLS transport to configure');
  for (const dtls of pc.dtlsTransports) {
    if (dtls.state !== 'new') throw new Error('werift: DTLS already started');
    (dtls as unknown as { srtpProfiles: SrtpProfile[] }).srtpProfiles = [srtpProfileIds[profile]];
  }
}

function negotiatedSrtpProfile(pc: RTCPeerConnection): SrtpProfileName | undefined {
  const id = pc.dtlsTransports[0]?.dtls?.srtp.srtpProfile;
  const entry = Object.entries(srtpProfileIds).find(([, value]) => value === id);
  return entry?.[0] as SrtpProfileName | undefined;
}

function withTimeout<T>(
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
function weriftConnected(pc: RTCPeerConnection): Promise<void> {
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

function audioMedia(sdp: string): MediaDescription {
  const media = SessionDescription.parse(sdp).media.find((m) => m.kind === 'audio');
  if (!media) throw new Error('werift SDP has no audio m-section');
  return media;
}

function weriftFingerprints(media: MediaDescription): types.DtlsFingerprint[] {
  const fingerprints = (media.dtlsParams?.fingerprints ?? []).map((f) => ({
    algorithm: f.algorithm.toLowerCase() as types.FingerprintAlgorithm,
    value: f.value,
  }));
  if (fingerprints.length === 0) throw new Error('werift SDP has no a=fingerprint');
  return fingerprints;
}

type SdpCodec = {
  payloadType: number;
  /** e.g. `opus` */
  name: string;
  clockRate: number;
  channels?: number;
  parameters?: Record<string, unknown>;
};

/**
 * The mediasoup side of an offer/answer: one audio m-section carrying the transport's
 * ICE-lite credentials, its UDP candidates and its sha-256 fingerprint.
 */
function mediasoupSdp(options: {
  transport: types.WebRtcTransport;
  mid: string;
  direction: 'sendonly' | 'recvonly';
  setup: 'active' | 'passive' | 'actpass';
  codecs: SdpCodec[];
  ssrc?: { ssrc: number; cname: string; streamId: string; trackId: string };
}): string {
  const { transport, mid, codecs, ssrc } = options;
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
    `a=group:BUNDLE ${mid}`,
    'a=msid-semantic: WMS *',
    `a=fingerprint:${fingerprint.algorithm} ${fingerprint.value}`,
    `m=audio ${first.port} UDP/TLS/RTP/SAVPF ${codecs.map((c) => c.payloadType).join(' ')}`,
    `c=IN IP4 ${first.address}`,
    `a=mid:${mid}`,
    `a=${options.direction}`,
    `a=ice-ufrag:${usernameFragment}`,
    `a=ice-pwd:${password}`,
    ...candidates.map(
      (c) => `a=candidate:${c.foundation} 1 udp ${c.priority} ${c.address} ${c.port} typ host`,
    ),
    'a=end-of-candidates',
    `a=setup:${options.setup}`,
    'a=rtcp-mux',
    'a=rtcp-rsize',
  ];
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
  return `${lines.join('\r\n')}\r\n`;
}

/** Closes the werift side when mediasoup closes the transport (router or worker gone). */
function onTransportGone(transport: types.WebRtcTransport, close: () => void): void {
  transport.observer.once('close', close);
}

/**
 * werift sends one Opus stream into a mediasoup Producer. werift offers, mediasoup
 * answers as DTLS client (`a=setup:active`), so werift is the DTLS server.
 */
export class WeriftSender {
  readonly pc: RTCPeerConnection;
  readonly transport: types.WebRtcTransport;
  readonly producer: types.Producer;
  readonly track: MediaStreamTrack;
  /** SSRC werift puts on the wire (from its offer). */
  readonly ssrc: number;
  readonly payloadType: number;
  #sequenceNumber = Math.floor(Math.random() * 0x10000);
  #timestamp = Math.floor(Math.random() * 0x1_0000_0000);
  #sent = 0;
  #closed = false;

  static async create(options: WeriftSenderOptions): Promise<WeriftSender> {
    const { transport, srtpProfile, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
    const pc = createPeerConnection();
    let producer: types.Producer | undefined;
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

      const answer = mediasoupSdp({
        transport,
        mid,
        direction: 'recvonly',
        setup: 'active',
        codecs: [{ payloadType: opus.payloadType, name: 'opus', clockRate: 48000, channels: 2 }],
      });
      await transport.connect({
        dtlsParameters: { role: 'server', fingerprints: weriftFingerprints(media) },
      });
      producer = await transport.produce({
        kind: 'audio',
        rtpParameters: {
          codecs: [
            {
              mimeType: 'audio/opus',
              payloadType: opus.payloadType,
              clockRate: 48000,
              channels: 2,
              parameters: {},
              rtcpFeedback: [],
            },
          ],
          headerExtensions: [],
          encodings: [{ ssrc: ssrcInfo.ssrc }],
          rtcp: { cname: ssrcInfo.cname, reducedSize: true },
        },
      });
      const connected = Promise.all([weriftConnected(pc), mediasoupDtlsConnected(transport)]);
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      await withTimeout(connected, timeoutMs, 'WeriftSender connect');
      return new WeriftSender(pc, transport, producer, track, ssrcInfo.ssrc, opus.payloadType);
    } catch (error) {
      producer?.close();
      transport.close();
      await pc.close();
      throw error;
    }
  }

  private constructor(
    pc: RTCPeerConnection,
    transport: types.WebRtcTransport,
    producer: types.Producer,
    track: MediaStreamTrack,
    ssrc: number,
    payloadType: number,
  ) {
    this.pc = pc;
    this.transport = transport;
    this.producer = producer;
    this.track = track;
    this.ssrc = ssrc;
    this.payloadType = payloadType;
    onTransportGone(transport, () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** RTP packets handed to werift so far. */
  get sent(): number {
    return this.#sent;
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
    const header = new RtpHeader({
      payloadType: this.payloadType,
      ssrc: this.ssrc,
      sequenceNumber: this.#sequenceNumber,
      timestamp: this.#timestamp,
      marker: this.#sent === 0,
    });
    this.track.writeRtp(new RtpPacket(header, payload));
    this.#sequenceNumber = (this.#sequenceNumber + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + OPUS_FRAME_SAMPLES) >>> 0;
    this.#sent++;
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
      const { rtpParameters } = consumer;
      const ssrc = rtpParameters.encodings?.[0]?.ssrc;
      const cname = rtpParameters.rtcp?.cname;
      if (ssrc === undefined || !cname) throw new Error('consumer has no SSRC or CNAME');
      const offer = mediasoupSdp({
        transport,
        mid: rtpParameters.mid ?? '0',
        direction: 'sendonly',
        setup: 'actpass',
        codecs: rtpParameters.codecs.map((c) => ({
          payloadType: c.payloadType,
          name: c.mimeType.split('/')[1] ?? c.mimeType,
          clockRate: c.clockRate,
          channels: c.channels,
          parameters: c.parameters,
        })),
        ssrc: { ssrc, cname, streamId: `mediasoup-${producerId}`, trackId: consumer.id },
      });

      // Tracks appear during setRemoteDescription; collect their packets from then on.
      const tracks: MediaStreamTrack[] = [];
      const { unSubscribe } = pc.onTrack.subscribe((track) => tracks.push(track));
      await pc.setRemoteDescription({ type: 'offer', sdp: offer });
      unSubscribe();
      restrictSrtpProfile(pc, srtpProfile);

      const answer = await pc.createAnswer();
      const media = audioMedia(answer.sdp);
      const weriftRole = media.dtlsParams?.role;
      if (weriftRole !== 'client' && weriftRole !== 'server') {
        throw new Error(`werift answered with DTLS role ${String(weriftRole)}`);
      }
      await transport.connect({
        dtlsParameters: { role: weriftRole, fingerprints: weriftFingerprints(media) },
      });
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
