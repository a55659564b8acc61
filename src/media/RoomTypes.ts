import type { types } from 'mediasoup';
import type { Logger } from '../logging/createLogger.ts';
import type { Peer } from './Peer.ts';
import type { Notify } from './PeerTypes.ts';
import type { WorkerPool } from './WorkerPool.ts';

export type RoomOptions = {
  id: string;
  /** Where the room's routers live; the first goes to the least-loaded worker. */
  workers: WorkerPool;
  /** Consumers on a worker past which a growing room spills new peers to another worker. */
  workerConsumerBudget: number;
  capacity: number;
  /** How long a peer whose connection dropped keeps its place. */
  reconnectGraceMs: number;
  /** A peer whose media never connects within this is removed. */
  joinTimeoutMs: number;
  /** IPs of our TURN servers: media arriving from one of them is relayed. */
  relayAddresses: ReadonlySet<string>;
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
  peerJoined: [peer: Peer];
  peerLeft: [peer: Peer];
  /** The last peer left (or a join failed in an empty room). */
  empty: [];
  close: [];
};
