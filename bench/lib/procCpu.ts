/**
 * CPU time of a process tree and of its threads, from Linux's /proc: a whole Chromium
 * (browser, zygote, renderers, utilities) and, inside it, threads by name (a Worker runs
 * on a thread named "DedicatedWorker thread", "DedicatedWorker" in /proc's 15 characters).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: /proc/<pid>/stat counts CPU time in these ticks (100 on Linux). */
const TICKS_PER_SECOND = 100;

type ProcStat = { pid: number; ppid: number; cpuMs: number };

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the process or thread ended meanwhile
  }
}

function procStat(pid: number): ProcStat | undefined {
  const text = read(`/proc/${pid}/stat`);
  if (!text) return undefined;
  // The name is in parentheses and may hold spaces or parentheses: fields follow the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { pid, ppid: Number(fields[1]), cpuMs: (ticks * 1000) / TICKS_PER_SECOND };
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** Processes whose command line contains `text`, and none of whose ancestors' does. */
export function findRootProcesses(text: string): number[] {
  const matching = new Map<number, ProcStat>();
  for (const pid of pids()) {
    const cmdline = read(`/proc/${pid}/cmdline`);
    if (!cmdline?.split('\0').some((arg) => arg.includes(text))) continue;
    const stat = procStat(pid);
    if (stat) matching.set(pid, stat);
  }
  return [...matching.values()].filter((s) => !matching.has(s.ppid)).map((s) => s.pid);
}

/** `root` and every process below it. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of pids()) {
    const stat = procStat(pid);
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(pid);
    children.set(stat.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

export type TreeCpuSample = {
  /** User + system time of every process in the tree (threads that ended included). */
  totalMs: number;
  /** Per live thread ("pid/tid"), its name and CPU time (schedstat: nanosecond precision). */
  threads: Map<string, { name: string; cpuMs: number }>;
};

/** One reading of a Chromium's CPU: take two and subtract (treeCpuDelta). */
export function sampleTreeCpu(root: number): TreeCpuSample {
  let totalMs = 0;
  const threads = new Map<string, { name: string; cpuMs: number }>();
  for (const pid of processTree(root)) {
    const stat = procStat(pid);
    if (!stat) continue;
    totalMs += stat.cpuMs;
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const name = read(`/proc/${pid}/task/${tid}/comm`)?.trim();
      const schedstat = read(`/proc/${pid}/task/${tid}/schedstat`);
      if (name === undefined || schedstat === undefined) continue;
      threads.set(`${pid}/${tid}`, { name, cpuMs: Number(schedstat.split(' ')[0]) / 1e6 });
    }
  }
  return { totalMs, threads };
}

export type TreeCpuDelta = {
  totalMs: number;
  /** CPU time per thread name, threads alive at both readings, most first. */
  byThreadName: Record<string, number>;
};

export function treeCpuDelta(a: TreeCpuSample, b: TreeCpuSample): TreeCpuDelta {
  const byName = new Map<string, number>();
  for (const [key, now] of b.threads) {
    const before = a.threads.get(key);
    if (!before) continue;
    byName.set(now.name, (byName.get(now.name) ?? 0) + now.cpuMs - before.cpuMs);
  }
  const sorted = [...byName.entries()].sort((x, y) => y[1] - x[1]);
  return {
    totalMs: b.totalMs - a.totalMs,
    byThreadName: Object.fromEntries(sorted.map(([name, ms]) => [name, Math.round(ms * 10) / 10])),
  };
}
