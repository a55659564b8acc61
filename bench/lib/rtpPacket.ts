/**
 * The plain RTP the load generator sends: Opus-like packets (payload type 100, 48 kHz
 * clock, +960 per 20 ms frame) with an ssrc-audio-level header extension, as a
 * browser's would carry, so a room's AudioLevelObserver has real work to do.
 *
 * Payload layout (mediasoup forwards payloads untouched):
 *   0     tag: which measurement group the stream belongs to (every packet)
 *   1..8  talking frames only: send time, performance.now() of the sending process as
 *         a float64 in ms (the receiver is the same process, so the clocks agree)
 * A talking frame is 100 bytes (a typical Opus voice frame); a DTX frame (silence)
 * is 3 bytes and carries no time stamp.
 */
export const PAYLOAD_TYPE = 100;
export const AUDIO_LEVEL_EXTENSION_ID = 1;
export const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';
export const TALK_PAYLOAD_BYTES = 100;
export const DTX_PAYLOAD_BYTES = 3;
export const FRAME_SAMPLES = 960;
const HEADER_BYTES = 12;
const EXTENSION_BYTES = 8; // 0xBEDE profile + length, one 2-byte element, 2 bytes padding
const STAMPED_MIN_PAYLOAD = 9;
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
  readonly #talk: Buffer;
  readonly #dtx: Buffer;
  #seq = Math.floor(Math.random() * 0x10000);
  #timestamp = Math.floor(Math.random() * 0x1_0000_0000);

  constructor(ssrc: number, tag: number) {
    this.#talk = RtpWriter.#template(ssrc, TALK_PAYLOAD_BYTES, tag, -30);
    this.#dtx = RtpWriter.#template(ssrc, DTX_PAYLOAD_BYTES, tag, -127);
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
    packet[PAYLOAD_OFFSET] = tag;
    return packet;
  }

  /** The next packet, in a fresh buffer (dgram may still hold the previous one). */
  write(talking: boolean, sendTimeMs: number): Buffer {
    const template = talking ? this.#talk : this.#dtx;
    const packet = Buffer.allocUnsafe(template.length);
    template.copy(packet);
    packet.writeUInt16BE(this.#seq, 2);
    packet.writeUInt32BE(this.#timestamp, 4);
    if (talking) packet.writeDoubleBE(sendTimeMs, PAYLOAD_OFFSET + 1);
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + FRAME_SAMPLES) >>> 0;
    return packet;
  }
}

/**
 * Where the payload starts, or -1 for RTCP and non-RTP datagrams (no allocation: the
 * receiver calls this for every packet). Tag: `packet[offset]`; send time, when
 * `isStamped`: `packet.readDoubleBE(offset + 1)`.
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

export function isStamped(packet: Buffer, payloadOffset: number): boolean {
  return packet.length - payloadOffset >= STAMPED_MIN_PAYLOAD;
}
