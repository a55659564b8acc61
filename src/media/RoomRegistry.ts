import { EventEmitter } from 'node:events';
import type { Logger } from '../logging/createLogger.ts';
import { UnavailableError } from './errors.ts';
import type { Peer } from './Peer.ts';
import type { ProducerBudgetLimits } from './ProducerBudgetTypes.ts';
import { Room } from './Room.ts';
import type { Joined, JoinOptions, LeaveReason } from './RoomTypes.ts';
import type { WorkerPool } from './WorkerPool.ts';

export type RoomRegistryOptions = {
  workers: WorkerPool;
  workerConsumerBudget: number;
  relayAddresses: ReadonlySet<string>;
  capacity: number;
  /** Server-wide caps (MAX_ROOMS, MAX_PEERS). */
  maxRooms: number;
  maxPeers: number;
  /** How long an empty room waits for a (re)joining peer before it is closed. */
  emptyGraceMs: number;
  reconnectGraceMs: number;
  joinTimeoutMs: number;
  producerBudget: ProducerBudgetLimits;
  /** In a cluster: this node's id and a dot, so a resume token tells where its place is. */
  resumeTokenPrefix?: string;
  logger: Logger;
};

export type RoomRegistryEvents = {
  roomCreated: [room: Room];
  roomClosed: [room: Room];
  peerJoined: [room: Room, peer: Peer];
  peerLeft: [room: Room, peer: Peer, reason: LeaveReason];
};

/**
 * The rooms that exist now, and the server-wide caps. Creation is deduplicated per room
 * id, so simultaneous first joins share one room instead of racing to make two; a join
 * takes its seat against MAX_PEERS (and its room against MAX_ROOMS) synchronously,
 * before any await, so simultaneous joins cannot overshoot either cap.
 */
export class RoomRegistry extends EventEmitter<RoomRegistryEvents> {
  readonly #rooms = new Map<string, Room>();
  readonly #creating = new Map<string, Promise<Room>>();
  /** Keyed by the room itself: a closed room must never cancel a successor's timer. */
  readonly #emptyTimers = new Map<Room, NodeJS.Timeout>();
  readonly #options: RoomRegistryOptions;
  /** Joins that hold a server-wide seat but are not yet a peer in a room. */
  #pendingJoins = 0;
  #closed = false;

  constructor(options: RoomRegistryOptions) {
    super();
    this.#options = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Rooms open or being created: what MAX_ROOMS counts. */
  get size(): number {
    return this.#rooms.size + this.#creating.size;
  }

  /** People in rooms plus joins in progress: what MAX_PEERS and /metrics count. */
  get peerCount(): number {
    let count = this.#pendingJoins;
    for (const room of this.#rooms.values()) count += room.peers.size;
    return count;
  }

  get(roomId: string): Room | undefined {
    return this.#rooms.get(roomId);
  }

  /** Open or being created. */
  exists(roomId: string): boolean {
    return this.#rooms.has(roomId) || this.#creating.has(roomId);
  }

  values(): IterableIterator<Room> {
    return this.#rooms.values();
  }

  /** Joins `roomId`, creating it if needed; refuses at once when a cap is reached. */
  async join(roomId: string, options: JoinOptions): Promise<{ room: Room; joined: Joined }> {
    if (this.#closed) throw new UnavailableError('the server is shutting down');
    if (this.peerCount >= this.#options.maxPeers) {
      throw new UnavailableError('the server is full, try again later');
    }
    const creates = !this.#rooms.has(roomId) && !this.#creating.has(roomId);
    if (creates && this.size >= this.#options.maxRooms) {
      throw new UnavailableError('the server has too many rooms, try again later');
    }
    this.#pendingJoins += 1;
    try {
      // A room takes its encryption from the join that makes it.
      const room = await this.getOrCreate(roomId, options.e2ee);
      return { room, joined: await room.join(options) };
    } finally {
      this.#pendingJoins -= 1;
    }
  }

  /** The room, created if needed, without joining it (no cap applies: see join()). */
  getOrCreate(roomId: string, encrypted: boolean): Promise<Room> {
    if (this.#closed) return Promise.reject(new UnavailableError('the server is shutting down'));
    const existing = this.#rooms.get(roomId);
    if (existing) {
      this.#cancelEmptyTimer(existing);
      return Promise.resolve(existing);
    }
    let creating = this.#creating.get(roomId);
    if (!creating) {
      creating = this.#create(roomId, encrypted).finally(() => this.#creating.delete(roomId));
      this.#creating.set(roomId, creating);
    }
    return creating;
  }

  async #create(roomId: string, encrypted: boolean): Promise<Room> {
    await this.#options.workers.live();
    const room = await Room.create({ ...this.#options, id: roomId, encrypted });
    if (this.#closed) {
      room.close();
      throw new UnavailableError('the server is shutting down');
    }
    this.#rooms.set(roomId, room);
    room.on('empty', () => this.#scheduleClose(room));
    room.on('peerJoined', (peer) => this.emit('peerJoined', room, peer));
    room.on('peerLeft', (peer, reason) => this.emit('peerLeft', room, peer, reason));
    room.on('close', () => {
      this.#cancelEmptyTimer(room);
      if (this.#rooms.get(roomId) === room) this.#rooms.delete(roomId);
      this.emit('roomClosed', room);
    });
    this.emit('roomCreated', room);
    return room;
  }

  #scheduleClose(room: Room): void {
    this.#cancelEmptyTimer(room);
    const timer = setTimeout(() => {
      this.#emptyTimers.delete(room);
      if (room.idle) room.close();
    }, this.#options.emptyGraceMs);
    timer.unref();
    this.#emptyTimers.set(room, timer);
  }

  #cancelEmptyTimer(room: Room): void {
    clearTimeout(this.#emptyTimers.get(room));
    this.#emptyTimers.delete(room);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const room of [...this.#rooms.values()]) room.close();
  }
}
