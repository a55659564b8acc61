import type { Peer } from '../media/Peer.ts';
import type { ServerToClientEvents } from '../protocol/protocol.ts';

/** What a peer's place needs from the signaling session that holds it. */
export interface PlaceHolder {
  /** Sends one event to the client (held back while its join is unanswered). */
  deliver<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void;
  /** A newer session took the place over: forget it without touching it. */
  displaced(): void;
  /** The place is gone (left, timed out, reset): forget it. */
  placeGone(): void;
}

/**
 * Which signaling session holds which peer's place. A place belongs to the newest
 * session that joined or resumed it: after a network switch the client resumes on a new
 * socket while the old one is still half open, and that old socket's close, whenever it
 * comes, must not touch the place.
 */
export class PeerSessions {
  readonly #holders = new Map<string, PlaceHolder>();

  /** Claimed before the peer exists (its id is ours to choose), so no event is missed. */
  claim(peerId: string, holder: PlaceHolder): void {
    const previous = this.#holders.get(peerId);
    this.#holders.set(peerId, holder);
    if (previous && previous !== holder) previous.displaced();
  }

  holds(peerId: string, holder: PlaceHolder): boolean {
    return this.#holders.get(peerId) === holder;
  }

  /** Lets go of the place if `holder` still holds it; tells whether it did. */
  release(peerId: string, holder: PlaceHolder): boolean {
    if (this.#holders.get(peerId) !== holder) return false;
    this.#holders.delete(peerId);
    return true;
  }

  send<E extends keyof ServerToClientEvents>(
    peer: Peer,
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void {
    this.#holders.get(peer.id)?.deliver(event, ...args);
  }

  /** The peer is out of its room: its session forgets the place. */
  gone(peer: Peer): void {
    const holder = this.#holders.get(peer.id);
    this.#holders.delete(peer.id);
    holder?.placeGone();
  }
}
