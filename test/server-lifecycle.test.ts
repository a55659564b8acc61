/**
 * The real entry point, `node src/main.ts`, as a child process: it starts, answers
 * /healthz, owns a mediasoup-worker child, stops cleanly on SIGTERM (exit 0, worker
 * gone, log flushed), and refuses bad settings with exit code 2 before starting anything.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { settings } from '../src/config/settings.ts';
import { freePort, freePortRange } from './support/ports.ts';
import { SignalingClient } from './support/signalingClient.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const settingEnvNames = Object.values(settings).map((s) => s.env);

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** The parent's environment without any GhostTalk setting, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const name of settingEnvNames) delete base[name];
  return { ...base, ...env };
}

function startServer(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['src/main.ts', ...args], {
    cwd: repoRoot,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function collect(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return { stdout: () => stdout, stderr: () => stderr };
}

/** Resolves with the exit, or rejects (after killing the child) when it takes too long. */
function waitForExit(child: ChildProcess, timeoutMs: number): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pid ${child.pid} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Runs main.ts to completion (bad settings, --help). */
async function run(args: string[], env: Record<string, string>) {
  const child = startServer(args, env);
  const output = collect(child);
  const exit = await waitForExit(child, 15_000);
  return { ...exit, stdout: output.stdout(), stderr: output.stderr() };
}

/** Waits for a stdout line matching `pattern`; fails early if the child exits first. */
function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  timeoutMs: number,
  stderr: () => string,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const finish = (error: Error | undefined, match?: RegExpMatchArray) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else if (match) resolve(match);
    };
    const onData = (chunk: string | Buffer) => {
      buffered += chunk.toString();
      const match = buffered.match(pattern);
      if (match) finish(undefined, match);
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(
        new Error(`server exited (code ${code}, signal ${signal}) before ready:\n${stderr()}`),
      );
    const timer = setTimeout(
      () => finish(new Error(`no ${pattern} on stdout within ${timeoutMs} ms:\n${stderr()}`)),
      timeoutMs,
    );
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

function childPids(pid: number): number[] {
  const taskDir = `/proc/${pid}/task`;
  return readdirSync(taskDir).flatMap((task) =>
    readFileSync(join(taskDir, task, 'children'), 'utf8')
      .split(/\s+/)
      .filter(Boolean)
      .map(Number),
  );
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Gone, or a zombie waiting for a reaper: either way it has exited. */
function processExists(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function twoDistinctPorts(): Promise<[number, number]> {
  const first = await freePort();
  let second = await freePort();
  while (second === first) second = await freePort();
  return [first, second];
}

describe('server lifecycle (node src/main.ts)', () => {
  let dataDir: string;

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ghosttalk-lifecycle-'));
  });

  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('starts, serves /healthz, stops on SIGTERM with its workers and a flushed log', {
    timeout: 60_000,
  }, async (t) => {
    const rtcPort = await freePortRange(2);
    let port = await freePort();
    while (port === rtcPort || port === rtcPort + 1) port = await freePort();
    const banFile = '[\n  "203.0.113.7",\n  "198.51.100.0/24"\n]\n';
    writeFileSync(join(dataDir, 'banned_ips.json'), banFile);
    const child = startServer([], {
      PORT: String(port),
      HTTP_HOST: '127.0.0.1',
      RTC_UDP_PORT: String(rtcPort),
      RTC_WORKERS: '2',
      RTC_LISTEN_IP: '127.0.0.1',
      RTC_ANNOUNCED_ADDRESS: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
    });
    const output = collect(child);
    try {
      const started = Date.now();
      const [, url] = await waitForLine(
        child,
        /GhostTalk is running: open (http:\/\/\S+)/,
        20_000,
        output.stderr,
      );
      t.diagnostic(`ready in ${Date.now() - started} ms at ${url}`);
      assert.equal(url, `http://127.0.0.1:${port}/`);

      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { status: 'ok' });

      assert.ok(child.pid);
      const workers = childPids(child.pid).filter((pid) =>
        commandLine(pid).includes('mediasoup-worker'),
      );
      assert.equal(
        workers.length,
        2,
        `two mediasoup-worker children (children: ${childPids(child.pid)})`,
      );

      // Someone in a room when the server stops hears about it first.
      const client = await SignalingClient.connect(`http://127.0.0.1:${port}`);
      const { routerRtpCapabilities } = await client.call('capabilities', {});
      await client.call('join', {
        roomId: 'stop',
        nickname: 'Ann',
        rtpCapabilities: routerRtpCapabilities,
      });
      const told = client.next('serverShutdown', 10_000);

      const stopping = Date.now();
      child.kill('SIGTERM');
      await told;
      client.close();
      const exit = await waitForExit(child, 10_000);
      t.diagnostic(`exited ${Date.now() - stopping} ms after SIGTERM`);
      assert.deepEqual(exit, { code: 0, signal: null }, `stderr:\n${output.stderr()}`);

      // The workers die with the server, not after it; allow a moment for reaping.
      for (let i = 0; i < 20 && workers.some(processExists); i++) await sleep(100);
      for (const pid of workers) {
        assert.equal(processExists(pid), false, `worker ${pid} outlived the server`);
      }

      assert.equal(readFileSync(join(dataDir, 'banned_ips.json'), 'utf8'), banFile);

      const lines = readFileSync(join(dataDir, 'server.log'), 'utf8').trimEnd().split('\n');
      const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      for (const entry of entries) {
        assert.equal(typeof entry.level, 'string');
        assert.equal(typeof entry.message, 'string');
        assert.ok(!Number.isNaN(Date.parse(String(entry.timestamp))), 'ISO timestamp');
      }
      const messages = entries.map((e) => e.message);
      assert.ok(messages.includes('server listening'), `log: ${messages}`);
      assert.ok(messages.includes('server closed'), `log: ${messages}`);
      const listening = entries.find((e) => e.message === 'server listening');
      assert.deepEqual(
        [...((listening?.workerPids as number[] | undefined) ?? [])].sort(),
        [...workers].sort(),
      );
      assert.equal(listening?.port, port);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  const validEnv = (dir: string) => ({
    HTTP_HOST: '127.0.0.1',
    RTC_LISTEN_IP: '127.0.0.1',
    RTC_ANNOUNCED_ADDRESS: '127.0.0.1',
    DATA_DIR: dir,
  });

  test('PORT=abc exits 2 naming the setting and starts nothing', { timeout: 30_000 }, async () => {
    const dir = join(dataDir, 'bad-port');
    const rtcPort = String(await freePort());
    const result = await run([], { ...validEnv(dir), PORT: 'abc', RTC_UDP_PORT: rtcPort });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /PORT/);
    assert.match(result.stderr, /-port/);
    assert.match(result.stderr, /abc/);
    assert.doesNotMatch(result.stdout, /GhostTalk is running/);
    assert.equal(existsSync(dir), false, 'DATA_DIR not created, nothing logged');
  });

  test('an unknown flag exits 2 naming the flag and starts nothing', {
    timeout: 30_000,
  }, async () => {
    const dir = join(dataDir, 'bad-flag');
    const [port, rtcPort] = (await twoDistinctPorts()).map(String) as [string, string];
    const result = await run(['-bogus'], { ...validEnv(dir), PORT: port, RTC_UDP_PORT: rtcPort });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /bogus/);
    assert.doesNotMatch(result.stdout, /GhostTalk is running/);
    assert.equal(existsSync(dir), false, 'DATA_DIR not created, nothing logged');
  });

  test('--help lists every setting and exits 0', { timeout: 30_000 }, async () => {
    const dir = join(dataDir, 'help');
    const result = await run(['--help'], { DATA_DIR: dir });
    assert.equal(result.code, 0, result.stderr);
    for (const { env, flag } of Object.values(settings)) {
      assert.ok(result.stdout.includes(env), `--help lists ${env}`);
      assert.ok(result.stdout.includes(`-${flag}`), `--help lists -${flag}`);
    }
    assert.equal(existsSync(dir), false);
  });
});
