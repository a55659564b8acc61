import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { run } from './clusterNetwork.ts';
import type { TestHost } from './netns.ts';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

export type TestRedis = {
  /** redis://[:password@]address:port */
  url: string;
  address: string;
  port: number;
  /** Everything redis-server wrote, over all its runs. */
  logs(): string;
  /** Whether it answers PING right now, asked from its own host (isolate() does not show here). */
  ping(): Promise<boolean>;
  /** SIGTERM (SIGKILL after 5 s); resolves once it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same address and port; resolves once it answers PING. */
  start(): Promise<void>;
  /** stop() and removes its directory. */
  close(): Promise<void>;
};

const local = { spawn };

/**
 * A real redis-server for tests, in `host`'s namespace (default port 6379, on its
 * address) or on 127.0.0.1 (default: a free port). Nothing persisted, logs captured.
 */
export async function startRedis(
  options: { host?: TestHost; port?: number; password?: string } = {},
): Promise<TestRedis> {
  const { host, password } = options;
  const address = host?.address ?? '127.0.0.1';
  const port = options.port ?? (host ? 6379 : await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'ghosttalk-redis-'));
  const args = [
    ...['--bind', address, '--port', `${port}`, '--dir', dir, '--daemonize', 'no'],
    // An empty argument is an empty value: no RDB snapshots, no log file (stdout).
    ...['--save', '', '--appendonly', 'no', '--logfile', ''],
    ...(password ? ['--requirepass', password] : []),
    // Protected mode refuses non-loopback clients of a server without a password.
    ...(address.startsWith('127.') ? [] : ['--protected-mode', 'no']),
  ];
  const runner = host ?? local;
  let logs = '';
  let child: ChildProcess | undefined;

  const ping = async () => {
    const auth = password ? ['-a', password, '--no-auth-warning'] : [];
    const r = await run(runner, 'redis-cli', ['-h', address, '-p', `${port}`, ...auth, 'ping'], {
      timeoutMs: 2_000,
    }).catch(() => undefined);
    return r?.stdout.trim() === 'PONG';
  };

  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  };

  /** One launch; 'busy' when the port is still held (a previous run not quite gone). */
  const launch = async (): Promise<'ok' | 'busy'> => {
    // setpriv execs redis-server with a parent-death signal: it cannot outlive this process,
    // even one killed by a signal (which skips 'exit' hooks) outside any namespace.
    const c = runner.spawn('setpriv', ['--pdeathsig', 'KILL', 'redis-server', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    const from = logs.length;
    c.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      logs += chunk;
    });
    c.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      logs += chunk;
    });
    const exited = new Promise<void>((resolve) => c.once('close', () => resolve())); // output flushed
    // waitFor retries on errors: an exit ends the wait through the value instead.
    const up = await waitFor(
      `redis-server on ${address}:${port} to answer PING`,
      async () =>
        c.exitCode !== null || c.signalCode !== null ? 'exited' : (await ping()) && 'up',
      { timeoutMs: 10_000, intervalMs: 50 },
    ).catch((error: Error) => error);
    if (up === 'up') return 'ok';
    await stop();
    await exited;
    const output = logs.slice(from);
    if (up === 'exited' && /already in use/i.test(output)) return 'busy';
    throw new Error(`${up === 'exited' ? 'redis-server exited' : up.message}\n${output}`);
  };

  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    // Another process still on the port (e.g. one started elsewhere): wait for it to go.
    await waitFor(`${address}:${port} to be free`, async () => !(await ping()), {
      timeoutMs: 10_000,
    });
    const deadline = Date.now() + 15_000;
    while ((await launch()) === 'busy') {
      if (Date.now() > deadline) throw new Error(`${address}:${port} stayed in use:\n${logs}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  await start().catch((error: Error) => {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  const auth = password ? `:${encodeURIComponent(password)}@` : '';
  return {
    url: `redis://${auth}${address}:${port}`,
    address,
    port,
    logs: () => logs,
    ping,
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One redis-server for a test file, started before its tests and closed after them,
 * with an admin client that waits through the outages some tests cause on purpose.
 */
export function redisForTests(password: string): {
  readonly redis: TestRedis;
  readonly admin: Redis;
} {
  let redis: TestRedis | undefined;
  let admin: Redis | undefined;
  before(async () => {
    redis = await startRedis({ password });
    admin = new Redis(redis.url);
    admin.on('error', () => {});
  });
  after(async () => {
    admin?.disconnect();
    await redis?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('redisForTests: used before its before() hook ran');
    return value;
  };
  return {
    get redis() {
      return started(redis);
    },
    get admin() {
      return started(admin);
    },
  };
}
