/**
 * The baseline: mediasoup with nothing of GhostTalk around it (a worker, a WebRtcServer,
 * a router with the same codecs), for the same media load as GhostTalk's rooms.
 */

import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { mediaCodecs } from '../../src/media/mediaCodecs.ts';
import { freePort } from '../../test/support/ports.ts';

export type BareMediasoup = {
  worker: types.Worker;
  webRtcServer: types.WebRtcServer;
  router: types.Router;
  close: () => void;
};

/** `workerBin`: another build of mediasoup-worker (default: the installed one). */
export async function startBareMediasoup(workerBin?: string): Promise<BareMediasoup> {
  const worker = await mediasoup.createWorker({ logLevel: 'warn', workerBin });
  try {
    const listen = { ip: '127.0.0.1', port: await freePort() };
    const webRtcServer = await worker.createWebRtcServer({
      listenInfos: [{ ...listen, protocol: 'udp' }],
    });
    const router = await worker.createRouter({ mediaCodecs });
    return { worker, webRtcServer, router, close: () => worker.close() };
  } catch (error) {
    worker.close();
    throw error;
  }
}
