/**
 * The plain RTP the load generator sends: Opus-like packets (payload type 100, 48 kHz
 * clock, +960 per 20 ms frame) with an ssrc-audio-level header extension, as a
 * browser's would carry, so a room's AudioLevelObserver has real work to do.
 *
 * The RTP timestamp is the send time: performance.now() of the sending process on the
 * 48 kHz clock (+960 per 20 ms frame, as a real sender's). mediasoup's consumers keep the
 * producer's timestamps (a simple stream's offset is 0) and SRTP leaves the header in
 * the clear, so the receiver (the same process: the clocks agree) reads transit times
 * off every talking frame, encrypted or not, to 1/48 ms.
 *
 * Payload byte 0 is an Opus TOC byte (code 0: one frame) whose upper six bits carry the
 * tag: which measurement group the stream belongs to (readable on plain consumers; SRTP
 * receivers know their SSRCs instead). Frames, sized as Chromium sends them (measured
 * with tcpdump on a real Chromium's SRTP packets, header and tag subtracted):
 *   talk           100 bytes every 20 ms: a typical Opus voice frame
 *   comfortNoise   35 bytes, and
 *   dtx            1 byte (the TOC alone: mediasoup's Opus parser calls it DTX), each
 *                  about every 400 ms of silence, alternating (2 × 2.5 packets/s)
 */
export const PAYLOAD_TYPE = 100;
export const AUDIO_LEVEL_EXTENSION_ID = 1;
export const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';
export type FrameKind = 'talk' | 'comfortNoise' | 'dtx';
const PAYLOAD_BYTES: Record<FrameKind, number> = { talk: 100, comfortNoise: 35, dtx: 1 };
/** Tags fit the TOC byte's upper six bits. */
export const MAX_TAG = 63;
const HEADER_BYTES = 12;
const EXTENSION_BYTES = 8; // 0xBEDE profile + length, one 2-byte element, 2 bytes padding
/** Payloads at least this long are talking frames (comfort noise is 35 bytes, +16 with SRTP). */
const TALK_MIN_PAYLOAD = 80;
const CLOCK_PER_MS = 48;
const PAYLOAD_OFFSET = HEADER_BYTES + EXTENSION_BYTES;

/** What a producer's rtpParameters must say for these packets. */
export function producerRtpParameters(ssrc: number) {
  return {
    codecs: [
      {
        mimeType: 'audio/opus',
        payloadType: PAYLOAD_TYPE,
        clockRate: 48000,
        channels: 2,
        parameters: { useinbandfec: 1, usedtx: 1 },
        rtcpFeedback: [],
      },
    ],
    headerExtensions: [{ uri: AUDIO_LEVEL_URI, id: AUDIO_LEVEL_EXTENSION_ID }],
    encodings: [{ ssrc }],
  } as const;
}

/** A reusable packet buffer for one stream; `write` fills in the per-packet fields. */
export class RtpWriter {
  readonly #templates: Record<FrameKind, Buffer>;
  #seq = Math.floor(Math.random() * 0x10000);

  constructor(ssrc: number, tag: number) {
    if (!Number.isInteger(tag) || tag < 0 || tag > MAX_TAG) {
      throw new RangeError(`tag ${tag} is not 0..${MAX_TAG}`);
    }
    this.#templates = {
      talk: RtpWriter.#template(ssrc, PAYLOAD_BYTES.talk, tag, -30),
      comfortNoise: RtpWriter.#template(ssrc, PAYLOAD_BYTES.comfortNoise, tag, -127),
      dtx: RtpWriter.#template(ssrc, PAYLOAD_BYTES.dtx, tag, -127),
    };
  }

  static #template(ssrc: number, payloadBytes: number, tag: number, dbov: number): Buffer {
    const packet = Buffer.alloc(HEADER_BYTES + EXTENSION_BYTES + payloadBytes);
    packet[0] = 0x90; // V=2, X=1
    packet[1] = PAYLOAD_TYPE;
    packet.writeUInt32BE(ssrc >>> 0, 8);
    packet.writeUInt16BE(0xbede, 12);
    packet.writeUInt16BE(1, 14);
    packet[16] = (AUDIO_LEVEL_EXTENSION_ID << 4) | 0; // one byte of data
    packet[17] = (dbov > -127 ? 0x80 : 0) | Math.min(127, -dbov); // V flag + level
    packet[PAYLOAD_OFFSET] = tag << 2;
    return packet;
  }

  /** The next packet, in a fresh buffer (dgram may still hold the previous one). */
  write(kind: FrameKind, sendTimeMs: number): Buffer {
    const template = this.#templates[kind];
    const packet = Buffer.allocUnsafe(template.length);
    template.copy(packet);
    packet.writeUInt16BE(this.#seq, 2);
    packet.writeUInt32BE(rtpClock(sendTimeMs), 4);
    this.#seq = (this.#seq + 1) & 0xffff;
    return packet;
  }
}

function rtpClock(ms: number): number {
  return Math.round(ms * CLOCK_PER_MS) >>> 0;
}

/**
 * Where the payload starts, or -1 for RTCP and non-RTP datagrams (no allocation: the
 * receiver calls this for every packet). Tag: `packetTag` (plain packets).
 */
export function rtpPayloadOffset(packet: Buffer): number {
  if (packet.length < HEADER_BYTES || (packet[0] as number) >> 6 !== 2) return -1;
  const payloadType = (packet[1] as number) & 0x7f;
  if (payloadType >= 72 && payloadType <= 76) return -1; // RTCP (rtcp-mux)
  let offset = HEADER_BYTES + 4 * ((packet[0] as number) & 0x0f);
  if ((packet[0] as number) & 0x10) {
    if (packet.length < offset + 4) return -1;
    offset += 4 + 4 * packet.readUInt16BE(offset + 2);
  }
  return offset < packet.length ? offset : -1;
}

export function packetTag(packet: Buffer, payloadOffset: number): number {
  return (packet[payloadOffset] as number) >> 2;
}

export function isTalking(packet: Buffer, payloadOffset: number): boolean {
  return packet.length - payloadOffset >= TALK_MIN_PAYLOAD;
}

/** µs from a packet's send time (its RTP timestamp) to `nowMs`, same clock. */
export function transitUs(packet: Buffer, nowMs: number): number {
  const ticks = (rtpClock(nowMs) - packet.readUInt32BE(4)) >>> 0;
  return (ticks * 1000) / CLOCK_PER_MS;
}
