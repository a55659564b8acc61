/**
 * Debian's coturn (`turnserver`) on 127.0.0.1 for one test: its own generated config,
 * free ports, a scratch directory (config, user database, pid file, log) removed on stop.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, freePortRange } from './ports.ts';

export const TURNSERVER_PATH = process.env.TURNSERVER_PATH ?? '/usr/bin/turnserver';

export type CoturnAuth =
  /** Long-term credentials: one fixed user (TURN_USER / TURN_PASS on the GhostTalk side). */
  | { kind: 'static'; user: string; password: string }
  /** TURN REST API: usernames `<expiry>:<id>`, passwords HMAC-SHA1 under this secret. */
  | { kind: 'secret'; secret: string };

export type Coturn = {
  host: string;
  port: number;
  /** `turn:127.0.0.1:<port>?transport=udp` (and tcp), for TURN_SERVER. */
  urls: { udp: string; tcp: string };
  /** Relay ports coturn allocates from. */
  relayPorts: { min: number; max: number };
  /** The whole log so far (coturn writes it as it goes). */
  log(): Promise<string>;
  /** Waits until the log matches, or fails with the log's tail after `timeoutMs`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
};

const HOST = '127.0.0.1';
const REALM = 'ghosttalk.test';
/** Each browser transport takes one relay port per TURN URL; restarts take more. */
const RELAY_PORTS = 40;

/** The config a test runs; never a template for production (see config/turnserver.conf.example). */
function configText(o: {
  port: number;
  min: number;
  max: number;
  dir: string;
  auth: CoturnAuth;
}): string {
  const auth =
    o.auth.kind === 'static'
      ? ['lt-cred-mech', `user=${o.auth.user}:${o.auth.password}`]
      : ['use-auth-secret', `static-auth-secret=${o.auth.secret}`];
  return [
    `listening-ip=${HOST}`,
    `listening-port=${o.port}`,
    `relay-ip=${HOST}`,
    `min-port=${o.min}`,
    `max-port=${o.max}`,
    `realm=${REALM}`,
    // TESTS ONLY: here the browsers, coturn and mediasoup all live on 127.0.0.1, so the
    // relay must reach a loopback peer. A production relay must never allow this (it
    // could be aimed at services on the TURN host itself).
    'allow-loopback-peers',
    'no-tls',
    'no-dtls',
    'no-cli',
    'fingerprint',
    ...auth,
    `userdb=${join(o.dir, 'turndb.sqlite')}`,
    `pidfile=${join(o.dir, 'turnserver.pid')}`,
    `log-file=${join(o.dir, 'turnserver.log')}`,
    'simple-log',
    // Logs each request's outcome ("ALLOCATE processed, success", "error 401") for asserts.
    'verbose',
    '',
  ].join('\n');
}

/** A STUN Binding request; any answer from the port means coturn is up. */
function stunPing(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const request = Buffer.alloc(20);
    request.writeUInt16BE(0x0001, 0); // Binding request, no attributes
    request.writeUInt32BE(0x2112a442, 4); // magic cookie
    randomBytes(12).copy(request, 8);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('message', (message) => {
      // A Binding success response (0x0101) with our transaction id.
      done(
        message.readUInt16BE(0) === 0x0101 && message.subarray(8, 20).equals(request.subarray(8)),
      );
    });
    socket.on('error', () => done(false));
    socket.send(request, port, HOST);
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** coturn with a test config: static users or a REST secret, loopback peers allowed. */
export function startCoturn(auth: CoturnAuth): Promise<Coturn> {
  return launch((o) => configText({ ...o, auth }));
}

/**
 * The production example as shipped, with only what cannot work here replaced: listen on
 * 127.0.0.1 on free ports, no external-ip, the log, pid file and database in the scratch
 * directory. Everything else (auth, denied peers, quotas) stays as written.
 */
export function startCoturnFromExample(exampleText: string): Promise<Coturn> {
  return launch(({ port, min, max, dir }) => {
    const replaced =
      /^(listening-port|listening-ip|external-ip|relay-ip|min-port|max-port|log-file|pidfile|userdb|verbose)\b/;
    const kept = exampleText.split('\n').filter((line) => !replaced.test(line.trim()));
    return [
      ...kept,
      `listening-ip=${HOST}`,
      `listening-port=${port}`,
      `relay-ip=${HOST}`,
      `min-port=${min}`,
      `max-port=${max}`,
      `userdb=${join(dir, 'turndb.sqlite')}`,
      `pidfile=${join(dir, 'turnserver.pid')}`,
      `log-file=${join(dir, 'turnserver.log')}`,
      'verbose',
      '',
    ].join('\n');
  });
}

async function launch(
  makeConfig: (o: { port: number; min: number; max: number; dir: string }) => string,
): Promise<Coturn> {
  const dir = await mkdtemp(join(tmpdir(), 'ghosttalk-coturn-'));
  const logFile = join(dir, 'turnserver.log');
  let child: ChildProcess | undefined;
  let output = '';
  const log = async () => readFile(logFile, 'utf8').catch(() => '');
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = exited(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 3_000);
      await gone;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const port = await freePort();
    let min = await freePortRange(RELAY_PORTS);
    while (port >= min && port < min + RELAY_PORTS) min = await freePortRange(RELAY_PORTS);
    const max = min + RELAY_PORTS - 1;
    const config = join(dir, 'turnserver.conf');
    await writeFile(config, makeConfig({ port, min, max, dir }), { mode: 0o600 });

    const proc = spawn(TURNSERVER_PATH, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    // Kept short: only for the error message if it does not come up.
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const spawnError = new Promise<Error>((resolve) => proc.once('error', resolve));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`turnserver exited (${proc.exitCode ?? proc.signalCode})`);
      }
      const ready = await Promise.race([
        stunPing(port, 200),
        spawnError.then((error) => {
          throw new Error(`cannot start ${TURNSERVER_PATH}: ${error.message}`);
        }),
      ]);
      if (ready) break;
      if (Date.now() > deadline) throw new Error('turnserver did not answer STUN within 10 s');
    }

    return {
      host: HOST,
      port,
      urls: {
        udp: `turn:${HOST}:${port}?transport=udp`,
        tcp: `turn:${HOST}:${port}?transport=tcp`,
      },
      relayPorts: { min, max },
      log,
      async waitForLog(pattern, timeoutMs = 10_000) {
        const until = Date.now() + timeoutMs;
        for (;;) {
          const text = await log();
          if (pattern.test(text)) return text;
          if (Date.now() > until) {
            throw new Error(
              `coturn log did not show ${pattern} within ${timeoutMs} ms; tail:\n${text.slice(-2_000)}`,
            );
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      },
      stop,
    };
  } catch (error) {
    const tail = (await log()).slice(-2_000);
    await stop();
    throw new Error(
      `${(error as Error).message}\n  output: ${output.trim()}\n  log tail: ${tail.trim()}`,
    );
  }
}
