import type { Logger } from '../logging/createLogger.ts';

export type MediaWorkerOptions = {
  /** Index in the pool; the WebRtcServer listens on `rtcPort`. */
  index: number;
  rtcPort: number;
  listenIp: string;
  announcedAddress: string;
  logger: Logger;
};

export type MediaWorkerEvents = {
  /** The worker process died on its own (crash, OOM, killed): not emitted by close(). */
  died: [error: Error];
};
