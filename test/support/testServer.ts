import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, loadConfig } from '../../src/config/loadConfig.ts';
import { GhostTalkServer } from '../../src/GhostTalkServer.ts';
import { closeLogger, createLogger } from '../../src/logging/createLogger.ts';
import type { MediaWorker } from '../../src/media/MediaWorker.ts';
import { freePort } from './ports.ts';

export type TestServer = {
  server: GhostTalkServer;
  url: string;
  dataDir: string;
  config: Config;
  /** The first mediasoup worker (tests run one unless they ask for more). */
  worker: () => MediaWorker;
  stop: () => Promise<void>;
};

/**
 * A real GhostTalk server on loopback, with its own data dir and free ports. A DATA_DIR
 * given in `env` is used as is and kept on stop (to restart on the same data).
 */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const ownDataDir = env.DATA_DIR === undefined;
  const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'ghosttalk-test-'));
  const config = loadConfig([], {
    PORT: String(await freePort()),
    HTTP_HOST: '127.0.0.1',
    RTC_UDP_PORT: String(await freePort()),
    RTC_LISTEN_IP: '127.0.0.1',
    RTC_ANNOUNCED_ADDRESS: '127.0.0.1',
    ROOM_EMPTY_GRACE_MS: '200',
    RTC_WORKERS: '1',
    // Every test client comes from 127.0.0.1: per-IP budgets sized for a whole suite.
    CONNECTIONS_PER_MINUTE: '10000',
    JOINS_PER_MINUTE: '10000',
    ROOM_CREATIONS_PER_MINUTE: '10000',
    MAX_SOCKETS_PER_IP: '10000',
    DATA_DIR: dataDir,
    ...env,
  });
  const logger = createLogger({
    dataDir,
    level: 'debug',
    console: false,
    secrets: [config.adminKey],
  });
  const server = await GhostTalkServer.create({ config, logger });
  return {
    server,
    url: `http://127.0.0.1:${server.address.port}`,
    dataDir,
    config,
    worker: () => {
      const first = server.workers.workers[0];
      if (!first) throw new Error('no worker');
      return first;
    },
    stop: async () => {
      await server.close();
      await closeLogger(logger);
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
