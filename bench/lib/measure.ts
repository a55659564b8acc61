/**
 * Measurement windows: worker CPU time (getResourceUsage: ru_utime + ru_stime) and the
 * load generator's packet counters, read at the start and end of each window. Results
 * are CPU time, not wall time; steps repeat windows and report medians.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { types } from 'mediasoup';
import type { Snapshot, TagCounters } from './loadgen.ts';
import type { LoadGenerator } from './plainRtp.ts';
import { median, round } from './stats.ts';

export type CpuSample = {
  /** CPU time so far, ms: user + system, and user alone. */
  total: number;
  user: number;
  /** Times it was preempted so far (involuntary context switches), when known. */
  ivcsw?: number;
};

/** A worker's CPU time so far. */
export async function workerCpuMs(worker: types.Worker): Promise<CpuSample> {
  const usage = await worker.getResourceUsage();
  return { total: usage.ru_utime + usage.ru_stime, user: usage.ru_utime, ivcsw: usage.ru_nivcsw };
}

export type WindowDelta = {
  wallMs: number;
  /** Per worker, in the order given: user + system. */
  cpuMs: number[];
  /** Per worker: user time only (what compiler flags and crypto code can change). */
  userMs: number[];
  /** Involuntary context switches of all workers. */
  preemptions: number;
  tags: Record<number, TagCounters>;
  receiverDrops: number;
  lateSends: number;
  loadgenCpuMs: number;
  /** Extra counters sampled by the caller (e.g. werift receivers). */
  extra: number;
};

/** What a window is computed from: worker CPU so far (in the caller's order), counters. */
export type Sample = {
  at: number;
  cpu: CpuSample[];
  snapshot: Snapshot;
  extra: number;
};

async function sample(
  workers: readonly types.Worker[],
  load: LoadGenerator,
  extra?: () => Promise<number>,
): Promise<Sample> {
  const [cpu, snapshot, extraValue] = await Promise.all([
    Promise.all(workers.map(workerCpuMs)),
    load.snapshot(),
    extra ? extra() : Promise.resolve(0),
  ]);
  return { at: performance.now(), cpu, snapshot, extra: extraValue };
}

/** One measured window of `ms`. */
export async function measureWindow(
  workers: readonly types.Worker[],
  load: LoadGenerator,
  ms: number,
  extra?: () => Promise<number>,
): Promise<WindowDelta> {
  const a = await sample(workers, load, extra);
  await sleep(ms);
  const b = await sample(workers, load, extra);
  return windowDelta(a, b);
}

/** The window between two samples (workers in the same order in both). */
export function windowDelta(a: Sample, b: Sample): WindowDelta {
  const tags: Record<number, TagCounters> = {};
  for (const [key, end] of Object.entries(b.snapshot.tags)) {
    const start = a.snapshot.tags[Number(key)] ?? {
      expected: 0,
      received: 0,
      sent: 0,
      seqExpected: 0,
    };
    tags[Number(key)] = {
      expected: end.expected - start.expected,
      received: end.received - start.received,
      sent: end.sent - start.sent,
      seqExpected: end.seqExpected - start.seqExpected,
    };
  }
  return {
    wallMs: b.at - a.at,
    cpuMs: b.cpu.map((v, i) => v.total - (a.cpu[i]?.total ?? 0)),
    userMs: b.cpu.map((v, i) => v.user - (a.cpu[i]?.user ?? 0)),
    preemptions: b.cpu.reduce((s, v, i) => s + (v.ivcsw ?? 0) - (a.cpu[i]?.ivcsw ?? 0), 0),
    tags,
    receiverDrops: b.snapshot.receiverDrops - a.snapshot.receiverDrops,
    lateSends: b.snapshot.lateSends - a.snapshot.lateSends,
    loadgenCpuMs: b.snapshot.cpuMs - a.snapshot.cpuMs,
    extra: b.extra - a.extra,
  };
}

export type StepResult = {
  /** Worker CPU as % of one core (all given workers added up). */
  workerCpuPct: number;
  /** Per worker, % of one core. */
  perWorkerCpuPct: number[];
  usPerPacket: number;
  /**
   * The user-time part. On loopback the kernel's delivery to the receivers' sockets runs
   * in the worker's send calls, so system time includes work a real network would not.
   */
  userUsPerPacket: number;
  /** Packets the consumers forwarded per second (as sent x fanout). */
  forwardedPps: number;
  /** Packets that did not arrive, as the receivers saw it. */
  lossPct: number;
  /**
   * Loss the SFU is responsible for: packets that reached neither our receivers nor
   * their socket buffers (a kernel drop at our own socket means the SFU delivered it).
   */
  sfuLossPct: number;
  /** Kernel drops at the load generator's receive sockets (the generator fell behind). */
  receiverDrops: number;
  loadgenCpuPct: number;
  windows: number;
};

/**
 * Medians over windows for the packets of `tags`. `forwarded(w)` / `received(w)` may be
 * given when the load generator does not see the consumers (werift receivers).
 */
export function summarizeWindows(
  windows: readonly WindowDelta[],
  tags: readonly number[],
  options: {
    forwarded?: (w: WindowDelta) => number;
    received?: (w: WindowDelta) => number;
  } = {},
): StepResult {
  const sum = (w: WindowDelta, field: keyof TagCounters) =>
    tags.reduce((s, t) => s + (w.tags[t]?.[field] ?? 0), 0);
  const forwarded = options.forwarded ?? ((w) => sum(w, 'expected'));
  const received = options.received ?? ((w) => sum(w, 'received'));
  // Loss against what the receivers' sequence numbers say was sent, unless the caller
  // counts receipts elsewhere (werift), where sent x fanout is all there is.
  const lossBase = options.received ? forwarded : (w: WindowDelta) => sum(w, 'seqExpected');
  const totalCpu = (w: WindowDelta) => w.cpuMs.reduce((a, b) => a + b, 0);
  const workerCount = windows[0]?.cpuMs.length ?? 0;
  return {
    workerCpuPct: round(median(windows.map((w) => (100 * totalCpu(w)) / w.wallMs)), 1),
    perWorkerCpuPct: Array.from({ length: workerCount }, (_, i) =>
      round(median(windows.map((w) => (100 * (w.cpuMs[i] as number)) / w.wallMs)), 1),
    ),
    usPerPacket: round(median(windows.map((w) => (1000 * totalCpu(w)) / forwarded(w))), 2),
    userUsPerPacket: round(
      median(windows.map((w) => (1000 * w.userMs.reduce((a, b) => a + b, 0)) / forwarded(w))),
      2,
    ),
    forwardedPps: Math.round(median(windows.map((w) => (1000 * forwarded(w)) / w.wallMs))),
    lossPct: round(
      median(windows.map((w) => Math.max(0, 100 * (1 - received(w) / lossBase(w))))),
      2,
    ),
    sfuLossPct: round(
      median(
        windows.map((w) => Math.max(0, 100 * (1 - (received(w) + w.receiverDrops) / lossBase(w)))),
      ),
      2,
    ),
    receiverDrops: windows.reduce((s, w) => s + w.receiverDrops, 0),
    loadgenCpuPct: round(median(windows.map((w) => (100 * w.loadgenCpuMs) / w.wallMs)), 1),
    windows: windows.length,
  };
}
