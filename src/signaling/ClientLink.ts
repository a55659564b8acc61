import type { ServerToClientEvents } from '../protocol/protocol.ts';
import type { GhostTalkSocket } from './ioTypes.ts';

/**
 * A client as a signaling session sees it: its own socket on this node, or (in a
 * cluster) a client connected to another node whose requests come over the relay.
 */
export interface ClientLink {
  readonly id: string;
  /** Resolved by the connection middleware (trusted proxies applied). */
  readonly ip: string;
  /** Came over the relay from another node: it is never relayed again. */
  readonly relayed: boolean;
  emit<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void;
  /** Closes the client's connection from our side. */
  disconnect(): void;
  /** Where the client is now, for the admin side (kick, ban) to find it. */
  setPlace(place: { roomId: string; peerId: string } | undefined): void;
}

export function socketLink(socket: GhostTalkSocket): ClientLink {
  return {
    id: socket.id,
    ip: socket.data.ip ?? socket.handshake.address,
    relayed: false,
    emit: (event, ...args) => socket.emit(event, ...args),
    disconnect: () => socket.disconnect(true),
    setPlace: (place) => {
      socket.data.roomId = place?.roomId;
      socket.data.peerId = place?.peerId;
      if (!place) {
        delete socket.data.roomId;
        delete socket.data.peerId;
      }
    },
  };
}
