import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logging/createLogger.ts';
import { UnavailableError } from './errors.ts';
import { MediaWorker } from './MediaWorker.ts';
import type { WorkerPoolEvents, WorkerPoolOptions } from './WorkerPoolTypes.ts';

const RESTART_ATTEMPTS = 20;
const RESTART_DELAY_MS = 250;
const LIVE_WAIT_MS = 10_000;

/**
 * mediasoup workers, one per core, each owning one media port. A worker that dies is
 * replaced on the same port, so clients' configured firewalls and the announced
 * candidates stay valid.
 */
export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  readonly #slots: MediaWorker[];
  readonly #options: WorkerPoolOptions;
  readonly #logger: Logger;
  #lastPicked = -1;
  #closed = false;

  static async create(options: WorkerPoolOptions): Promise<WorkerPool> {
    const workers: MediaWorker[] = [];
    try {
      for (let index = 0; index < options.count; index++) {
        workers.push(await WorkerPool.#start(options, index));
      }
    } catch (error) {
      for (const worker of workers) worker.close();
      throw error;
    }
    return new WorkerPool(options, workers);
  }

  static #start(options: WorkerPoolOptions, index: number): Promise<MediaWorker> {
    const { basePort, listenIp, announcedAddress, logger } = options;
    return MediaWorker.create({
      index,
      rtcPort: basePort + index,
      listenIp,
      announcedAddress,
      logger,
    });
  }

  private constructor(options: WorkerPoolOptions, workers: MediaWorker[]) {
    super();
    this.#options = options;
    this.#logger = options.logger;
    this.#slots = workers;
    for (const worker of workers) this.#watch(worker);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get workers(): readonly MediaWorker[] {
    return this.#slots;
  }

  /** Every slot has a live worker. */
  get healthy(): boolean {
    return !this.#closed && this.#slots.every((w) => !w.closed);
  }

  /**
   * Resolves once some worker is alive: a room created right after a crash waits for
   * the replacement instead of failing.
   */
  async live(timeoutMs = LIVE_WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#slots.some((w) => !w.closed)) {
      if (this.#closed || Date.now() > deadline) {
        throw new UnavailableError('the media server is restarting, try again');
      }
      await sleep(50);
    }
  }

  /**
   * The live worker with the least load: where a new room (or a room's overflow) goes.
   * Ties go round-robin, starting after the worker picked last.
   */
  leastLoaded(): MediaWorker {
    const count = this.#slots.length;
    let best: MediaWorker | undefined;
    for (let step = 1; step <= count; step++) {
      const worker = this.#slots[(this.#lastPicked + step) % count];
      if (worker && !worker.closed && (!best || worker.load < best.load)) best = worker;
    }
    if (!best) throw new UnavailableError('no live media worker, try again');
    this.#lastPicked = best.index;
    return best;
  }

  #watch(worker: MediaWorker): void {
    worker.once('died', () => {
      void this.#replace(worker);
    });
  }

  async #replace(dead: MediaWorker): Promise<void> {
    for (let attempt = 1; attempt <= RESTART_ATTEMPTS && !this.#closed; attempt++) {
      try {
        // The dead process's port may take a moment to be released.
        const fresh = await WorkerPool.#start(this.#options, dead.index);
        if (this.#closed) {
          fresh.close();
          return;
        }
        this.#slots[dead.index] = fresh;
        this.#watch(fresh);
        this.#logger.warn('mediasoup worker replaced', {
          worker: dead.index,
          deadPid: dead.pid,
          pid: fresh.pid,
          attempt,
        });
        this.emit('replaced', dead, fresh);
        return;
      } catch (error) {
        this.#logger.error('mediasoup worker restart failed', {
          worker: dead.index,
          attempt,
          error: (error as Error).message,
        });
        await sleep(RESTART_DELAY_MS * attempt);
      }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const worker of this.#slots) worker.close();
  }
}
