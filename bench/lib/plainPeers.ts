/**
 * Plain-RTP media for people who joined a GhostTalk server through signaling, in the
 * server's own process (serverChild.ts): the join, the room, the placement across nodes,
 * the producers, the consumers and the pipes between nodes are all GhostTalk's; only the
 * transports the load generator talks to are swapped for PlainTransports on the same
 * router, since the generator speaks plain RTP, not ICE + DTLS + SRTP.
 *
 *   - a talker's send transport is replaced before it produces (its client then sends
 *     `produce` through signaling with the new transport's id, as usual);
 *   - a listener's receive transport is replaced after its join: the consumers of the
 *     talkers it already had are recreated on it by the Peer (Peer.consume), and every
 *     consumer the room gives it later lands there too; all of them are resumed, as the
 *     app does once it has them. Its other consumers (of muted people) stay paused on
 *     the old WebRTC transport, which closes with the new one.
 *
 * Benchmark-only surgery on a Peer's transports (GhostTalk has no hook for it): nothing in
 * src is changed, and a peer treated this way behaves as any other in its room.
 */
import type { types } from 'mediasoup';
import type { GhostTalkServer } from '../../src/GhostTalkServer.ts';
import type { Peer } from '../../src/media/Peer.ts';
import type { Room } from '../../src/media/Room.ts';

const HOST = '127.0.0.1';

type Listener = {
  peer: Peer;
  transport: types.PlainTransport;
  /** Consumers created on the plain transport (resumed as they come). */
  onPlain: Set<string>;
};

/** Writable view of the two transports a Peer holds (readonly in its type only). */
type MutablePeer = { sendTransport: types.Transport; recvTransport: types.Transport };

export type SpanState = {
  /** This node's people in the room. */
  peers: string[];
  /** Members of the room on other nodes, as this node knows them. */
  remoteMembers: number;
  /** Consumers on this node's workers (WebRTC, plain and pipe consumers alike). */
  consumers: number;
  /** Pipe transports to other nodes, and the pipes they carry (all rooms of this node). */
  pipes: { transports: number; consumers: number; producers: number };
  /** RTP bytes through this node's pipe transports so far, both ways (all rooms). */
  pipeRtpBytes: { sent: number; received: number };
};

export class PlainPeers {
  readonly #server: GhostTalkServer;
  readonly #listeners = new Map<string, Listener>();
  readonly #pipeTransports = new Set<types.PipeTransport>();

  constructor(server: GhostTalkServer) {
    this.#server = server;
    for (const { worker } of server.workers.workers) {
      worker.observer.on('newrouter', (router) => {
        router.observer.on('newtransport', (transport) => {
          if (transport.type !== 'pipe') return;
          const pipe = transport as types.PipeTransport;
          this.#pipeTransports.add(pipe);
          pipe.observer.once('close', () => this.#pipeTransports.delete(pipe));
        });
      });
    }
  }

  #room(roomId: string): Room {
    const room = this.#server.rooms.get(roomId);
    if (!room) throw new Error(`no part of room ${roomId} on this node`);
    return room;
  }

  /** Whether `peerId` is one of this node's people in `roomId`. */
  holds(roomId: string, peerId: string): boolean {
    return this.#server.rooms.get(roomId)?.peers.has(peerId) ?? false;
  }

  /** A talker: a comedia PlainTransport in place of its send transport (before it produces). */
  async send(roomId: string, peerId: string): Promise<{ transportId: string; port: number }> {
    const peer = this.#room(roomId).peer(peerId);
    if (peer.producer) throw new Error('already producing');
    const transport = await peer.router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: HOST },
      rtcpMux: true,
      comedia: true,
    });
    const old = peer.sendTransport;
    (peer as unknown as MutablePeer).sendTransport = transport;
    old.close();
    // Media is "connected" as far as the room's join deadline is concerned.
    peer.emit('connected');
    return { transportId: transport.id, port: transport.tuple.localPort };
  }

  /**
   * A listener: a PlainTransport sending to the load generator's `port` in place of its
   * receive transport; the consumers of `talkers` it has are moved there and resumed.
   */
  async receive(roomId: string, peerId: string, port: number, talkers: string[]): Promise<void> {
    const peer = this.#room(roomId).peer(peerId);
    const transport = await peer.router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: HOST },
      rtcpMux: true,
      comedia: false,
    });
    await transport.connect({ ip: HOST, port });
    const listener: Listener = { peer, transport, onPlain: new Set() };
    transport.observer.on('newconsumer', (consumer) => {
      listener.onPlain.add(consumer.id);
      consumer.observer.once('close', () => listener.onPlain.delete(consumer.id));
      consumer.resume().catch(() => undefined);
    });
    const old = peer.recvTransport;
    (peer as unknown as MutablePeer).recvTransport = transport;
    transport.observer.once('close', () => {
      old.close();
      if (this.#listeners.get(peerId) === listener) this.#listeners.delete(peerId);
    });
    this.#listeners.set(peerId, listener);
    peer.emit('connected');
    await this.#move(listener, new Set(talkers));
  }

  /** Recreates on the plain transport the listener's consumers of `talkers` still elsewhere. */
  async #move(listener: Listener, talkers: ReadonlySet<string>): Promise<void> {
    const { peer } = listener;
    const stray = [...peer.consumers.values()].filter(
      (c) => talkers.has(c.producerId) && !listener.onPlain.has(c.id),
    );
    for (const consumer of stray) consumer.close();
    await Promise.all(stray.map((c) => peer.consume(c.producerId)));
  }

  /**
   * For each listener of `roomId` here: how many of `talkers` it hears on its plain
   * transport, after moving any that arrived on the old one meanwhile.
   */
  async ready(roomId: string, talkers: string[]): Promise<Record<string, number>> {
    const wanted = new Set(talkers);
    const counts: Record<string, number> = {};
    for (const [peerId, listener] of this.#listeners) {
      if (listener.peer.closed || !this.#room(roomId).peers.has(peerId)) continue;
      await this.#move(listener, wanted);
      counts[peerId] = [...listener.peer.consumers.values()].filter(
        (c) => wanted.has(c.producerId) && listener.onPlain.has(c.id) && !c.paused,
      ).length;
    }
    return counts;
  }

  async state(roomId: string): Promise<SpanState> {
    const room = this.#server.rooms.get(roomId);
    const stats = await Promise.all(
      [...this.#pipeTransports].map((t) => t.getStats().catch((): types.PipeTransportStat[] => [])),
    );
    const pipeRtpBytes = { sent: 0, received: 0 };
    for (const s of stats.flat()) {
      pipeRtpBytes.sent += s.rtpBytesSent;
      pipeRtpBytes.received += s.rtpBytesReceived;
    }
    return {
      peers: room ? [...room.peers.keys()] : [],
      remoteMembers: room?.remoteMembers.size ?? 0,
      consumers: this.#server.workers.workers.reduce((sum, w) => sum + w.consumerCount, 0),
      pipes: (await this.#server.cluster?.spans.counts()) ?? {
        transports: 0,
        consumers: 0,
        producers: 0,
      },
      pipeRtpBytes,
    };
  }
}
