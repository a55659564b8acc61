import type { types } from 'mediasoup';
import type { Logger } from '../logging/createLogger.ts';
import type { Peer } from './Peer.ts';
import type { ProducerBudgetLimits } from './ProducerBudgetTypes.ts';
import type { WorkerPool } from './WorkerPool.ts';

export type RoomOptions = {
  id: string;
  /** End-to-end encrypted (its first join had a key): every join must be, too. */
  encrypted: boolean;
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
  /** What each microphone may send; past it, its producer is closed. */
  producerBudget: ProducerBudgetLimits;
  /** Put before each resume token (in a cluster: this node's id, so a resume finds it). */
  resumeTokenPrefix?: string;
  logger: Logger;
};

export type JoinOptions = {
  peerId: string;
  nickname: string;
  ip: string;
  rtpCapabilities: types.RtpCapabilities;
  /** The client encrypts end to end (its link has a key). */
  e2ee: boolean;
  /** When the join request arrived (epoch ms), for the join-duration metric. */
  requestedAt?: number;
  /** Muted from the start (its producer is made paused). */
  muted?: boolean;
};

/** Someone in the room as the others see them, wherever their media is. */
export type Member = { readonly id: string; readonly nickname: string; readonly muted: boolean };

/**
 * Someone whose media is on another node (a room spanning nodes), as that node reported
 * them: the producer, if any, is piped here by the cluster layer.
 */
export type RemoteMember = Member & { readonly node: string; readonly producerId: string | null };

/** A new place: the peer, who was there before it, and paused consumers of their talkers. */
export type Joined = { peer: Peer; others: Member[]; consumers: types.Consumer[] };

/** A place taken back after a dropped connection: same peer, same media. */
export type Resumed = { peer: Peer; others: Member[] };

/** Why a peer is no longer in the room. */
export type LeaveReason =
  /** It said so (or its client closed the connection deliberately). */
  | 'left'
  /** Its media never connected within the join timeout. */
  | 'joinTimeout'
  /** Its connection dropped and it did not come back within the grace period. */
  | 'reconnectTimeout'
  /** The worker under its transports died: it must join again. */
  | 'mediaReset';

export type RoomEvents = {
  peerJoined: [peer: Peer];
  peerLeft: [peer: Peer, reason: LeaveReason];
  peerMuted: [peer: Peer];
  /** `receiver` got a paused consumer after its join (someone started talking). */
  newConsumer: [receiver: Peer, consumer: types.Consumer];
  /** A consumer of `receiver` closed because the talker's producer did. */
  consumerClosed: [receiver: Peer, consumerId: string];
  /**
   * `peer`'s producer was closed for sending `kbps` over its `maxKbps` budget; its
   * listeners get consumerClosed as for any closed producer. The peer stays in the room.
   */
  producerOverBudget: [peer: Peer, measured: { kbps: number; maxKbps: number }];
  /** A member on another node appeared, changed (mute) or left. */
  memberJoined: [member: RemoteMember];
  memberMuted: [member: RemoteMember];
  memberLeft: [member: RemoteMember];
  /** What other nodes are told of this room changed: its peers, their producers, mutes. */
  rosterChanged: [];
  /** Peer ids speaking now; emitted only when the set changes. */
  speaking: [peerIds: readonly string[]];
  /** The last peer left (or a join failed in an empty room). */
  empty: [];
  /** Closed with these peers still in it (all closed with the room). */
  close: [peers: Peer[]];
};
