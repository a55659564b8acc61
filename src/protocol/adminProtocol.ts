/**
 * The admin console's socket.io namespace (`/admin`), shared by the server and the
 * admin page (which imports it with `import type` only). The handshake carries the
 * session cookie of the admin page, or (scripts) the key: `io('/admin', { auth: { key } })`;
 * anything else fails the connection.
 */

export type PeerSnapshot = {
  id: string;
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
  createdAt: number;
  capacity: number;
  peers: PeerSnapshot[];
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
  rooms: RoomSnapshot[];
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
  /** The whole room list, whenever anything in it changed. */
  rooms: (rooms: RoomSnapshot[]) => void;
  peerJoined: (event: { roomId: string; peer: PeerSnapshot }) => void;
  peerLeft: (event: { roomId: string; peerId: string; nickname: string }) => void;
  bans: (bans: string[]) => void;
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
};
