/**
 * The floor (issue #15): what forwarding costs on this machine when nothing but the
 * forwarding is done. bench/floor/forwarder.c, built here with the machine's gcc, receives
 * the load generator's plain RTP on one socket and sends each packet to as many receivers
 * as forwardingCost.ts gives each mediasoup producer (the same load-generator sockets,
 * same packet sizes and rates), in four modes:
 *
 *   sendto, sendmmsg           plain copies: a syscall per copy (mediasoup's pattern), or
 *                              one per received batch
 *   sendtoGcm, sendmmsgGcm     the same, each copy sealed with AES-128-GCM through OpenSSL
 *                              EVP (fresh IV per copy, header as AAD, 16-byte tag): the
 *                              per-copy work of an SRTP AEAD_AES_128_GCM sender
 *
 * Figures are the forwarder's own CPU time (getrusage RUSAGE_SELF, user + sys) per copy,
 * medians over windows, modes rotating within each round like forwardingCost's variants.
 * Without gcc the phase is skipped; without libssl-dev (OpenSSL's headers) the GCM modes
 * are. The binary is cached in ${GHOSTTALK_CACHE_DIR:-~/.cache/ghosttalk}/floor/, named
 * after a hash of the source and the build command.
 *
 * Alone (from the repository root, Node 24 first on PATH):
 *   node --input-type=module -e "
 *     import { LoadGenerator } from './bench/lib/plainRtp.ts';
 *     import { measureFloor } from './bench/lib/floor.ts';
 *     const load = await LoadGenerator.start();
 *     try {
 *       const r = await measureFloor({ load, producers: 2, consumersPerProducer: 10,
 *         rounds: 1, windowMs: 2500, log: console.log });
 *       console.log(JSON.stringify(r, null, 2));
 *     } finally { await load.stop(); }"
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Sample, summarizeWindows, type WindowDelta, windowDelta } from './measure.ts';
import type { LoadGenerator } from './plainRtp.ts';
import { median, round } from './stats.ts';

const run = promisify(execFile);

/** The load generator's measurement group for the floor's streams. */
const TAG = 12;
const HOST = '127.0.0.1';
const SOURCE = fileURLToPath(new URL('../floor/forwarder.c', import.meta.url));
const CFLAGS = ['-O2', '-Wall', '-Wextra'];

export const FLOOR_MODES = ['sendto', 'sendmmsg', 'sendtoGcm', 'sendmmsgGcm'] as const;
export type FloorMode = (typeof FLOOR_MODES)[number];
/** The forwarder's names for the modes. */
const MODE_ARG: Record<FloorMode, string> = {
  sendto: 'sendto',
  sendmmsg: 'sendmmsg',
  sendtoGcm: 'sendto-gcm',
  sendmmsgGcm: 'sendmmsg-gcm',
};
const isGcm = (mode: FloorMode) => mode === 'sendtoGcm' || mode === 'sendmmsgGcm';

export type FloorModeResult = {
  /** µs of forwarder CPU (user + sys) per forwarded copy, median over windows. */
  usPerCopy: number;
  /** The user-time part (the rest is the kernel: sends, loopback delivery, receives). */
  userUsPerCopy: number;
  /** Over all windows of the mode: packets the forwarder received, copies it sent. */
  packets: { received: number; copies: number; sendErrors: number };
  copiesPerSecond: number;
  /**
   * Copies that did not arrive. Plain modes: as the receivers count them (per-copy SSRC
   * sequence numbers, like mediasoup's consumers). GCM modes: the receivers cannot read
   * sealed payloads, so arrivals are the copies the kernel accepted minus the receive
   * sockets' drops.
   */
  lossPct: number;
  /** Forwarder CPU as % of one core. */
  cpuPct: number;
  loadgenCpuPct: number;
  receiverDrops: number;
  /**
   * Per received packet, medians: recv and send syscalls, poll wakeups, and times the
   * forwarder was preempted (on loopback each send wakes a receiver, which may take the
   * core: mediasoup's worker.getResourceUsage() has the same ru_nivcsw to compare).
   */
  perPacket: { recvCalls: number; sendCalls: number; wakeups: number; preemptions: number };
  windows: number;
};

export type FloorResult = {
  /** µs of CPU per copy per mode; null when the mode was skipped (see `note`). */
  usPerCopy: Record<FloorMode, number | null>;
  userUsPerCopy: Record<FloorMode, number | null>;
  modes: Record<FloorMode, FloorModeResult | null>;
  producers: number;
  /** Copies per received packet (receivers per producer, as in forwardingCost). */
  consumersPerProducer: number;
  /** The OpenSSL the GCM modes used, or null when they were skipped. */
  crypto: string | null;
  /** The binary that ran (cache path), or null when it could not be built. */
  binary: string | null;
  note: string;
};

type Build = { binary: string | null; crypto: boolean; notes: string[] };

/** Whether a Debian package is installed (null: no dpkg here). */
async function debianPackageInstalled(name: string): Promise<boolean | null> {
  try {
    const { stdout } = await run('dpkg', ['-s', name]);
    return /^Status: .* installed$/m.test(stdout);
  } catch (error) {
    // dpkg exits 1 for a package that is not installed; ENOENT: no dpkg at all.
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? null : false;
  }
}

function cacheRoot(): string {
  return (
    process.env.GHOSTTALK_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ghosttalk')
  );
}

/** `variant` names the build in the cache; other builds of the same variant are removed. */
async function compile(
  source: Buffer,
  variant: 'openssl' | 'nocrypto',
  args: string[],
  notes: string[],
): Promise<string | null> {
  const { stdout: gccVersion } = await run('gcc', ['-dumpfullversion']);
  const hash = createHash('sha256')
    .update(source)
    .update(JSON.stringify([...CFLAGS, ...args]))
    .update(gccVersion)
    .digest('hex')
    .slice(0, 16);
  const dir = join(cacheRoot(), 'floor');
  const name = `forwarder-${variant}-${hash}`;
  const binary = join(dir, name);
  if (existsSync(binary)) return binary;
  await mkdir(dir, { recursive: true });
  for (const old of await readdir(dir)) {
    if (old.startsWith(`forwarder-${variant}-`) && old !== name) {
      await rm(join(dir, old), { force: true });
    }
  }
  const partial = `${binary}.${process.pid}.tmp`;
  try {
    const { stderr } = await run('gcc', [...CFLAGS, '-o', partial, SOURCE, ...args]);
    if (stderr.trim()) notes.push(`gcc warned: ${stderr.trim().split('\n')[0]}`);
    await rename(partial, binary);
    return binary;
  } catch (error) {
    await rm(partial, { force: true });
    const { stderr, message } = error as Error & { stderr?: string };
    notes.push(`gcc ${args.join(' ')} failed: ${(stderr?.trim() || message).split('\n')[0]}`);
    return null;
  }
}

/** Builds (or finds in the cache) the forwarder, with OpenSSL when its headers are there. */
async function build(): Promise<Build> {
  const notes: string[] = [];
  try {
    await run('gcc', ['--version']);
  } catch {
    return {
      binary: null,
      crypto: false,
      notes: ['no working gcc on this machine: floor skipped'],
    };
  }
  const source = await readFile(SOURCE);
  const libssl =
    (await debianPackageInstalled('libssl-dev')) ?? existsSync('/usr/include/openssl/evp.h');
  if (libssl) {
    const binary = await compile(source, 'openssl', ['-lcrypto'], notes);
    if (binary) return { binary, crypto: true, notes };
  } else {
    notes.push('libssl-dev (OpenSSL headers) is not installed: GCM modes skipped');
  }
  const binary = await compile(source, 'nocrypto', ['-DFLOOR_NO_CRYPTO'], notes);
  if (binary && libssl) notes.push('built without OpenSSL: GCM modes skipped');
  return { binary, crypto: false, notes };
}

type ForwarderStats = {
  rx: number;
  copies: number;
  errors: number;
  recvCalls: number;
  sendCalls: number;
  wakeups: number;
  userUs: number;
  sysUs: number;
  /** Context switches: voluntary (sleeping in poll), involuntary (preempted). */
  vcsw: number;
  ivcsw: number;
};

function parseStats(line: string): ForwarderStats {
  if (!line.startsWith('stats ')) throw new Error(`forwarder: expected stats, got "${line}"`);
  const fields = new Map(
    line
      .slice(6)
      .split(' ')
      .map((kv) => kv.split('=') as [string, string]),
  );
  const get = (key: string) => Number(fields.get(key) ?? Number.NaN);
  return {
    rx: get('rx'),
    copies: get('copies'),
    errors: get('errors'),
    recvCalls: get('recv_calls'),
    sendCalls: get('send_calls'),
    wakeups: get('wakeups'),
    userUs: get('user_us'),
    sysUs: get('sys_us'),
    vcsw: get('vcsw'),
    ivcsw: get('ivcsw'),
  };
}

/** The forwarder process and its stdin/stdout line protocol (one answer line per command). */
class Forwarder {
  readonly #child: ChildProcess;
  readonly #waiting: { resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  #exited = false;
  readonly ready: Promise<string>;

  constructor(binary: string, dests: string[]) {
    this.#child = spawn(binary, ['0', ...dests], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#child.stdin?.on('error', () => undefined); // EPIPE after an exit: reported below
    this.ready = this.#next();
    createInterface({ input: this.#child.stdout as NodeJS.ReadableStream }).on('line', (line) =>
      this.#waiting.shift()?.resolve(line),
    );
    const fail = (error: Error) => {
      this.#exited = true;
      for (const w of this.#waiting.splice(0)) w.reject(error);
    };
    this.#child.once('error', fail);
    this.#child.once('exit', (code, signal) =>
      fail(new Error(`forwarder exited (code ${code}, signal ${signal})`)),
    );
  }

  #next(): Promise<string> {
    if (this.#exited) return Promise.reject(new Error('forwarder has exited'));
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  async command(line: string): Promise<string> {
    const answer = this.#next();
    this.#child.stdin?.write(`${line}\n`);
    return answer;
  }

  async stats(): Promise<ForwarderStats> {
    return parseStats(await this.command('stats'));
  }

  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.command('quit').catch(() => undefined);
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}

type FloorSample = Sample & { forwarder: ForwarderStats };

async function sample(forwarder: Forwarder, load: LoadGenerator): Promise<FloorSample> {
  const [stats, snapshot] = await Promise.all([forwarder.stats(), load.snapshot()]);
  return {
    at: performance.now(),
    cpu: [{ total: (stats.userUs + stats.sysUs) / 1000, user: stats.userUs / 1000 }],
    snapshot,
    extra: stats.copies,
    forwarder: stats,
  };
}

type FloorWindow = { delta: WindowDelta; forwarder: ForwarderStats };

function statsDelta(a: ForwarderStats, b: ForwarderStats): ForwarderStats {
  return Object.fromEntries(
    Object.entries(b).map(([key, value]) => [key, value - a[key as keyof ForwarderStats]]),
  ) as ForwarderStats;
}

function summarizeMode(windows: FloorWindow[], copiesPerPacket: number, gcm: boolean) {
  const deltas = windows.map((w) => w.delta);
  const step = summarizeWindows(deltas, [TAG], {
    forwarded: (w) => (w.tags[TAG]?.sent ?? 0) * copiesPerPacket,
    // Sealed copies are unreadable to the receivers: what the kernel took, less its drops.
    received: gcm ? (w) => w.extra - w.receiverDrops : undefined,
  });
  const perPacket = (field: keyof ForwarderStats) =>
    round(median(windows.map((w) => w.forwarder[field] / Math.max(1, w.forwarder.rx))), 3);
  const total = (field: keyof ForwarderStats) =>
    windows.reduce((s, w) => s + w.forwarder[field], 0);
  const result: FloorModeResult = {
    usPerCopy: step.usPerPacket,
    userUsPerCopy: step.userUsPerPacket,
    packets: { received: total('rx'), copies: total('copies'), sendErrors: total('errors') },
    copiesPerSecond: step.forwardedPps,
    lossPct: step.lossPct,
    cpuPct: step.workerCpuPct,
    loadgenCpuPct: step.loadgenCpuPct,
    receiverDrops: step.receiverDrops,
    perPacket: {
      recvCalls: perPacket('recvCalls'),
      sendCalls: perPacket('sendCalls'),
      wakeups: perPacket('wakeups'),
      preemptions: perPacket('ivcsw'),
    },
    windows: windows.length,
  };
  return result;
}

export async function measureFloor(options: {
  load: LoadGenerator;
  producers: number;
  consumersPerProducer: number;
  rounds: number;
  windowMs: number;
  log: (line: string) => void;
}): Promise<FloorResult> {
  const { load, producers, consumersPerProducer: copies, log } = options;
  const built = await build();
  const notes = [...built.notes];
  const empty = <T>(value: T) =>
    Object.fromEntries(FLOOR_MODES.map((m) => [m, value])) as Record<FloorMode, T>;
  const result: FloorResult = {
    usPerCopy: empty<number | null>(null),
    userUsPerCopy: empty<number | null>(null),
    modes: empty<FloorModeResult | null>(null),
    producers,
    consumersPerProducer: copies,
    crypto: null,
    binary: built.binary,
    note: '',
  };
  const finish = () => {
    const setup =
      `bench/floor/forwarder.c (gcc -O2) on one socket: ${producers} producers' plain RTP ` +
      `(load generator, 50 packets/s, 100-byte payloads) sent on to ${copies} receivers ` +
      `(the load generator's ${Math.min(copies, load.ports.length)} receive sockets, as ` +
      "forwardingCost's plain consumers); CPU: the forwarder's getrusage (user + sys, " +
      'which includes the kernel delivering each copy over loopback; the user/sys split ' +
      'is tick-sampled, coarse at a few % CPU)';
    const gcm = built.crypto
      ? [
          `GCM modes: AES-128-GCM per copy (${result.crypto ?? 'OpenSSL'} EVP); the receivers ` +
            'cannot read sealed copies, so their loss is copies not handed to the kernel plus ' +
            'receive-socket drops',
        ]
      : [];
    result.note = (built.binary ? [setup, ...gcm, ...notes] : notes).join('; ');
    for (const line of notes) log(`  ${line}`);
    return result;
  };
  if (!built.binary) return finish();

  const modes = FLOOR_MODES.filter((m) => built.crypto || !isGcm(m));
  const dests = Array.from(
    { length: copies },
    (_, i) => `${HOST}:${load.ports[i % load.ports.length] as number}`,
  );
  const forwarder = new Forwarder(built.binary, dests);
  try {
    const ready = await forwarder.ready;
    const port = Number(/port=(\d+)/.exec(ready)?.[1]);
    if (!Number.isInteger(port) || port <= 0) throw new Error(`forwarder: "${ready}"`);
    result.crypto = built.crypto ? (/openssl=(.*)$/.exec(ready)?.[1] ?? 'OpenSSL') : null;
    log(`  forwarder on port ${port}, ${copies} copies per packet, modes ${modes.join(', ')}`);
    await load.addStreams(
      Array.from({ length: producers }, () => ({
        port,
        ssrc: load.ssrc(),
        tag: TAG,
        fanout: copies,
        kind: 'talk' as const,
      })),
    );
    await load.setEnabled(TAG, true);
    const windows = new Map<FloorMode, FloorWindow[]>(modes.map((m) => [m, []]));
    for (let r = 0; r < options.rounds; r++) {
      for (const mode of modes) {
        const answer = await forwarder.command(`mode ${MODE_ARG[mode]}`);
        if (!answer.startsWith('ok ')) throw new Error(`forwarder: ${answer}`);
        await sleep(1000);
        const a = await sample(forwarder, load);
        await sleep(options.windowMs);
        const b = await sample(forwarder, load);
        windows
          .get(mode)
          ?.push({ delta: windowDelta(a, b), forwarder: statsDelta(a.forwarder, b.forwarder) });
      }
    }
    await load.setEnabled(TAG, false);
    for (const mode of modes) {
      const summary = summarizeMode(windows.get(mode) ?? [], copies, isGcm(mode));
      result.modes[mode] = summary;
      result.usPerCopy[mode] = summary.usPerCopy;
      result.userUsPerCopy[mode] = summary.userUsPerCopy;
      log(
        `  floor ${mode.padEnd(12)} ${summary.usPerCopy.toFixed(2)} µs/copy ` +
          `(user ${summary.userUsPerCopy.toFixed(2)}), ${summary.copiesPerSecond} copies/s, ` +
          `CPU ${summary.cpuPct}%, loss ${summary.lossPct}%, per packet ` +
          `${summary.perPacket.recvCalls} recv + ${summary.perPacket.sendCalls} send syscalls, ` +
          `${summary.perPacket.wakeups} wakeups, ${summary.perPacket.preemptions} preemptions`,
      );
    }
    return finish();
  } finally {
    await load.setEnabled(TAG, false).catch(() => undefined);
    await load.removeStreams(TAG).catch(() => undefined);
    await forwarder.stop();
  }
}
