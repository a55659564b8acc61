import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Ack, RequestName, ServerToClientEvents } from '../protocol/protocol.ts';
import type { JoinRoute, ToEdge } from './clusterRecords.ts';
import type { RelayChannel } from './RelayChannel.ts';

export type RemoteSessionEvents = {
  /** An event for the client, in the order the room's node sent it. */
  event: [name: keyof ServerToClientEvents, args: unknown[]];
  /** The place ended on the room's node: stop relaying (acks in flight still arrive). */
  gone: [];
  /** The room's node closed the session: close the client's connection. */
  drop: [];
  /** The room's node vanished from the cluster: the client must join afresh. */
  ownerLost: [];
  /** Relay messages may have been lost (Redis went away): the client must resume. */
  resync: [];
};

/** A request to the room's node that never gets an answer fails after this. */
const REQUEST_TIMEOUT_MS = 10_000;

const unavailable = (message: string): Ack<never> => ({
  ok: false,
  error: { code: 'SERVER_BUSY', message },
});

/**
 * On the node a client is connected to: its signaling session with a room that lives on
 * another node. Requests go there over Redis and come back as acks; the room's events
 * come back the same way.
 */
export class RemoteSession extends EventEmitter<RemoteSessionEvents> {
  readonly id = randomUUID();
  readonly owner: string;
  readonly #channel: RelayChannel;
  readonly #from: string;
  readonly #ip: string;
  readonly #route: JoinRoute;
  readonly #pending = new Map<
    number,
    { resolve: (ack: Ack<unknown>) => void; timer: NodeJS.Timeout }
  >();
  readonly #onFinished: (session: RemoteSession) => void;
  #next = 0;
  #ended = false;

  constructor(options: {
    channel: RelayChannel;
    from: string;
    owner: string;
    ip: string;
    /** Why the join goes to that node. */
    route: JoinRoute;
    /** Called once nothing more can arrive for it (ended and no request in flight). */
    onFinished: (session: RemoteSession) => void;
  }) {
    super();
    this.#channel = options.channel;
    this.#from = options.from;
    this.owner = options.owner;
    this.#ip = options.ip;
    this.#route = options.route;
    this.#onFinished = options.onFinished;
  }

  /** No more requests go through it. */
  get ended(): boolean {
    return this.#ended;
  }

  request(name: RequestName, payload: unknown): Promise<Ack<unknown>> {
    if (this.#ended) return Promise.resolve(unavailable('the room moved; join again'));
    const n = this.#next++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#settle(n, unavailable("the room's server did not answer; try again"));
      }, REQUEST_TIMEOUT_MS);
      timer.unref();
      this.#pending.set(n, { resolve, timer });
      this.#channel
        .send(this.owner, {
          t: 'req',
          from: this.#from,
          sid: this.id,
          n,
          name,
          payload,
          ip: this.#ip,
          route: this.#route,
        })
        .catch(() =>
          this.#settle(n, unavailable('the cluster is unreachable; try again in a moment')),
        );
    });
  }

  #settle(n: number, ack: Ack<unknown>): void {
    const pending = this.#pending.get(n);
    if (!pending) return;
    this.#pending.delete(n);
    clearTimeout(pending.timer);
    pending.resolve(ack);
    this.#finishIfDone();
  }

  /** A message for this session from the room's node. */
  receive(message: ToEdge): void {
    switch (message.t) {
      case 'ack':
        this.#settle(message.n, message.ack as Ack<unknown>);
        return;
      case 'event':
        if (!this.#ended) this.emit('event', message.event, message.args);
        return;
      case 'gone':
        this.#end('gone');
        return;
      case 'drop':
        this.#end('drop');
        return;
    }
  }

  ownerLost(): void {
    if (this.#ended) return;
    for (const n of [...this.#pending.keys()]) {
      this.#settle(n, unavailable("the room's server is gone; join again"));
    }
    this.#end('ownerLost');
  }

  resync(): void {
    if (!this.#ended) this.emit('resync');
  }

  /**
   * The client's connection closed (or the edge gives the session up): the room's node
   * is told why, so a network drop keeps the place and a hang-up ends it.
   */
  close(reason: string): void {
    if (this.#ended && this.#pending.size === 0) return;
    this.#ended = true;
    this.#channel
      .send(this.owner, { t: 'close', from: this.#from, sid: this.id, reason })
      .catch(() => {});
    for (const n of [...this.#pending.keys()]) this.#settle(n, unavailable('connection closed'));
    this.#finishIfDone();
  }

  #end(why: 'gone' | 'drop' | 'ownerLost'): void {
    if (this.#ended) return;
    this.#ended = true;
    this.emit(why);
    this.#finishIfDone();
  }

  #finishIfDone(): void {
    if (this.#ended && this.#pending.size === 0) {
      this.#onFinished(this);
      this.removeAllListeners();
    }
  }
}
