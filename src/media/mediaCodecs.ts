import type { types } from 'mediasoup';

/**
 * Voice only: Opus at 48 kHz. Stereo-capable so a music source is not downmixed,
 * in-band FEC and DTX on so a lossy link degrades gently and silence costs ~nothing.
 */
export const mediaCodecs: types.RouterRtpCodecCapability[] = [
  {
    kind: 'audio',
    mimeType: 'audio/opus',
    clockRate: 48000,
    channels: 2,
    parameters: { useinbandfec: 1, usedtx: 1, 'sprop-stereo': 1 },
    rtcpFeedback: [{ type: 'nack' }, { type: 'transport-cc' }],
  },
];

/**
 * What every consumer of a person's microphone is created with. In silence Chromium
 * sends, per ~400 ms, a comfort-noise frame and a 1-byte Opus DTX frame (the TOC byte
 * alone; measured with tcpdump): `ignoreDtx` drops the latter at the SFU, half of a
 * silent person's packets, a quarter of those in a room of 10 with one speaker. The
 * comfort-noise frames still go through, and the receiver's decoder treats the gap as
 * the silence it is (sequence numbers are rewritten without a hole: nothing counts as
 * loss).
 */
export const audioConsumerOptions = {
  ignoreDtx: true,
} as const satisfies Partial<types.ConsumerOptions>;
