import type { Logger } from '../logging/createLogger.ts';
import type { MediaWorker } from './MediaWorker.ts';

export type WorkerPoolOptions = {
  /** How many workers (usually one per core). Worker i listens on `basePort + i`. */
  count: number;
  basePort: number;
  listenIp: string;
  announcedAddress: string;
  logger: Logger;
};

export type WorkerPoolEvents = {
  /** A worker died and its slot got a fresh worker on the same port. */
  replaced: [dead: MediaWorker, fresh: MediaWorker];
};
