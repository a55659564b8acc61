import { EventEmitter } from 'node:events';
import type { Logger } from '../logging/createLogger.ts';
import { SignalingError } from '../signaling/SignalingError.ts';
import type { Peer } from './Peer.ts';
import { Room } from './Room.ts';
import type { WorkerPool } from './WorkerPool.ts';

export type RoomRegistryOptions = {
  workers: WorkerPool;
  workerConsumerBudget: number;
  relayAddresses: ReadonlySet<string>;
  capacity: number;
  /** How long an empty room waits for a (re)joining peer before it is closed. */
  emptyGraceMs: number;
  reconnectGraceMs: number;
  joinTimeoutMs: number;
  logger: Logger;
};

/**
 * The rooms that exist now. Creation is deduplicated per room id, so simultaneous
 * first joins share one Router instead of racing to make two.
 */
export type RoomRegistryEvents = {
  roomCreated: [room: Room];
  roomClosed: [room: Room];
  peerJoined: [room: Room, peer: Peer];
  peerLeft: [room: Room, peer: Peer];
};

export class RoomRegistry extends EventEmitter<RoomRegistryEvents> {
  readonly #rooms = new Map<string, Room>();
  readonly #creating = new Map<string, Promise<Room>>();
  readonly #emptyTimers = new Map<string, NodeJS.Timeout>();
  readonly #options: RoomRegistryOptions;
  #closed = false;

  constructor(options: RoomRegistryOptions) {
    super();
    this.#options = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get size(): number {
    return this.#rooms.size;
  }

  /** People in all rooms, including joins in progress. */
  get peerCount(): number {
    let count = 0;
    for (const room of this.#rooms.values()) count += room.occupancy;
    return count;
  }

  get(roomId: string): Room | undefined {
    return this.#rooms.get(roomId);
  }

  values(): IterableIterator<Room> {
    return this.#rooms.values();
  }

  async getOrCreate(roomId: string): Promise<Room> {
    if (this.#closed) throw new SignalingError('SERVER_BUSY', 'the server is shutting down');
    const existing = this.#rooms.get(roomId);
    if (existing) {
      this.#cancelEmptyTimer(roomId);
      return existing;
    }
    let creating = this.#creating.get(roomId);
    if (!creating) {
      creating = this.#create(roomId).finally(() => this.#creating.delete(roomId));
      this.#creating.set(roomId, creating);
    }
    return creating;
  }

  async #create(roomId: string): Promise<Room> {
    await this.#options.workers.live();
    const room = await Room.create({ ...this.#options, id: roomId });
    if (this.#closed) {
      room.close();
      throw new SignalingError('SERVER_BUSY', 'the server is shutting down');
    }
    this.#rooms.set(roomId, room);
    room.on('empty', () => this.#scheduleClose(room));
    room.on('peerJoined', (peer) => this.emit('peerJoined', room, peer));
    room.on('peerLeft', (peer) => this.emit('peerLeft', room, peer));
    room.on('close', () => {
      this.#cancelEmptyTimer(roomId);
      if (this.#rooms.get(roomId) === room) this.#rooms.delete(roomId);
      this.emit('roomClosed', room);
    });
    this.emit('roomCreated', room);
    return room;
  }

  #scheduleClose(room: Room): void {
    this.#cancelEmptyTimer(room.id);
    const timer = setTimeout(() => {
      this.#emptyTimers.delete(room.id);
      if (room.idle) room.close();
    }, this.#options.emptyGraceMs);
    timer.unref();
    this.#emptyTimers.set(room.id, timer);
  }

  #cancelEmptyTimer(roomId: string): void {
    clearTimeout(this.#emptyTimers.get(roomId));
    this.#emptyTimers.delete(roomId);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const room of [...this.#rooms.values()]) room.close();
  }
}
