/**
 * The real entry point, `node src/main.ts`, with a server.log it cannot write: an
 * unusable path from the start (a symlink loop) and a DATA_DIR disk that fills up (a
 * tiny tmpfs). The server keeps serving and logging to the console and the admin log
 * tail, /healthz and /metrics say so, and server.log is written again once it can be.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { settings } from '../src/config/settings.ts';
import { freePort } from './support/ports.ts';
import { SignalingClient } from './support/signalingClient.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const ADMIN_KEY = 'logging-failures-admin-key';
type Entry = Record<string, unknown>;

type Running = {
  url: string;
  stdout: () => string;
  /** SIGTERM, and the exit code. */
  stop: () => Promise<number | null>;
  /** SIGKILL if still running (after a failed assertion), so the mount can go. */
  kill: () => Promise<void>;
};

async function startServer(dataDir: string): Promise<Running> {
  const port = await freePort();
  let rtcPort = await freePort();
  while (rtcPort === port) rtcPort = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const setting of Object.values(settings)) delete env[setting.env];
  const child: ChildProcess = spawn(process.execPath, ['src/main.ts'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...env,
      PORT: String(port),
      HTTP_HOST: '127.0.0.1',
      RTC_UDP_PORT: String(rtcPort),
      RTC_WORKERS: '1',
      RTC_LISTEN_IP: '127.0.0.1',
      RTC_ANNOUNCED_ADDRESS: '127.0.0.1',
      DATA_DIR: dataDir,
      ADMIN_KEY,
      LOG_LEVEL: 'info',
      // Each check joins a fresh room from 127.0.0.1.
      CONNECTIONS_PER_MINUTE: '10000',
      JOINS_PER_MINUTE: '10000',
      ROOM_CREATIONS_PER_MINUTE: '10000',
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const ready = until(() => stdout.includes('GhostTalk is running'), 20_000, 'startup');
  await Promise.race([
    ready,
    exited.then(([code, signal]) => {
      throw new Error(`server exited (${code ?? signal}) before it was ready:\n${stderr}`);
    }),
  ]);
  return {
    url: `http://127.0.0.1:${port}`,
    stdout: () => stdout,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`server had already exited (${child.exitCode}):\n${stderr}`);
      }
      child.kill('SIGTERM');
      const [code] = await exited;
      return code;
    },
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Polls `check` until it holds; fails with `what` after `timeoutMs`. */
async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function health(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}/healthz`);
  return { status: response.status, body: await response.json() };
}

async function logFileOk(url: string): Promise<string | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return /^ghosttalk_log_file_ok (\d+)$/m.exec(text)?.[1];
}

async function adminTail(url: string): Promise<Entry[]> {
  const response = await fetch(`${url}/admin?action=logs`, {
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { lines: Entry[] }).lines;
}

/** Joins and leaves `room`: a few log lines naming it. */
async function visit(url: string, room: string): Promise<void> {
  const client = await SignalingClient.connect(url);
  try {
    const { routerRtpCapabilities } = await client.call('capabilities', {});
    await client.call('join', {
      roomId: room,
      nickname: 'Ann',
      rtpCapabilities: routerRtpCapabilities,
    });
  } finally {
    client.close();
  }
}

/** Every line of server.log, parsed: a half-written line would throw. */
function fileEntries(dataDir: string): Entry[] {
  return readFileSync(join(dataDir, 'server.log'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Entry);
}

const joined = (room: string) => (e: Entry) => e.message === 'peer joined' && e.room === room;

/** While server.log is failing: still serving, still logging everywhere else. */
async function assertDegraded(server: Running, reason: string, room: string): Promise<void> {
  await visit(server.url, room);
  await until(
    async () => (await adminTail(server.url)).some(joined(room)),
    5_000,
    `the admin tail to show ${room}`,
  );
  await until(
    () => new RegExp(`peer joined .*"room":"${room}"`).test(server.stdout()),
    5_000,
    `the console to show ${room}`,
  );
  assert.match(server.stdout(), /error server\.log cannot be written; retrying/);
  assert.deepEqual(await health(server.url), {
    status: 200,
    body: { status: 'degraded', reasons: [reason] },
  });
  assert.equal(await logFileOk(server.url), '0');
}

/** Once the file is usable again: ok, and server.log has the lines logged meanwhile. */
async function assertResumed(server: Running, dataDir: string, room: string): Promise<void> {
  await until(
    async () => {
      const { status, body } = await health(server.url);
      return status === 200 && (body as { status?: string }).status === 'ok';
    },
    15_000,
    '/healthz to say ok again',
  );
  assert.equal(await logFileOk(server.url), '1');
  const entries = fileEntries(dataDir);
  assert.ok(entries.some(joined(room)), 'the lines logged while failing reach the file');
  assert.ok(entries.some((e) => e.message === 'server.log is written again'));
  await visit(server.url, `${room}-after`);
  await until(
    () => fileEntries(dataDir).some(joined(`${room}-after`)),
    5_000,
    'new lines in server.log',
  );
}

describe('server.log failures (node src/main.ts)', () => {
  test('server.log a symlink loop from the start: degraded, still logging, resumes', {
    timeout: 90_000,
  }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ghosttalk-logfail-'));
    const logPath = join(dataDir, 'server.log');
    symlinkSync('server.log', logPath);
    let server: Running | undefined;
    try {
      server = await startServer(dataDir);
      await assertDegraded(server, 'server.log cannot be written: ELOOP', 'loop-room');
      assert.match(server.stdout(), /info server listening/);

      unlinkSync(logPath);
      await assertResumed(server, dataDir, 'loop-room');
      assert.ok(
        fileEntries(dataDir).some((e) => e.message === 'server listening'),
        'lines from before the fix were kept for the file',
      );
      assert.equal(await server.stop(), 0);
    } finally {
      await server?.kill();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('DATA_DIR disk full: degraded, still logging, resumes once space is freed', {
    timeout: 90_000,
  }, async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ghosttalk-logfull-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dataDir], {
        stdio: 'pipe',
      });
    } catch (error) {
      rmSync(dataDir, { recursive: true, force: true });
      t.skip(`cannot mount a tmpfs here (needs root): ${(error as Error).message.trim()}`);
      return;
    }
    let server: Running | undefined;
    try {
      server = await startServer(dataDir);
      assert.deepEqual(await health(server.url), { status: 200, body: { status: 'ok' } });
      assert.equal(await logFileOk(server.url), '1');

      const filler = join(dataDir, 'filler');
      try {
        writeFileSync(filler, Buffer.alloc(1024 * 1024));
      } catch (error) {
        assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
      }
      // Far more lines than fit in server.log's last page, or than a stream that stopped
      // flowing would buffer (about 16 kB) before it pauses the whole logger.
      for (let i = 0; i < 100; i++) await visit(server.url, `fill-${i}`);
      await assertDegraded(server, 'server.log cannot be written: ENOSPC', 'full-room');

      rmSync(filler);
      await assertResumed(server, dataDir, 'full-room');
      assert.equal(await server.stop(), 0);
    } finally {
      await server?.kill();
      execFileSync('umount', [dataDir]);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
