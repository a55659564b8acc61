/** Media-layer objects in the shapes the protocol sends. */
import type { types } from 'mediasoup';
import type { Peer } from '../media/Peer.ts';
import type { Room } from '../media/Room.ts';
import type { Member } from '../media/RoomTypes.ts';
import type { ConsumerInfo, PeerInfo, Responses, TransportInfo } from '../protocol/protocol.ts';

export function peerInfo(peer: Member): PeerInfo {
  return { id: peer.id, nickname: peer.nickname, muted: peer.muted };
}

function transportInfo(transport: types.WebRtcTransport): TransportInfo {
  return {
    id: transport.id,
    iceParameters: transport.iceParameters,
    iceCandidates: transport.iceCandidates,
    dtlsParameters: transport.dtlsParameters,
  };
}

export function consumerInfo(room: Room, consumer: types.Consumer): ConsumerInfo {
  return {
    id: consumer.id,
    producerId: consumer.producerId,
    peerId: room.talkerOf(consumer.producerId) ?? '',
    kind: 'audio',
    rtpParameters: consumer.rtpParameters,
  };
}

export type JoinAnswer = Omit<Responses['join'], 'iceServers' | 'iceTransportPolicy'>;

export function joinAnswer(
  room: Room,
  place: { peer: Peer; others: Member[]; consumers: Iterable<types.Consumer> },
  resumed: boolean,
): JoinAnswer {
  const { peer } = place;
  return {
    peerId: peer.id,
    roomId: room.id,
    resumeToken: peer.resumeToken,
    resumed,
    peers: place.others.map(peerInfo),
    sendTransport: transportInfo(peer.sendTransport),
    recvTransport: transportInfo(peer.recvTransport),
    consumers: [...place.consumers].map((c) => consumerInfo(room, c)),
  };
}
