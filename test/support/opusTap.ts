import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type { types } from 'mediasoup';
import OpusScript from 'opusscript';

/**
 * What the server itself could hear of one producer: a PlainTransport consumer of it
 * towards a UDP socket here, each RTP payload decoded with a real Opus decoder (libopus
 * in opusscript). With end-to-end encryption the payload is ciphertext behind a clear
 * TOC byte, so it decodes (if at all) to noise without the speaker's tone.
 */
export type OpusTap = {
  readonly packets: number;
  /** Payloads libopus refused outright. */
  readonly undecodable: number;
  /** Share of the decoded signal's energy at `toneHz` (0..1): near 1 for a clean tone. */
  toneShare(toneHz: number): number;
  close(): Promise<void>;
};

const SAMPLE_RATE = 48_000;
const CHANNELS = 2;

/** RTP payload: past the fixed header, CSRCs and a header extension (RFC 3550 §5.3.1). */
function rtpPayload(packet: Buffer): Buffer | undefined {
  if (packet.length < 12 || packet[0] === undefined || packet[0] >> 6 !== 2) return undefined;
  const first = packet[0];
  let offset = 12 + (first & 0x0f) * 4;
  if (first & 0x10) {
    if (packet.length < offset + 4) return undefined;
    offset += 4 + packet.readUInt16BE(offset + 2) * 4;
  }
  let end = packet.length;
  if (first & 0x20) end -= packet[packet.length - 1] ?? 0;
  return offset <= end ? packet.subarray(offset, end) : undefined;
}

/** Energy at `hz` over total energy, by the Goertzel algorithm on mono samples. */
function shareAt(samples: Float32Array, hz: number): number {
  if (samples.length === 0) return 0;
  const k = (2 * Math.PI * hz) / SAMPLE_RATE;
  const coeff = 2 * Math.cos(k);
  let s1 = 0;
  let s2 = 0;
  let total = 0;
  for (const x of samples) {
    const s0 = x + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
    total += x * x;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  // A pure tone of N samples gives power ≈ N²·A²/4 and total ≈ N·A²/2: normalise to 1.
  return total > 0 ? Math.min(1, (2 * power) / (samples.length * total)) : 0;
}

export async function tapProducer(router: types.Router, producerId: string): Promise<OpusTap> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const transport = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
    rtcpMux: true,
    comedia: false,
  });
  await transport.connect({ ip: '127.0.0.1', port: socket.address().port });
  const consumer = await transport.consume({
    producerId,
    rtpCapabilities: router.rtpCapabilities,
    paused: false,
  });
  const decoder = new OpusScript(SAMPLE_RATE, CHANNELS, OpusScript.Application.AUDIO);
  const mono: number[] = [];
  let packets = 0;
  let undecodable = 0;
  socket.on('message', (packet) => {
    const payload = rtpPayload(packet);
    // RTCP (mux'ed) and DTX's tiny frames carry no audio worth looking at.
    if (!payload || payload.length < 3 || (packet[1] ?? 0) >= 200) return;
    packets += 1;
    try {
      const pcm = decoder.decode(payload);
      const ints = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.byteLength / 2);
      for (let i = 0; i + 1 < ints.length; i += CHANNELS) {
        mono.push(((ints[i] ?? 0) + (ints[i + 1] ?? 0)) / 65536);
      }
    } catch {
      undecodable += 1;
    }
  });
  return {
    get packets() {
      return packets;
    },
    get undecodable() {
      return undecodable;
    },
    toneShare: (toneHz) => shareAt(Float32Array.from(mono.slice(-SAMPLE_RATE)), toneHz),
    async close() {
      consumer.close();
      transport.close();
      decoder.delete();
      socket.close();
    },
  };
}
