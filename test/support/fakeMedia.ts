import type { types } from 'mediasoup';

/** RTP parameters a browser would send for an Opus microphone (no media needed). */
export function opusRtpParameters(ssrc: number): types.RtpParameters {
  return {
    codecs: [
      {
        mimeType: 'audio/opus',
        payloadType: 111,
        clockRate: 48000,
        channels: 2,
        parameters: { minptime: 10, useinbandfec: 1 },
        rtcpFeedback: [{ type: 'transport-cc' }],
      },
    ],
    headerExtensions: [],
    encodings: [{ ssrc, dtx: true }],
    rtcp: { cname: `cname-${ssrc}` },
  };
}

/** A plausible client DTLS parameter set (never used for a real handshake). */
export const fakeDtlsParameters: types.DtlsParameters = {
  role: 'client',
  fingerprints: [
    {
      algorithm: 'sha-256',
      value: Array.from({ length: 32 }, (_, i) =>
        i.toString(16).padStart(2, '0').toUpperCase(),
      ).join(':'),
    },
  ],
};
