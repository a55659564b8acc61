import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Peer } from '../media/Peer.ts';
import type { Room } from '../media/Room.ts';
import type { RoomRegistry } from '../media/RoomRegistry.ts';

export type MediaMetricsOptions = {
  rooms: RoomRegistry;
  /** IPs of our TURN servers: a transport whose remote address is one is relayed. */
  relayAddresses: ReadonlySet<string>;
  registry: Registry;
  /** How often consumers' stats are read (default 10 s). */
  sampleIntervalMs?: number;
  /** Consumers read per sample at most; past it, a rotating share (default 1000). */
  maxConsumersPerSample?: number;
};

type Totals = { packets: number; bytes: number };

/**
 * What people feel, for operators: how long joins take until media flows, why media
 * fails, the paths transports take, what is forwarded, loss and round-trip times. Every
 * label has a fixed set of values: no room or peer ids.
 */
export class MediaMetrics {
  readonly #o: Required<MediaMetricsOptions>;
  readonly #joinSeconds: Histogram<string>;
  readonly #failures: Counter<'reason'>;
  readonly #iceRestarts: Counter<string>;
  readonly #rejoins: Counter<'kind'>;
  readonly #packets: Counter<string>;
  readonly #bytes: Counter<string>;
  readonly #loss: Histogram<string>;
  readonly #rtt: Histogram<string>;
  /** Cumulative counters per consumer at its last sample. */
  readonly #seen = new Map<string, Totals>();
  readonly #timer: NodeJS.Timeout;
  #cursor = 0;
  #sampling = false;

  constructor(options: MediaMetricsOptions) {
    this.#o = { sampleIntervalMs: 10_000, maxConsumersPerSample: 1000, ...options };
    const registers = [options.registry];
    this.#joinSeconds = new Histogram({
      name: 'ghosttalk_join_duration_seconds',
      help: 'From a join request to its media connected (DTLS up on the send transport)',
      buckets: [0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30],
      registers,
    });
    this.#failures = new Counter({
      name: 'ghosttalk_media_failures_total',
      help: 'Media connections that failed, by reason: join_timeout (never connected), dtls_failed, worker_lost',
      labelNames: ['reason'],
      registers,
    });
    this.#iceRestarts = new Counter({
      name: 'ghosttalk_ice_restarts_total',
      help: 'ICE restarts clients asked for (their media path was lost)',
      registers,
    });
    this.#rejoins = new Counter({
      name: 'ghosttalk_rejoins_total',
      help: 'Joins that came back after a drop: resumed (the same place) or fresh (the place was gone)',
      labelNames: ['kind'],
      registers,
    });
    const transports = new Gauge({
      name: 'ghosttalk_transports',
      help: 'Connected WebRTC transports by path (direct or relay through our TURN) and protocol',
      labelNames: ['path', 'protocol'],
      registers,
      collect: () => {
        transports.reset();
        for (const [labels, count] of this.#paths()) transports.set(labels, count);
      },
    });
    this.#packets = new Counter({
      name: 'ghosttalk_forwarded_packets_total',
      help: 'RTP packets sent to listeners (read from consumers’ stats, with a delay)',
      registers,
    });
    this.#bytes = new Counter({
      name: 'ghosttalk_forwarded_bytes_total',
      help: 'RTP bytes sent to listeners (read from consumers’ stats, with a delay)',
      registers,
    });
    this.#loss = new Histogram({
      name: 'ghosttalk_consumer_loss_ratio',
      help: 'Loss reported by listeners (RTCP fraction lost), one observation per consumer per sample',
      buckets: [0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
      registers,
    });
    this.#rtt = new Histogram({
      name: 'ghosttalk_consumer_rtt_seconds',
      help: 'Round-trip time to listeners (from RTCP), one observation per consumer per sample',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2],
      registers,
    });
    options.rooms.on('roomCreated', (room) => this.#watch(room));
    this.#timer = setInterval(() => void this.sample(), this.#o.sampleIntervalMs);
    this.#timer.unref();
  }

  /** A client restarted ICE on one of its transports. */
  iceRestarted(): void {
    this.#iceRestarts.inc();
  }

  /** A join that carried a resume token: its place taken back, or made afresh. */
  rejoined(kind: 'resumed' | 'fresh'): void {
    this.#rejoins.inc({ kind });
  }

  #watch(room: Room): void {
    room.on('peerJoined', (peer) => {
      peer.once('connected', () => {
        this.#joinSeconds.observe((Date.now() - peer.requestedAt) / 1000);
      });
      for (const transport of [peer.sendTransport, peer.recvTransport]) {
        transport.on('dtlsstatechange', (state) => {
          if (state === 'failed') this.#failures.inc({ reason: 'dtls_failed' });
        });
      }
    });
    room.on('peerLeft', (_peer, reason) => {
      if (reason === 'joinTimeout') this.#failures.inc({ reason: 'join_timeout' });
      else if (reason === 'mediaReset') this.#failures.inc({ reason: 'worker_lost' });
    });
  }

  #paths(): Map<{ path: string; protocol: string }, number> {
    const counts = new Map<string, number>();
    for (const room of this.#o.rooms.values()) {
      for (const peer of room.peers.values()) {
        for (const transport of [peer.sendTransport, peer.recvTransport]) {
          const tuple = transport.iceSelectedTuple;
          if (!tuple || transport.closed) continue;
          const path = this.#o.relayAddresses.has(tuple.remoteIp ?? '') ? 'relay' : 'direct';
          const key = `${path}/${tuple.protocol}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      }
    }
    const out = new Map<{ path: string; protocol: string }, number>();
    for (const [key, count] of counts) {
      const [path = '', protocol = ''] = key.split('/');
      out.set({ path, protocol }, count);
    }
    return out;
  }

  /** Reads consumers' stats: forwarded packets and bytes, loss and round-trip times. */
  async sample(): Promise<void> {
    if (this.#sampling) return;
    this.#sampling = true;
    try {
      const consumers = [...this.#o.rooms.values()].flatMap((room) =>
        [...room.peers.values()].flatMap((peer: Peer) => [...peer.consumers.values()]),
      );
      const live = new Set(consumers.map((c) => c.id));
      for (const id of this.#seen.keys()) if (!live.has(id)) this.#seen.delete(id);
      const max = this.#o.maxConsumersPerSample;
      let batch = consumers;
      if (consumers.length > max) {
        // A rotating share: each consumer is read in turn; its counters are cumulative.
        this.#cursor %= consumers.length;
        batch = [...consumers, ...consumers].slice(this.#cursor, this.#cursor + max);
        this.#cursor += max;
      }
      const reports = await Promise.all(batch.map((c) => c.getStats().catch(() => [])));
      reports.forEach((stats, i) => {
        const consumer = batch[i];
        const out = stats.find((s) => s.type === 'outbound-rtp');
        if (!consumer || !out) return;
        const last = this.#seen.get(consumer.id) ?? { packets: 0, bytes: 0 };
        this.#packets.inc(Math.max(0, out.packetCount - last.packets));
        this.#bytes.inc(Math.max(0, out.byteCount - last.bytes));
        this.#seen.set(consumer.id, { packets: out.packetCount, bytes: out.byteCount });
        // mediasoup reports RTCP's fraction lost as is: a fraction of 256.
        if (out.packetCount > 0) this.#loss.observe(out.fractionLost / 256);
        if (out.roundTripTime) this.#rtt.observe(out.roundTripTime / 1000);
      });
    } finally {
      this.#sampling = false;
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
