import type { Logger } from '../logging/createLogger.ts';
import type { Peer } from './Peer.ts';

/**
 * Logs each transport's DTLS outcome with the path it took. The server sees only the
 * remote address, so it can tell relayed (from our TURN server) from direct, not a
 * client's host candidate from its server-reflexive one.
 */
export function logMediaConnections(
  peer: Peer,
  roomId: string,
  relayAddresses: ReadonlySet<string>,
  logger: Logger,
): void {
  for (const [direction, transport] of [
    ['send', peer.sendTransport],
    ['recv', peer.recvTransport],
  ] as const) {
    transport.on('dtlsstatechange', (state) => {
      if (state !== 'connected' && state !== 'failed') return;
      const tuple = transport.iceSelectedTuple;
      const remoteIp = tuple?.remoteIp ?? '';
      logger.info(state === 'connected' ? 'media connected' : 'media failed', {
        room: roomId,
        peer: peer.id,
        direction,
        protocol: tuple?.protocol,
        remoteIp,
        path: relayAddresses.has(remoteIp) ? 'relay' : 'direct',
      });
    });
  }
}
