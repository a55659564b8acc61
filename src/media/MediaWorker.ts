import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import type { Logger } from '../logging/createLogger.ts';
import type { MediaWorkerEvents, MediaWorkerOptions } from './MediaWorkerTypes.ts';

/**
 * One mediasoup worker process and the WebRtcServer that owns its single media port
 * (UDP and TCP on the same number), so every transport of every room on this worker
 * shares that port and packets are forwarded in C++ only.
 */
export class MediaWorker extends EventEmitter<MediaWorkerEvents> {
  readonly index: number;
  readonly worker: types.Worker;
  readonly webRtcServer: types.WebRtcServer;
  readonly #logger: Logger;
  #consumerCount = 0;
  #routerCount = 0;
  #transportCount = 0;
  #closed = false;

  static async create(options: MediaWorkerOptions): Promise<MediaWorker> {
    const { index, rtcPort, listenIp, announcedAddress, logger } = options;
    const worker = await mediasoup.createWorker({ logLevel: 'warn' });
    // mediasoup closes its workers itself on SIGINT/SIGTERM; the server decides the order
    // instead (a cluster node hands its rooms over first, then closes the workers).
    const { onSignal } = worker as unknown as { onSignal?: (signal: string) => void };
    if (onSignal) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    try {
      const listen = { ip: listenIp, announcedAddress, port: rtcPort };
      const webRtcServer = await worker.createWebRtcServer({
        listenInfos: [
          { ...listen, protocol: 'udp' },
          { ...listen, protocol: 'tcp' },
        ],
      });
      return new MediaWorker(index, worker, webRtcServer, logger);
    } catch (error) {
      worker.close();
      throw error;
    }
  }

  private constructor(
    index: number,
    worker: types.Worker,
    webRtcServer: types.WebRtcServer,
    logger: Logger,
  ) {
    super();
    this.index = index;
    this.worker = worker;
    this.webRtcServer = webRtcServer;
    this.#logger = logger;
    worker.observer.on('newrouter', (router) => {
      router.observer.on('newtransport', (transport) => {
        this.#transportCount += 1;
        transport.observer.once('close', () => {
          this.#transportCount -= 1;
        });
        transport.observer.on('newconsumer', (consumer) => {
          this.#consumerCount += 1;
          consumer.observer.once('close', () => {
            this.#consumerCount -= 1;
          });
        });
      });
    });
    worker.on('died', (error) => {
      this.#closed = true;
      this.#logger.error('mediasoup worker died', {
        worker: index,
        pid: worker.pid,
        error: error.message,
      });
      this.emit('died', error);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Consumers open on this worker now (its forwarding load). */
  get consumerCount(): number {
    return this.#consumerCount;
  }

  /**
   * What placement compares: each forwarded stream (consumer) costs the worker per
   * packet, each peer (two transports) its producer and connection upkeep, each room
   * (router) its speaking detection. New rooms and peers have no consumers yet, so
   * without the other two every new room would land on the same worker.
   */
  get load(): number {
    return this.#consumerCount + this.#transportCount / 2 + this.#routerCount;
  }

  get pid(): number {
    return this.worker.pid;
  }

  /** Counted at once, not when the worker answers, so a burst of new rooms spreads. */
  async createRouter(mediaCodecs: types.RouterRtpCodecCapability[]): Promise<types.Router> {
    this.#routerCount += 1;
    try {
      const router = await this.worker.createRouter({ mediaCodecs });
      router.observer.once('close', () => {
        this.#routerCount -= 1;
      });
      return router;
    } catch (error) {
      this.#routerCount -= 1;
      throw error;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Closing the worker closes its WebRtcServer, routers and transports with it.
    this.worker.close();
  }
}
