import type { types } from 'mediasoup';
import type { Logger } from '../logging/createLogger.ts';
import type { MediaWorker } from './MediaWorker.ts';
import type { Notify } from './PeerTypes.ts';

export type RoomOptions = {
  id: string;
  mediaWorker: MediaWorker;
  capacity: number;
  logger: Logger;
};

export type JoinOptions = {
  peerId: string;
  nickname: string;
  ip: string;
  rtpCapabilities: types.RtpCapabilities;
  notify: Notify;
};

export type RoomEvents = {
  /** The last peer left (or a join failed in an empty room). */
  empty: [];
  close: [];
};
