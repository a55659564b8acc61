import type { types } from 'mediasoup';
import type { Logger } from '../logging/createLogger.ts';
import { NotFoundError } from '../media/errors.ts';
import type { Room } from '../media/Room.ts';
import type { NodeCalls } from './NodeCalls.ts';
import { PipeLink, type PipeSettings } from './PipeLink.ts';
import type { PipeEnd, ToNode } from './spanMessages.ts';

type Note = Extract<ToNode, { t: 'roster' | 'sliceGone' | 'pipePaused' | 'pipeClosed' }>;
type Send = (node: string, note: DistributiveOmit<Note, 'from'>) => void;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export type RoomSpanOptions = {
  room: Room;
  nodeId: string;
  calls: NodeCalls;
  send: Send;
  pipe: PipeSettings;
  logger: Logger;
};

/**
 * This node's part of a room that spans nodes: what it tells the other parts (its
 * roster, on every change and every heartbeat), what they told it, and the pipes between
 * them. A producer goes to another node once, whatever its number of listeners there, and
 * only while that node has someone to hear it; the pipes follow the producer's pauses.
 */
export class RoomSpan {
  readonly room: Room;
  readonly #o: RoomSpanOptions;
  /** One pipe transport per other node of the room, created on first need. */
  readonly #links = new Map<string, Promise<PipeLink>>();
  /** Other nodes of the room → when their roster last came. */
  readonly #seen = new Map<string, number>();
  /** Our own open of a pipe, while the other node has not answered it. */
  readonly #opening = new WeakMap<PipeLink, Promise<void>>();
  /** Producers being piped in, so one is asked for once. */
  readonly #piping = new Set<string>();
  /** Last pause state the producer's node reported, for pipes still being set up. */
  readonly #paused = new Map<string, boolean>();
  #announce: NodeJS.Immediate | undefined;
  #closed = false;

  constructor(options: RoomSpanOptions) {
    this.#o = options;
    this.room = options.room;
    this.room.on('rosterChanged', () => this.#scheduleAnnounce());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The other nodes this part of the room knows of. */
  get nodes(): readonly string[] {
    return [...this.#seen.keys()];
  }

  /** Pipe transports that are up, and the pipes (consumers out, producers in) they carry. */
  async counts(): Promise<{ transports: number; consumers: number; producers: number }> {
    const links = (await Promise.allSettled(this.#links.values())).flatMap((r) =>
      r.status === 'fulfilled' && !r.value.closed ? [r.value] : [],
    );
    return {
      transports: links.length,
      consumers: links.reduce((sum, link) => sum + link.out.size, 0),
      producers: links.reduce((sum, link) => sum + link.in.size, 0),
    };
  }

  /** Says hello to the room's other nodes (from Redis): each answers with its roster. */
  greet(nodes: Iterable<string>): void {
    for (const node of nodes) {
      if (node !== this.#o.nodeId) this.#sendRoster(node, true);
    }
  }

  /** Sends the roster to every other node of the room (also each heartbeat, for repair). */
  announce(): void {
    for (const node of this.#seen.keys()) this.#sendRoster(node, false);
  }

  #scheduleAnnounce(): void {
    if (this.#announce || this.#closed) return;
    // A join or leave emits several changes in one turn: one roster for all of them.
    this.#announce = setImmediate(() => {
      this.#announce = undefined;
      if (this.#closed) return;
      this.announce();
      this.#prune();
      // A newcomer in a part that was empty hears the other nodes' talkers at once.
      this.#pipeIn();
    });
  }

  #sendRoster(node: string, hello: boolean): void {
    const members = this.room.localMembers(this.#o.nodeId).map(({ node: _, ...m }) => m);
    this.#o.send(node, { t: 'roster', room: this.room.id, members, hello });
  }

  receive(note: Note): void {
    if (this.#closed) return;
    const { from } = note;
    switch (note.t) {
      case 'roster': {
        const known = this.#seen.has(from);
        this.#seen.set(from, Date.now());
        if (note.hello || !known) this.#sendRoster(from, false);
        this.room.setRemoteMembers(
          from,
          note.members.map((m) => ({ ...m, node: from })),
        );
        this.#prune();
        this.#pipeIn();
        return;
      }
      case 'sliceGone':
        this.dropNode(from);
        return;
      case 'pipePaused': {
        this.#paused.set(note.producerId, note.paused);
        void this.#linkIfUp(from).then((link) => {
          const producer = link?.in.get(note.producerId);
          if (producer) void syncPause(producer, note.paused);
        });
        return;
      }
      case 'pipeClosed':
        void this.#linkIfUp(from).then((link) => {
          link?.in.get(note.producerId)?.close();
          link?.out.get(note.producerId)?.close();
        });
        return;
    }
  }

  /** Another node opens our pipe: connect ours to its end and send back ours. */
  async opened(from: string, end: PipeEnd): Promise<PipeEnd> {
    const link = await this.#link(from);
    await link.connect(end);
    return link.end;
  }

  /** Another node wants one of this node's producers: a pipe consumer of it, once. */
  async consumeFor(from: string, producerId: string) {
    const producer = [...this.room.peers.values()]
      .map((peer) => peer.producer)
      .find((p) => p?.id === producerId && !p.closed);
    if (!producer) throw new NotFoundError('no such producer here');
    const link = await this.#linkIfUp(from);
    if (!link) throw new NotFoundError('no pipe open to that node');
    let consumer = link.out.get(producerId);
    if (!consumer) {
      consumer = await link.transport.consume({ producerId });
      this.#watchOut(link, consumer);
    }
    return { rtpParameters: consumer.rtpParameters, paused: consumer.producerPaused };
  }

  #watchOut(link: PipeLink, consumer: types.Consumer): void {
    const { producerId } = consumer;
    link.out.set(producerId, consumer);
    const room = this.room.id;
    consumer.on('producerpause', () =>
      this.#o.send(link.node, { t: 'pipePaused', room, producerId, paused: true }),
    );
    consumer.on('producerresume', () =>
      this.#o.send(link.node, { t: 'pipePaused', room, producerId, paused: false }),
    );
    consumer.on('producerclose', () =>
      this.#o.send(link.node, { t: 'pipeClosed', room, producerId }),
    );
    consumer.observer.once('close', () => {
      if (link.out.get(producerId) === consumer) link.out.delete(producerId);
    });
  }

  /** Every remote producer this node's peers should hear and do not have yet. */
  #pipeIn(): void {
    if (this.#closed || this.room.peers.size === 0) return;
    for (const member of this.room.remoteMembers.values()) {
      const { producerId, node } = member;
      if (!producerId || this.#piping.has(producerId)) continue;
      this.#piping.add(producerId);
      this.#pipeFrom(node, member.id, producerId)
        .catch((error: Error) => {
          if (this.#closed) return;
          this.#o.logger.warn('producer not piped from another node', {
            room: this.room.id,
            node,
            error: error.message,
          });
        })
        .finally(() => this.#piping.delete(producerId));
    }
  }

  async #pipeFrom(node: string, memberId: string, producerId: string): Promise<void> {
    const link = await this.#link(node, true);
    if (link.in.has(producerId)) return;
    const { rtpParameters, paused } = await this.#o.calls.call(node, {
      m: 'pipeConsume',
      room: this.room.id,
      producerId,
    });
    if (link.closed) return;
    const producer = await link.transport.produce({
      id: producerId,
      kind: 'audio',
      rtpParameters: rtpParameters as types.RtpParameters,
      paused,
    });
    link.in.set(producerId, producer);
    producer.observer.once('close', () => {
      if (link.in.get(producerId) === producer) link.in.delete(producerId);
      // No longer wanted here (the listeners left): the other end lets go of its consumer.
      if (!link.closed) this.#o.send(node, { t: 'pipeClosed', room: this.room.id, producerId });
    });
    const latest = this.#paused.get(producerId);
    if (latest !== undefined) await syncPause(producer, latest);
    if (!(await this.room.addRemoteProducer(memberId, producer))) producer.close();
  }

  /**
   * The pipe to `node`, created if there is none; with `open`, also connected (asking
   * `node` to connect its end) unless that has begun. Answering the other node's open
   * needs only the transport, never our own open: both may open at once.
   */
  async #link(node: string, open = false): Promise<PipeLink> {
    let link = this.#links.get(node);
    if (!link) {
      const created = PipeLink.create(this.room.router, node, this.#o.pipe);
      link = created;
      this.#links.set(node, created);
      created.then(
        (l) =>
          l.transport.observer.once('close', () => {
            if (this.#links.get(node) === created) this.#links.delete(node);
          }),
        () => {
          if (this.#links.get(node) === created) this.#links.delete(node);
        },
      );
    }
    const l = await link;
    if (!open) return l;
    let opening = this.#opening.get(l);
    if (!opening && !l.connecting) {
      opening = this.#o.calls
        .call(node, { m: 'pipeOpen', room: this.room.id, end: l.end })
        .then(({ end }) => l.connect(end))
        .catch((error: Error) => {
          // Never connected: the next attempt starts from a fresh transport.
          if (!l.connecting) l.close();
          this.#opening.delete(l);
          throw error;
        });
      this.#opening.set(l, opening);
    }
    await (opening ?? l.connected);
    return l;
  }

  async #linkIfUp(node: string): Promise<PipeLink | undefined> {
    const link = this.#links.get(node);
    return link?.then(
      (l) => (l.closed ? undefined : l),
      () => undefined,
    );
  }

  /**
   * A pipe carries nothing once either end has nobody: no listener here and no talker
   * there, or the other way round.
   */
  #prune(): void {
    for (const node of this.#links.keys()) {
      const theirs = [...this.room.remoteMembers.values()].some((m) => m.node === node);
      if (this.room.peers.size > 0 && theirs) continue;
      void this.#linkIfUp(node).then((link) => link?.close());
      this.#links.delete(node);
    }
  }

  /** `node` is gone (dead, or its part of the room closed): its people and pipes go. */
  dropNode(node: string): void {
    this.#seen.delete(node);
    this.room.setRemoteMembers(node, []);
    void this.#linkIfUp(node).then((link) => link?.close());
    this.#links.delete(node);
  }

  /** Nodes that sent no roster since `before`. */
  silentSince(before: number): string[] {
    return [...this.#seen].flatMap(([node, at]) => (at < before ? [node] : []));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearImmediate(this.#announce);
    for (const node of this.#seen.keys())
      this.#o.send(node, { t: 'sliceGone', room: this.room.id });
    for (const link of this.#links.values())
      void link.then(
        (l) => l.close(),
        () => {},
      );
    this.#links.clear();
    this.#seen.clear();
  }
}

async function syncPause(producer: types.Producer, paused: boolean): Promise<void> {
  if (producer.closed || producer.paused === paused) return;
  await (paused ? producer.pause() : producer.resume()).catch(() => {});
}
