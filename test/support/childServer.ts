import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selfSignedCertificate as testCertificate } from './certificates.ts';
import type { TestHost } from './netns.ts';
import { waitFor } from './wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type ChildServer = {
  url: string;
  port: number;
  /** The JSON lines of `server.log` so far. */
  logLines(): Record<string, unknown>[];
  stop(): Promise<void>;
};

/**
 * `node src/main.ts` inside `host`, bound to its veth address (web port 8080 and
 * media), with the per-IP budgets testServer.ts uses (every browser comes from one
 * address). `https` serves over TLS_CERT/TLS_KEY with a self-signed certificate for
 * that address (browsers must be told to accept it); `env` adds or overrides settings.
 */
export async function startChildServer(
  host: TestHost,
  dataDir: string,
  { https = false, env = {} }: { https?: boolean; env?: Record<string, string> } = {},
): Promise<ChildServer> {
  const port = 8080;
  const child = host.spawn(process.execPath, [join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      HTTP_HOST: host.address,
      RTC_UDP_PORT: '50000',
      RTC_LISTEN_IP: host.address,
      RTC_ANNOUNCED_ADDRESS: host.address,
      RTC_WORKERS: '1',
      ROOM_EMPTY_GRACE_MS: '500',
      CONNECTIONS_PER_MINUTE: '10000',
      JOINS_PER_MINUTE: '10000',
      ROOM_CREATIONS_PER_MINUTE: '10000',
      MAX_SOCKETS_PER_IP: '10000',
      DATA_DIR: dataDir,
      ADMIN_KEY: randomBytes(18).toString('base64url'),
      LOG_LEVEL: 'debug',
      ...(https ? testCertificate(dataDir, host.address) : {}),
      ...env,
    },
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const stop = async () => {
    if (exited) return;
    const done = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(timer);
  };
  try {
    await waitFor(
      'the server to start',
      () => {
        if (exited) throw new Error(`it exited:\n${output}`);
        return output.includes('GhostTalk is running');
      },
      { timeoutMs: 30_000 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `${https ? 'https' : 'http'}://${host.address}:${port}`,
    port,
    logLines: () =>
      readFileSync(join(dataDir, 'server.log'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop,
  };
}
