import type { Peer } from '../media/Peer.ts';
import type { Room } from '../media/Room.ts';
import type { RoomRegistry } from '../media/RoomRegistry.ts';
import type { LeaveReason } from '../media/RoomTypes.ts';
import type { PeerSessions } from './PeerSessions.ts';
import { consumerInfo, peerInfo } from './wire.ts';

/** What a peer's own client is told when the room drops it, if anything. */
const toldOnLeave: Partial<Record<LeaveReason, (peer: Peer, sessions: PeerSessions) => void>> = {
  joinTimeout: (peer, sessions) =>
    sessions.send(peer, 'kicked', { reason: 'your connection did not come up in time' }),
  mediaReset: (peer, sessions) => sessions.send(peer, 'mediaReset'),
};

/**
 * Turns each room's domain events into protocol messages for the sessions that hold
 * its peers: one listener per room, however many people are in it.
 */
export function relayRoomEvents(rooms: RoomRegistry, sessions: PeerSessions): void {
  rooms.on('roomCreated', (room) => relay(room, sessions));
}

function relay(room: Room, sessions: PeerSessions): void {
  const others = (peer: Peer) => [...room.peers.values()].filter((p) => p !== peer);
  room.on('peerJoined', (peer) => {
    const info = peerInfo(peer);
    for (const other of others(peer)) sessions.send(other, 'peerJoined', info);
  });
  room.on('peerLeft', (peer, reason) => {
    for (const other of others(peer)) sessions.send(other, 'peerLeft', { peerId: peer.id });
    toldOnLeave[reason]?.(peer, sessions);
    sessions.gone(peer);
  });
  room.on('peerMuted', (peer) => {
    const event = { peerId: peer.id, muted: peer.muted };
    for (const other of others(peer)) sessions.send(other, 'peerMuted', event);
  });
  // Members on other nodes (a room spanning nodes): told to this node's peers only.
  const everyone = () => room.peers.values();
  room.on('memberJoined', (member) => {
    for (const peer of everyone()) sessions.send(peer, 'peerJoined', peerInfo(member));
  });
  room.on('memberLeft', (member) => {
    for (const peer of everyone()) sessions.send(peer, 'peerLeft', { peerId: member.id });
  });
  room.on('memberMuted', ({ id, muted }) => {
    for (const peer of everyone()) sessions.send(peer, 'peerMuted', { peerId: id, muted });
  });
  room.on('newConsumer', (receiver, consumer) => {
    sessions.send(receiver, 'newConsumer', consumerInfo(room, consumer));
  });
  room.on('consumerClosed', (receiver, consumerId) => {
    sessions.send(receiver, 'consumerClosed', { consumerId });
  });
  room.on('producerOverBudget', (peer, { kbps, maxKbps }) => {
    const reason =
      `your microphone was turned off: it sent ${kbps} kbit/s, far more than speech ` +
      `needs (the limit is ${maxKbps}). Join the room again to talk.`;
    sessions.send(peer, 'producerClosed', { reason });
  });
  room.on('speaking', (peerIds) => {
    for (const peer of room.peers.values()) {
      sessions.send(peer, 'speaking', { peerIds: [...peerIds] });
    }
  });
  room.on('close', (peers) => {
    for (const peer of peers) sessions.gone(peer);
  });
}
