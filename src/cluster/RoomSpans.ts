import type { Redis } from 'ioredis';
import type { Logger } from '../logging/createLogger.ts';
import { EncryptionMismatchError, NotFoundError } from '../media/errors.ts';
import type { RoomRegistry } from '../media/RoomRegistry.ts';
import { keys, type NodeRecord } from './clusterRecords.ts';
import { NodeCalls } from './NodeCalls.ts';
import type { PipeSettings } from './PipeLink.ts';
import type { RelayChannel } from './RelayChannel.ts';
import { RoomSpan } from './RoomSpan.ts';
import type { SpanCall, ToNode } from './spanMessages.ts';

export type RoomSpansOptions = {
  channel: RelayChannel;
  redis: Redis;
  nodeId: string;
  leaseMs: number;
  rooms: RoomRegistry;
  pipe: PipeSettings;
  /** Consumers on this node past which a room's new people go to another node. */
  nodeConsumerBudget: number;
  /** Consumers on this node's workers now. */
  consumers: () => number;
  logger: Logger;
};

/** The nodes a placement may choose from, as the last heartbeat saw them. */
type Candidate = Pick<NodeRecord, 'id' | 'draining' | 'load' | 'heartbeatAt'>;

/**
 * A placement counts against its node until a record written this long after it: by
 * then the consumers it made are in the record's own count.
 */
const PICK_SETTLE_MS = 1_000;

/**
 * Rooms larger than one node. Each room here has a RoomSpan; the room's node (the one
 * holding its claim) decides where each new person goes: here while this node is under
 * NODE_CONSUMER_BUDGET, else to a node already in the room that is under it, else to the
 * least loaded node if that one has fewer consumers than this one, as a room spreads
 * over workers on one machine. Which nodes hold part of a room is kept in Redis, so a
 * node that takes a room over later finds the others.
 */
export class RoomSpans {
  readonly #o: RoomSpansOptions;
  readonly #calls: NodeCalls;
  readonly #spans = new Map<string, RoomSpan>();
  /** Estimated consumers sent to each node, and when, until its record shows them. */
  readonly #picks = new Map<string, { at: number; consumers: number }[]>();
  #nodes: ReadonlyMap<string, Candidate> = new Map();
  #closed = false;

  constructor(options: RoomSpansOptions) {
    this.#o = options;
    this.#calls = new NodeCalls({
      channel: options.channel,
      nodeId: options.nodeId,
      handle: (from, call) => this.#answer(from, call),
    });
    options.channel.on('toNode', (message) => this.#receive(message));
    options.rooms.on('roomCreated', (room) => {
      const span = new RoomSpan({
        room,
        nodeId: options.nodeId,
        calls: this.#calls,
        send: (node, note) => {
          options.channel.send(node, { ...note, from: options.nodeId } as ToNode).catch(() => {});
        },
        pipe: options.pipe,
        logger: options.logger,
      });
      this.#spans.set(room.id, span);
      void this.#join(span);
    });
    options.rooms.on('roomClosed', (room) => {
      const span = this.#spans.get(room.id);
      if (span?.room !== room) return;
      this.#spans.delete(room.id);
      span.close();
      options.redis.hdel(keys.span(room.id), options.nodeId).catch(() => {});
    });
  }

  /** Pipe transports, and pipes out and in, over every room here (for stats and tests). */
  async counts(): Promise<{ transports: number; consumers: number; producers: number }> {
    const all = await Promise.all([...this.#spans.values()].map((s) => s.counts()));
    return all.reduce(
      (sum, c) => ({
        transports: sum.transports + c.transports,
        consumers: sum.consumers + c.consumers,
        producers: sum.producers + c.producers,
      }),
      { transports: 0, consumers: 0, producers: 0 },
    );
  }

  /** The other nodes holding part of `roomId`, as known here. */
  nodesOf(roomId: string): readonly string[] {
    return this.#spans.get(roomId)?.nodes ?? [];
  }

  /** Nodes that hold part of `roomId` according to Redis, with a fresh entry. */
  async members(roomId: string): Promise<string[]> {
    const entries = await this.#o.redis.hgetall(keys.span(roomId));
    const fresh = Date.now() - this.#o.leaseMs;
    return Object.entries(entries).flatMap(([node, at]) => (Number(at) >= fresh ? [node] : []));
  }

  async #join(span: RoomSpan): Promise<void> {
    const key = keys.span(span.room.id);
    try {
      await this.#o.redis
        .multi()
        .hset(key, this.#o.nodeId, Date.now())
        .pexpire(key, this.#o.leaseMs * 3)
        .exec();
      if (!span.closed) span.greet(await this.members(span.room.id));
    } catch (error) {
      // The next heartbeat writes it again and greets whoever answers.
      this.#o.logger.debug('span entry not written', { error: (error as Error).message });
    }
  }

  /**
   * Where a new person of `roomId` goes, asked of its node `home` (this one or another).
   */
  async place(roomId: string, home: string, e2ee: boolean): Promise<string> {
    if (home === this.#o.nodeId) return this.#decide(roomId, e2ee);
    const answer = await this.#calls.call(home, { m: 'place', room: roomId, e2ee });
    if ('roomEncrypted' in answer) throw new EncryptionMismatchError(answer.roomEncrypted);
    return answer.node;
  }

  #decide(roomId: string, e2ee: boolean): string {
    const self = this.#o.nodeId;
    const existing = this.#o.rooms.get(roomId);
    // Checked here: a part of the room made elsewhere takes its encryption from this join.
    if (existing && existing.encrypted !== e2ee)
      throw new EncryptionMismatchError(existing.encrypted);
    const own = this.#o.consumers();
    const budget = this.#o.nodeConsumerBudget;
    if (own < budget) return self;
    const room = this.#o.rooms.get(roomId);
    const load = (node: Candidate) =>
      node.load.consumers +
      (this.#picks.get(node.id) ?? [])
        .filter((pick) => pick.at + PICK_SETTLE_MS > node.heartbeatAt)
        .reduce((sum, pick) => sum + pick.consumers, 0);
    const open = [...this.#nodes.values()].filter(
      (n) =>
        n.id !== self &&
        !n.draining &&
        n.load.peers < n.load.maxPeers &&
        n.load.rooms < n.load.maxRooms,
    );
    const inRoom = new Set(room ? this.#spans.get(roomId)?.nodes : []);
    const least = (nodes: Candidate[]) =>
      nodes.reduce<Candidate | undefined>(
        (min, n) => (!min || load(n) < load(min) ? n : min),
        undefined,
      );
    const sharing = least(open.filter((n) => inRoom.has(n.id) && load(n) < budget));
    const elsewhere = least(open);
    const chosen = sharing ?? (elsewhere && load(elsewhere) < own ? elsewhere : undefined);
    if (!chosen) return self;
    // Each newcomer will hear everyone: about that many consumers land there.
    const picks = this.#picks.get(chosen.id) ?? [];
    picks.push({ at: Date.now(), consumers: room?.occupancy ?? 1 });
    this.#picks.set(chosen.id, picks);
    if (!inRoom.has(chosen.id)) {
      this.#o.logger.info('room spans another node', { room: roomId, node: chosen.id });
    }
    return chosen.id;
  }

  async #answer(from: string, call: SpanCall): Promise<unknown> {
    if (call.m === 'place') {
      try {
        return { node: this.#decide(call.room, call.e2ee) };
      } catch (error) {
        if (error instanceof EncryptionMismatchError) return { roomEncrypted: error.roomEncrypted };
        throw error;
      }
    }
    const span = this.#spans.get(call.room);
    if (!span) throw new NotFoundError(`no part of room ${call.room} here`);
    if (call.m === 'pipeOpen') return { end: await span.opened(from, call.end) };
    return span.consumeFor(from, call.producerId);
  }

  #receive(message: ToNode): void {
    if (this.#closed || message.from === this.#o.nodeId) return;
    if (message.t === 'call' || message.t === 'reply') {
      this.#calls.receive(message);
      return;
    }
    const span = this.#spans.get(message.room);
    if (span) {
      span.receive(message);
    } else if (message.t === 'roster' && message.hello) {
      // Not (or no longer) here: say so, so it stops expecting us.
      this.#o.channel
        .send(message.from, { t: 'sliceGone', from: this.#o.nodeId, room: message.room })
        .catch(() => {});
    }
  }

  /**
   * Each heartbeat, with the nodes alive (`trusted`: absence means death): renew this
   * node's span entries, resend rosters (repairing lost messages), and drop the parts
   * of rooms on nodes that died or went silent.
   */
  async beat(nodes: readonly Candidate[], trusted: boolean): Promise<void> {
    this.#nodes = new Map(nodes.map((n) => [n.id, n]));
    for (const [id, picks] of this.#picks) {
      const heartbeatAt = this.#nodes.get(id)?.heartbeatAt ?? Number.POSITIVE_INFINITY;
      const pending = picks.filter((pick) => pick.at + PICK_SETTLE_MS > heartbeatAt);
      if (pending.length > 0) this.#picks.set(id, pending);
      else this.#picks.delete(id);
    }
    const alive = new Set(this.#nodes.keys());
    const now = Date.now();
    const multi = this.#o.redis.multi();
    for (const span of this.#spans.values()) {
      const key = keys.span(span.room.id);
      multi.hset(key, this.#o.nodeId, now).pexpire(key, this.#o.leaseMs * 3);
      if (trusted) {
        const gone = new Set([
          ...span.nodes.filter((n) => !alive.has(n)),
          ...span.silentSince(now - this.#o.leaseMs * 2),
        ]);
        for (const node of gone) {
          this.#o.logger.warn('part of a room lost with its node', { room: span.room.id, node });
          this.#calls.nodeLost(node);
          span.dropNode(node);
        }
      }
      span.announce();
    }
    if (this.#spans.size > 0) await multi.exec();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const span of this.#spans.values()) span.close();
    this.#spans.clear();
    this.#calls.close();
  }
}
