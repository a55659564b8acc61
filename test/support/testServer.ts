import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/loadConfig.ts';
import { GhostTalkServer } from '../../src/GhostTalkServer.ts';
import { closeLogger, createLogger } from '../../src/logging/createLogger.ts';
import { freePort } from './ports.ts';

export type TestServer = {
  server: GhostTalkServer;
  url: string;
  dataDir: string;
  stop: () => Promise<void>;
};

/** A real GhostTalk server on loopback, with its own data dir and free ports. */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ghosttalk-test-'));
  const config = loadConfig([], {
    PORT: String(await freePort()),
    HTTP_HOST: '127.0.0.1',
    RTC_UDP_PORT: String(await freePort()),
    RTC_LISTEN_IP: '127.0.0.1',
    RTC_ANNOUNCED_ADDRESS: '127.0.0.1',
    ROOM_EMPTY_GRACE_MS: '200',
    DATA_DIR: dataDir,
    ...env,
  });
  const logger = createLogger({ dataDir, level: 'debug', console: false });
  const server = await GhostTalkServer.create({ config, logger });
  return {
    server,
    url: `http://127.0.0.1:${server.address.port}`,
    dataDir,
    stop: async () => {
      await server.close();
      await closeLogger(logger);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
