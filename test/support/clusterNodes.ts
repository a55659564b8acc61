import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpGet } from './clusterNetwork.ts';
import { childEnv, collectOutput } from './mainProcess.ts';
import type { TestHost } from './netns.ts';
import { waitFor } from './wait.ts';

export { type Forward, forwardToHost } from './clusterNetwork.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every node's admin key (the same on all, as an operator would set it). */
export const CLUSTER_ADMIN_KEY = 'cluster-test-admin-key-0123456789';
export const NODE_PORT = 8080;

export type ClusterNode = {
  host: TestHost;
  nodeId: string;
  /** http://<host address>:8080, reachable from other hosts (see forwardToHost for this process). */
  url: string;
  dataDir: string;
  child: ChildProcess;
  out(): string;
  err(): string;
  /** The JSON lines of its server.log so far. */
  logLines(): Record<string, unknown>[];
  kill(signal?: NodeJS.Signals): void;
  /** Its exit code (null when a signal ended it), once it has exited. */
  exited(): Promise<number | null>;
  /** Resolves once GET /healthz answers 200; rejects if it exits first. */
  ready(timeoutMs?: number): Promise<void>;
  /** SIGTERM (SIGKILL after 15 s), awaits its exit. Keeps dataDir. */
  stop(): Promise<void>;
  /** stop() and removes dataDir. */
  close(): Promise<void>;
};

const dataDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * `node src/main.ts` inside `host` as one cluster node: web on 0.0.0.0:8080, media on
 * the host's address, port 50000 (every host has its own namespace, so all nodes use the
 * same ports), a fresh DATA_DIR, per-IP budgets raised (test clients share few addresses).
 * `env` adds or overrides settings, e.g. TRUSTED_PROXIES: the lb host's address.
 */
export function startNode(
  host: TestHost,
  options: { nodeId: string; redisUrl: string; env?: Record<string, string> },
): ClusterNode {
  const dataDir = mkdtempSync(join(tmpdir(), `ghosttalk-${options.nodeId}-`));
  dataDirs.add(dataDir);
  const env = {
    PORT: `${NODE_PORT}`,
    HTTP_HOST: '0.0.0.0',
    RTC_LISTEN_IP: host.address,
    RTC_ANNOUNCED_ADDRESS: host.address,
    RTC_UDP_PORT: '50000',
    RTC_WORKERS: '1',
    ADMIN_KEY: CLUSTER_ADMIN_KEY,
    DATA_DIR: dataDir,
    NODE_ID: options.nodeId,
    REDIS_URL: options.redisUrl,
    CLUSTER_LEASE_MS: '3000',
    CONNECTIONS_PER_MINUTE: '10000',
    JOINS_PER_MINUTE: '10000',
    ROOM_CREATIONS_PER_MINUTE: '10000',
    MAX_SOCKETS_PER_IP: '10000',
    LOG_LEVEL: 'debug',
    ...options.env,
  };
  // `ip netns exec` execs (no fork): child.pid is the node process itself.
  const child = host.spawn(process.execPath, ['src/main.ts'], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;
  const url = `http://${host.address}:${NODE_PORT}`;

  const stop = async () => {
    if (hasExited()) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exit;
    clearTimeout(timer);
  };

  return {
    host,
    nodeId: options.nodeId,
    url,
    dataDir,
    child,
    ...output,
    logLines: () =>
      readFileSync(join(dataDir, 'server.log'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    kill: (signal = 'SIGTERM') => void child.kill(signal),
    exited: () => exit,
    async ready(timeoutMs = 30_000) {
      // waitFor retries on errors: an exit ends the wait through the value instead.
      const result = await waitFor(
        `${options.nodeId} to answer /healthz`,
        async () => {
          if (hasExited()) return 'exited';
          return (await httpGet(host, `${url}/healthz`, { timeoutMs: 1_000 })).status === 200;
        },
        { timeoutMs, intervalMs: 200 },
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${output.out()}${output.err()}`);
      });
      if (result === 'exited') {
        throw new Error(
          `${options.nodeId} exited (${child.exitCode}):\n${output.out()}${output.err()}`,
        );
      }
    },
    stop,
    async close() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
      dataDirs.delete(dataDir);
    },
  };
}
