/**
 * The admin console's socket.io namespace (`/admin`), shared by the server and the
 * admin page (which imports it with `import type` only). The handshake carries the
 * session cookie of the admin page, or (scripts) the key: `io('/admin', { auth: { key } })`;
 * anything else fails the connection. In a cluster, every node's console shows every
 * node's rooms; kick, ban, unban and drain act on the whole cluster. A room spanning
 * nodes is one room, its people each tagged with the node they are on.
 */

export type PeerSnapshot = {
  id: string;
  /** The node this person is on (its media goes there; NODE_ID, or this server's). */
  node: string;
  nickname: string;
  ip: string;
  /** Epoch milliseconds. */
  joinedAt: number;
  muted: boolean;
  speaking: boolean;
  producing: boolean;
  connection: {
    iceState: string;
    dtlsState: string;
    /** Transport of the selected ICE pair (udp or tcp), once connected. */
    protocol: string | null;
    /** Client address and port as seen by the media server. */
    remote: string | null;
  };
  /** Uplink packet loss in percent (from the producer's receive stats), when known. */
  lossPercent: number | null;
};

export type RoomSnapshot = {
  id: string;
  /**
   * The node holding most of its people (ties: the lowest id): for a room on one node,
   * that node (NODE_ID; without a cluster, this server's).
   */
  node: string;
  /**
   * People on each node holding a part of the room (each node's own, as it reported
   * them): one key for a room on one node, several for a room spanning nodes.
   */
  nodes: Record<string, number>;
  /** Epoch milliseconds: when its first part was created. */
  createdAt: number;
  capacity: number;
  /** End-to-end encrypted: the server forwards its audio and cannot hear it. */
  encrypted: boolean;
  /** Everyone, on every node that answered, each with its `node`. */
  peers: PeerSnapshot[];
};

/** A node's pipes to other nodes (rooms spanning nodes). */
export type PipeCounts = {
  /** Pipe transports to other nodes, one per room part and other node. */
  transports: number;
  /** Pipe consumers: this node's producers sent to other nodes. */
  consumers: number;
  /** Pipe producers: other nodes' producers received here. */
  producers: number;
};

/** One node of a cluster as its last heartbeat in Redis described it. */
export type NodeSnapshot = {
  id: string;
  /** Where its media is reached (RTC_ANNOUNCED_ADDRESS). */
  mediaAddress: string;
  draining: boolean;
  /** Epoch milliseconds. */
  startedAt: number;
  heartbeatAt: number;
  load: {
    rooms: number;
    peers: number;
    maxRooms: number;
    maxPeers: number;
    /** Consumers on its workers (what NODE_CONSUMER_BUDGET counts). */
    consumers: number;
    workerCpuPercent: number | null;
  };
  /** Its pipes to other nodes, as it answered this view; null if it did not. */
  pipes: PipeCounts | null;
};

/** Whose view this is, and how complete. */
export type ClusterStatus = {
  /** The node that answered. */
  node: string;
  /** REDIS_URL is set. */
  clustered: boolean;
  /** Alive at the last heartbeat (this one included); empty without a cluster. */
  nodes: NodeSnapshot[];
  /**
   * Why some nodes' rooms are missing from the view (Redis unreachable, nodes that did
   * not answer in time); null when the view is whole.
   */
  problem: string | null;
};

export type StatsSample = {
  /** Epoch milliseconds. */
  at: number;
  rooms: number;
  peers: number;
  /** Share of one core used by the mediasoup worker since the last sample, 0-100+. */
  workerCpuPercent: number | null;
  workerMaxRssBytes: number | null;
  workerAlive: boolean;
  processCpuPercent: number;
  processRssBytes: number;
  heapUsedBytes: number;
};

export type AdminAck<T> = { ok: true; data: T } | { ok: false; error: string };

export type AdminHello = {
  /** Every node's rooms, as far as they answered (see cluster.problem). */
  rooms: RoomSnapshot[];
  cluster: ClusterStatus;
  bans: string[];
  /** Most recent last. */
  stats: StatsSample[];
  /** JSON lines as in server.log, oldest first. */
  logs: string[];
  startedAt: number;
};

export type AdminServerToClientEvents = {
  /** Sent once right after the connection is accepted. */
  hello: (hello: AdminHello) => void;
  /** The whole room list (every node's), whenever anything in it changed. */
  rooms: (rooms: RoomSnapshot[]) => void;
  /** The nodes and the view's completeness, whenever they changed. */
  cluster: (status: ClusterStatus) => void;
  peerJoined: (event: { roomId: string; peer: PeerSnapshot }) => void;
  peerLeft: (event: { roomId: string; peerId: string; nickname: string }) => void;
  /** The ban list, shared by every node of a cluster. */
  bans: (bans: string[]) => void;
  /** This node's samples and log lines only. */
  stats: (sample: StatsSample) => void;
  log: (line: string) => void;
};

export type AdminClientToServerEvents = {
  kick: (
    request: { peerId: string },
    ack: (response: AdminAck<{ kicked: boolean }>) => void,
  ) => void;
  ban: (
    request: { ip: string },
    ack: (response: AdminAck<{ ban: string; disconnected: number }>) => void,
  ) => void;
  unban: (request: { ip: string }, ack: (response: AdminAck<{ removed: boolean }>) => void) => void;
  /** Asks a node of the cluster (this one included) to hand its rooms over and exit. */
  drain: (request: { node: string }, ack: (response: AdminAck<{ node: string }>) => void) => void;
};
