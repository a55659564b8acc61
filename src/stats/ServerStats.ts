import { EventEmitter } from 'node:events';
import type { RoomRegistry } from '../media/RoomRegistry.ts';
import type { WorkerPool } from '../media/WorkerPool.ts';
import type { StatsSample } from '../protocol/adminProtocol.ts';

export type ServerStatsOptions = {
  rooms: RoomRegistry;
  workers: WorkerPool;
  intervalMs?: number;
  /** Samples kept for the charts (default: 10 minutes at 2 s). */
  historySize?: number;
};

/**
 * Samples rooms, peers, worker CPU/memory and process figures every 2 s into a short
 * history, for the admin charts, `action=stats` and /metrics.
 */
export class ServerStats extends EventEmitter<{ sample: [StatsSample] }> {
  readonly startedAt = Date.now();
  readonly #options: ServerStatsOptions;
  readonly #history: StatsSample[] = [];
  readonly #historySize: number;
  readonly #timer: NodeJS.Timeout;
  /** CPU time per worker pid at the last sample (a replaced worker starts afresh). */
  #lastWorkerCpuMs = new Map<number, number>();
  #lastProcessCpu = process.cpuUsage();
  #lastAt = performance.now();
  #sampling = false;

  constructor(options: ServerStatsOptions) {
    super();
    this.#options = options;
    this.#historySize = options.historySize ?? 300;
    this.#timer = setInterval(() => void this.sample(), options.intervalMs ?? 2000);
    this.#timer.unref();
  }

  history(): StatsSample[] {
    return [...this.#history];
  }

  latest(): StatsSample | undefined {
    return this.#history.at(-1);
  }

  async sample(): Promise<StatsSample | undefined> {
    if (this.#sampling) return undefined;
    this.#sampling = true;
    try {
      const { rooms, workers } = this.#options;
      const now = performance.now();
      const elapsedMs = Math.max(1, now - this.#lastAt);
      this.#lastAt = now;
      // Summed over workers: percent of one core, so two busy workers read 200.
      let workerCpuPercent: number | null = null;
      let workerMaxRssBytes: number | null = null;
      const seen = new Map<number, number>();
      for (const mediaWorker of workers.workers) {
        if (mediaWorker.closed) continue;
        try {
          const usage = await mediaWorker.worker.getResourceUsage();
          const cpuMs = usage.ru_utime + usage.ru_stime;
          seen.set(mediaWorker.pid, cpuMs);
          const last = this.#lastWorkerCpuMs.get(mediaWorker.pid);
          if (last !== undefined) {
            workerCpuPercent = (workerCpuPercent ?? 0) + ((cpuMs - last) / elapsedMs) * 100;
          }
          workerMaxRssBytes = (workerMaxRssBytes ?? 0) + usage.ru_maxrss * 1024;
        } catch {
          // The worker is closing; report it as unknown.
        }
      }
      this.#lastWorkerCpuMs = seen;
      if (workerCpuPercent !== null) workerCpuPercent = round(workerCpuPercent);
      const cpu = process.cpuUsage(this.#lastProcessCpu);
      this.#lastProcessCpu = process.cpuUsage();
      const memory = process.memoryUsage();
      const sample: StatsSample = {
        at: Date.now(),
        rooms: rooms.size,
        peers: rooms.peerCount,
        workerCpuPercent,
        workerMaxRssBytes,
        workerAlive: workers.healthy,
        processCpuPercent: round(((cpu.user + cpu.system) / 1000 / elapsedMs) * 100),
        processRssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
      };
      this.#history.push(sample);
      if (this.#history.length > this.#historySize) this.#history.shift();
      this.emit('sample', sample);
      return sample;
    } finally {
      this.#sampling = false;
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
