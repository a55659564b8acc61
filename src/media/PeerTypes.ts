import type { types } from 'mediasoup';
import type { ServerToClientEvents } from '../signaling/protocol.ts';

/** Pushes one server event to this peer's client, whatever carries it. */
export type Notify = <E extends keyof ServerToClientEvents>(
  event: E,
  ...args: Parameters<ServerToClientEvents[E]>
) => void;

export type PeerOptions = {
  id: string;
  nickname: string;
  ip: string;
  rtpCapabilities: types.RtpCapabilities;
  router: types.Router;
  webRtcServer: types.WebRtcServer;
  notify: Notify;
};
