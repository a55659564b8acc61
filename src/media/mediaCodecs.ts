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
