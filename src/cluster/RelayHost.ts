import type { Logger } from '../logging/createLogger.ts';
import type { Ack, RequestName, ServerToClientEvents } from '../protocol/protocol.ts';
import type { JoinRoute, ToOwner } from './clusterRecords.ts';
import type { RelayChannel } from './RelayChannel.ts';

/**
 * A client as a signaling session sees it. Relayed here from another node, or (as
 * signaling's ClientLink, the same shape) a socket on this node.
 */
export type RelayedLink = {
  readonly id: string;
  /** Resolved where the client connected (trusted proxies applied). */
  readonly ip: string;
  /** Came over the relay from another node: it is never relayed again. */
  readonly relayed: true;
  /** Why the client's join came to this node. */
  readonly route: JoinRoute;
  emit<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void;
  /** Closes the client's connection from our side. */
  disconnect(): void;
  /** Where the client is now, for the admin side (kick, ban) to find it. */
  setPlace(place: { roomId: string; peerId: string } | undefined): void;
};

/** The session the signaling layer runs for a relayed client. */
export type RelayedSession = {
  request(name: RequestName, payload: unknown): Promise<Ack<unknown>>;
  close(reason: string): void;
};

type Hosted = { edge: string; session: RelayedSession };

/**
 * On the room's node: the sessions of clients connected through other nodes. A session
 * exists from its first join to the end of its place; its client's own node (the edge)
 * is its only way out.
 */
export class RelayHost {
  readonly #channel: RelayChannel;
  readonly #createSession: (link: RelayedLink) => RelayedSession;
  readonly #logger: Logger;
  readonly #hosted = new Map<string, Hosted>();

  constructor(options: {
    channel: RelayChannel;
    createSession: (link: RelayedLink) => RelayedSession;
    logger: Logger;
  }) {
    this.#channel = options.channel;
    this.#createSession = options.createSession;
    this.#logger = options.logger;
  }

  get size(): number {
    return this.#hosted.size;
  }

  receive(message: ToOwner): void {
    if (message.t === 'drain') return;
    const { sid, from } = message;
    if (message.t === 'close') {
      const hosted = this.#hosted.get(sid);
      if (hosted?.edge !== from) return;
      this.#hosted.delete(sid);
      hosted.session.close(message.reason);
      return;
    }
    let hosted = this.#hosted.get(sid);
    if (hosted && hosted.edge !== from) return;
    if (!hosted) {
      if (message.name !== 'join') {
        this.#send(from, {
          t: 'ack',
          sid,
          n: message.n,
          ack: { ok: false, error: { code: 'NOT_IN_ROOM', message: 'join a room first' } },
        });
        return;
      }
      const link = this.#link(sid, from, message.ip, message.route);
      hosted = { edge: from, session: this.#createSession(link) };
      this.#hosted.set(sid, hosted);
    }
    void hosted.session.request(message.name, message.payload).then((ack) => {
      this.#send(from, { t: 'ack', sid, n: message.n, ack });
    });
  }

  /** The edges that vanished took their clients' connections with them: a network drop. */
  edgesLost(alive: ReadonlySet<string>): void {
    for (const [sid, hosted] of this.#hosted) {
      if (alive.has(hosted.edge)) continue;
      this.#hosted.delete(sid);
      this.#logger.info('relayed session lost its edge node', { edge: hosted.edge });
      hosted.session.close('transport close');
    }
  }

  #link(sid: string, edge: string, ip: string, route: JoinRoute): RelayedLink {
    let hadPlace = false;
    let ending: 'gone' | 'drop' | undefined;
    const end = (t: 'gone' | 'drop') => {
      if (ending) {
        // A takeover forgets the place, then closes: the edge must close, not go local.
        if (t === 'drop') ending = 'drop';
        return;
      }
      ending = t;
      // After the ack being written now: the edge must see it before it stops relaying.
      setImmediate(() => {
        const hosted = this.#hosted.get(sid);
        if (!hosted) return;
        this.#hosted.delete(sid);
        this.#send(edge, { t: ending ?? t, sid });
        hosted.session.close('server namespace disconnect');
      });
    };
    return {
      id: sid,
      ip,
      relayed: true,
      route,
      emit: (event, ...args) => this.#send(edge, { t: 'event', sid, event, args }),
      disconnect: () => end('drop'),
      setPlace: (place) => {
        if (place) hadPlace = true;
        else if (hadPlace) end('gone');
      },
    };
  }

  #send(edge: string, message: Parameters<RelayChannel['send']>[1]): void {
    this.#channel.send(edge, message).catch((error: Error) => {
      this.#logger.debug('relay message not sent', { edge, error: error.message });
    });
  }

  close(): void {
    for (const hosted of this.#hosted.values()) hosted.session.close('server shutting down');
    this.#hosted.clear();
  }
}
