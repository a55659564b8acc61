import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import type { Logger } from '../logging/createLogger.ts';
import { UnavailableError } from './errors.ts';
import type { MediaWorker } from './MediaWorker.ts';
import { mediaCodecs } from './mediaCodecs.ts';
import type { WorkerPool } from './WorkerPool.ts';

export type Placement = { worker: MediaWorker; router: types.Router };

export type RoomPlacementEvents = {
  /**
   * A worker under one of the room's routers died: every transport on `router` is gone.
   * The placement has already let go of it, unless it was the main router.
   */
  workerLost: [lost: Placement, main: boolean];
};

/**
 * Where one room's media lives: a router on the least-loaded worker to start with and,
 * once that worker passes its consumer budget, routers on other workers for new peers.
 * A producer is piped (`pipeToRouter`) once to each router that needs it.
 */
export class RoomPlacement extends EventEmitter<RoomPlacementEvents> {
  readonly roomId: string;
  /** The first router: it hosts the speaking detector, and every producer is piped to it. */
  readonly main: Placement;
  readonly #workers: WorkerPool;
  readonly #workerConsumerBudget: number;
  readonly #logger: Logger;
  readonly #placements = new Map<MediaWorker, Promise<Placement>>();
  readonly #routers: types.Router[] = [];
  /** Per `producerId:routerId`: the pipe that makes a producer consumable there. */
  readonly #pipes = new Map<string, Promise<void>>();
  #closed = false;

  static async create(options: {
    roomId: string;
    workers: WorkerPool;
    workerConsumerBudget: number;
    logger: Logger;
  }): Promise<RoomPlacement> {
    const worker = options.workers.leastLoaded();
    const router = await worker.createRouter(mediaCodecs);
    return new RoomPlacement(options, { worker, router });
  }

  private constructor(
    options: { roomId: string; workers: WorkerPool; workerConsumerBudget: number; logger: Logger },
    main: Placement,
  ) {
    super();
    this.roomId = options.roomId;
    this.#workers = options.workers;
    this.#workerConsumerBudget = options.workerConsumerBudget;
    this.#logger = options.logger;
    this.main = this.#adopt(main);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** One router per worker the room spans, the main one first. */
  get routers(): readonly types.Router[] {
    return this.#routers;
  }

  #adopt(placement: Placement): Placement {
    this.#placements.set(placement.worker, Promise.resolve(placement));
    this.#routers.push(placement.router);
    placement.router.on('workerclose', () => {
      const main = placement.router === this.#routers[0];
      if (!main) {
        this.#placements.delete(placement.worker);
        this.#routers.splice(this.#routers.indexOf(placement.router), 1);
      }
      this.emit('workerLost', placement, main);
    });
    return placement;
  }

  /**
   * The router a new peer goes on: the room's least-loaded one, unless that worker is
   * past its budget and another worker has less load, which then gets a router.
   */
  async placeNewPeer(): Promise<Placement> {
    const placements = await Promise.all(this.#placements.values());
    const live = placements.filter((p) => !p.worker.closed);
    const best = live.reduce<Placement | undefined>(
      (min, p) => (!min || p.worker.consumerCount < min.worker.consumerCount ? p : min),
      undefined,
    );
    if (!best) throw new UnavailableError('media server restarting, try again');
    if (best.worker.consumerCount < this.#workerConsumerBudget) return best;
    const candidate = this.#workers.leastLoaded();
    if (candidate.consumerCount >= best.worker.consumerCount) return best;
    const existing = this.#placements.get(candidate);
    if (existing) return existing;
    const placement = candidate.createRouter(mediaCodecs).then((router) => {
      if (this.#closed) {
        router.close();
        throw new UnavailableError('room closed while joining');
      }
      this.#logger.info('room spans another worker', {
        room: this.roomId,
        worker: candidate.index,
      });
      return this.#adopt({ worker: candidate, router });
    });
    this.#placements.set(candidate, placement);
    placement.catch(() => this.#placements.delete(candidate));
    return placement;
  }

  /** Makes `producer` (on `from`) consumable on `to`, piping it once if they differ. */
  availableOn(producer: types.Producer, from: types.Router, to: types.Router): Promise<void> {
    if (from === to) return Promise.resolve();
    const key = `${producer.id}:${to.id}`;
    let pipe = this.#pipes.get(key);
    if (!pipe) {
      pipe = from.pipeToRouter({ producerId: producer.id, router: to }).then(() => {});
      this.#pipes.set(key, pipe);
      pipe.catch(() => this.#pipes.delete(key));
      producer.observer.once('close', () => this.#pipes.delete(key));
    }
    return pipe;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const router of this.#routers) router.close();
  }
}
