import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { LogTail } from '../logging/LogTail.ts';
import type { RoomRegistry } from '../media/RoomRegistry.ts';
import type { WorkerPool } from '../media/WorkerPool.ts';
import type { ServerStats } from './ServerStats.ts';

export type MetricsOptions = {
  rooms: RoomRegistry;
  workers: WorkerPool;
  /** The ban list (only its size is shown). */
  bans: { readonly size: number };
  stats: ServerStats;
  logTail: LogTail;
  /** Why server.log is not being written, if it is not. */
  logFileProblem: () => string | undefined;
  /** In a cluster: the pipes to other nodes that rooms spanning nodes use. */
  pipes?: () => Promise<{ transports: number; consumers: number; producers: number }>;
};

/**
 * A Prometheus registry of its own (several servers may share a process in tests).
 * Joins, leaves and rooms created are counted from the registry's events; errors from
 * the log stream, which records each of them exactly once.
 */
export function createMetrics({
  rooms,
  workers,
  bans,
  stats,
  logTail,
  logFileProblem,
  pipes,
}: MetricsOptions): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ghosttalk_' });
  const registers = [registry];
  new Gauge({
    name: 'ghosttalk_rooms',
    help: 'Rooms open now',
    registers,
    collect() {
      this.set(rooms.size);
    },
  });
  new Gauge({
    name: 'ghosttalk_peers',
    help: 'People in rooms now',
    registers,
    collect() {
      this.set(rooms.peerCount);
    },
  });
  new Gauge({
    name: 'ghosttalk_consumers',
    help: 'Consumers on this node’s workers (what NODE_CONSUMER_BUDGET counts), pipes included',
    registers,
    collect() {
      this.set(workers.workers.reduce((sum, worker) => sum + worker.consumerCount, 0));
    },
  });
  new Gauge({
    name: 'ghosttalk_rooms_spanning_nodes',
    help: 'Rooms here that also have people on other nodes',
    registers,
    collect() {
      this.set([...rooms.values()].filter((room) => room.remoteMembers.size > 0).length);
    },
  });
  const pipeGauge = new Gauge({
    name: 'ghosttalk_pipes',
    help: 'Pipes to other nodes: transports (one per room and node), producers sent out, producers received',
    labelNames: ['kind'],
    registers,
    async collect() {
      const counts = (await pipes?.()) ?? { transports: 0, consumers: 0, producers: 0 };
      pipeGauge.set({ kind: 'transports' }, counts.transports);
      pipeGauge.set({ kind: 'out' }, counts.consumers);
      pipeGauge.set({ kind: 'in' }, counts.producers);
    },
  });
  new Gauge({
    name: 'ghosttalk_bans',
    help: 'Entries (addresses and ranges) in the ban list',
    registers,
    collect() {
      this.set(bans.size);
    },
  });
  new Gauge({
    name: 'ghosttalk_worker_up',
    help: 'mediasoup workers running now',
    registers,
    collect() {
      this.set(workers.workers.filter((w) => !w.closed).length);
    },
  });
  new Gauge({
    name: 'ghosttalk_worker_cpu_percent',
    help: 'mediasoup worker CPU over the last sample, percent of one core',
    registers,
    collect() {
      this.set(stats.latest()?.workerCpuPercent ?? 0);
    },
  });
  new Gauge({
    name: 'ghosttalk_worker_max_rss_bytes',
    help: 'mediasoup worker peak resident memory',
    registers,
    collect() {
      this.set(stats.latest()?.workerMaxRssBytes ?? 0);
    },
  });
  new Gauge({
    name: 'ghosttalk_log_file_ok',
    help: '1 while server.log is being written, 0 while it cannot be (see /healthz)',
    registers,
    collect() {
      this.set(logFileProblem() === undefined ? 1 : 0);
    },
  });
  const joins = new Counter({
    name: 'ghosttalk_peer_joins_total',
    help: 'Peers that joined a room',
    registers,
  });
  const leaves = new Counter({
    name: 'ghosttalk_peer_leaves_total',
    help: 'Peers that left a room',
    registers,
  });
  const roomsCreated = new Counter({
    name: 'ghosttalk_rooms_created_total',
    help: 'Rooms created',
    registers,
  });
  const errors = new Counter({
    name: 'ghosttalk_errors_total',
    help: 'Lines logged at level error',
    registers,
  });
  rooms.on('peerJoined', () => joins.inc());
  rooms.on('peerLeft', () => leaves.inc());
  rooms.on('roomCreated', () => roomsCreated.inc());
  logTail.on('line', (_line, entry) => {
    if (entry.level === 'error') errors.inc();
  });
  return registry;
}
