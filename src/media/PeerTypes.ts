import type { types } from 'mediasoup';

export type PeerOptions = {
  id: string;
  nickname: string;
  ip: string;
  rtpCapabilities: types.RtpCapabilities;
  router: types.Router;
  webRtcServer: types.WebRtcServer;
  /** bit/s the send transport's congestion feedback (REMB/TWCC) tells the sender it may use. */
  maxIncomingBitrate: number;
  /** Put before the resume token (see RoomOptions). */
  resumeTokenPrefix?: string;
  /** When its join request arrived (epoch ms); default: when the peer is made. */
  requestedAt?: number;
};

export type PeerEvents = {
  /** A consumer of this peer's closed because its producer did (the talker left). */
  consumerClosed: [consumerId: string];
  /** The send transport's DTLS came up: this peer's media works. */
  connected: [];
};
