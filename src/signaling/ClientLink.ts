import type { RelayedLink } from '../cluster/RelayHost.ts';
import type { GhostTalkSocket } from './ioTypes.ts';

/**
 * A client as a signaling session sees it: its own socket on this node, or (in a
 * cluster) a client connected to another node whose requests come over the relay.
 */
export type ClientLink = Omit<RelayedLink, 'relayed'> & { readonly relayed: boolean };

export function socketLink(socket: GhostTalkSocket): ClientLink {
  return {
    id: socket.id,
    ip: socket.data.ip ?? socket.handshake.address,
    relayed: false,
    route: 'claim',
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
