/**
 * Where the worker's time goes: realistic rooms of 10 (one speaker, the others silent as
 * Chromium is) on GhostTalk's worker with SRTP consumers, sampled by `perf record -e
 * cpu-clock` (a timer, so it works on VMs without hardware counters), grouped into what
 * the time is spent on. Writes bench/results/profile.{md,json}.
 *
 *   node bench/profileWorker.ts [--rooms 60] [--seconds 10] [--plain]
 *
 * Needs perf (Debian: linux-perf) and permission to attach to the worker (root, or
 * kernel.perf_event_paranoid <= 1). One-off, not part of `npm run bench`: sampling costs
 * the worker a little CPU of its own.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import { audioConsumerOptions } from '../src/media/mediaCodecs.ts';
import { GhostTalkRooms } from './lib/ghostTalkRooms.ts';
import { describeMachine } from './lib/machine.ts';
import { measureWindow, summarizeWindows } from './lib/measure.ts';
import { LoadGenerator, PlainRoom } from './lib/plainRtp.ts';
import { round } from './lib/stats.ts';

const run = promisify(execFile);
const TAG = 30;

const { values } = parseArgs({
  options: {
    rooms: { type: 'string', default: '60' },
    seconds: { type: 'string', default: '10' },
    plain: { type: 'boolean', default: false },
    out: { type: 'string', default: new URL('./results/', import.meta.url).pathname },
  },
});
const rooms = Number(values.rooms);
const seconds = Number(values.seconds);
if (!Number.isInteger(rooms) || rooms < 1 || !(seconds > 0)) {
  throw new Error('--rooms must be a positive integer and --seconds positive');
}
const srtp = values.plain ? undefined : 'AEAD_AES_256_GCM';

/** What a sample's symbol (and library) is spent on; the first match wins. */
const GROUPS: [string, (dso: string, symbol: string) => boolean][] = [
  [
    'kernel: waking the receivers (loopback delivery; a NIC would not)',
    (d, s) => d.includes('kernel') && /spin_unlock_irqrestore|try_to_wake_up|ttwu/.test(s),
  ],
  [
    'kernel: scheduling and epoll',
    (d, s) => d.includes('kernel') && /sched|switch|epoll|poll|hrtimer|futex/.test(s),
  ],
  ['kernel: UDP send, loopback, receive', (d) => d.includes('kernel')],
  [
    'libsrtp: stream lookup and SRTP framing',
    (_d, s) => /^srtp_|^bitvector|^ghosttalk_srtp3/.test(s),
  ],
  ['OpenSSL: AES-GCM', (d, s) => d.includes('libcrypto') || /gcm|aes|EVP_/i.test(s)],
  [
    'mediasoup: counters (RtpDataCounter, RateCalculator)',
    (_d, s) => /RtpDataCounter|RateCalculator/.test(s),
  ],
  [
    'mediasoup: fan-out and consumers',
    (_d, s) => /Consumer|Router|RtpStreamSend|RtpPacket|SeqManager|Transport::Send/.test(s),
  ],
  ['mediasoup: receive, producers, observers', (d) => d.includes('mediasoup-worker')],
  ['libuv and libc', (d) => /libuv|libc\.|libstdc/.test(d)],
];

type Row = { percent: number; dso: string; symbol: string };

function parseReport(text: string): Row[] {
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.+?)(?:\s+-\s+-)?\s*$/.exec(line);
    if (m) rows.push({ percent: Number(m[1]), dso: m[2] as string, symbol: m[3] as string });
  }
  return rows;
}

async function main(): Promise<void> {
  const load = await LoadGenerator.start();
  const ghostTalk = await GhostTalkRooms.start({ RTC_WORKERS: '1' });
  const made: PlainRoom[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ghosttalk-perf-'));
  try {
    const worker = ghostTalk.workers[0];
    if (!worker) throw new Error('no worker');
    for (let i = 0; i < rooms; i++) {
      const room = await ghostTalk.room(`profile-${i}`);
      made.push(
        await PlainRoom.create({
          routers: [room.router],
          peers: 10,
          talkers: 1,
          silent: 'dtx',
          consumerCaps: 'browser',
          srtp,
          consumerOptions: audioConsumerOptions,
          tag: TAG,
          load,
          audioLevelObserver: room.observer,
        }),
      );
    }
    await load.addStreams(made.flatMap((r) => r.streams));
    await load.setEnabled(TAG, true);
    await sleep(2000);
    const data = join(dir, 'perf.data');
    const perf = spawn(
      'perf',
      ['record', '-e', 'cpu-clock', '-F', '999', '-p', String(worker.pid), '-o', data],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let perfErr = '';
    perf.stderr.on('data', (d) => {
      perfErr += d;
    });
    const window = await measureWindow([worker], load, seconds * 1000);
    perf.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => perf.once('exit', resolve));
    if (code !== 0 && code !== null) throw new Error(`perf record failed: ${perfErr.trim()}`);
    const { stdout } = await run(
      'perf',
      ['report', '-i', data, '--no-children', '--sort', 'dso,symbol', '--stdio'],
      { maxBuffer: 64 << 20 },
    );
    const rows = parseReport(stdout);
    const groups = GROUPS.map(([name]) => ({ name, percent: 0 }));
    for (const row of rows) {
      const i = GROUPS.findIndex(([, match]) => match(row.dso, row.symbol));
      const group = groups[i === -1 ? groups.length - 1 : i];
      if (group) group.percent += row.percent;
    }
    const step = summarizeWindows([window], [TAG]);
    const result = {
      machine: describeMachine(),
      rooms,
      peers: rooms * 10,
      consumers: srtp ?? 'plain RTP',
      workerCpuPct: step.workerCpuPct,
      usPerPacket: step.usPerPacket,
      forwardedPps: step.forwardedPps,
      groups: groups.map((g) => ({
        ...g,
        percent: round(g.percent, 1),
        usPerPacket: round((g.percent / 100) * step.usPerPacket, 2),
      })),
      top: rows.slice(0, 25),
    };
    const md = [
      `### Where the worker's time goes (${result.machine.date.slice(0, 10)})`,
      '',
      `${result.machine.cpu}, ${result.machine.cores} cores; ${rooms} realistic rooms of 10 (${result.peers} people) on one worker, ${result.consumers} consumers: worker ${step.workerCpuPct} % of a core, ${step.usPerPacket} µs per forwarded packet, ${step.forwardedPps} packets/s; perf record -e cpu-clock for ${seconds} s.`,
      '',
      '| Spent on | Share of samples | µs per forwarded packet |',
      '| --- | --- | --- |',
      ...result.groups.map((g) => `| ${g.name} | ${g.percent} % | ${g.usPerPacket} |`),
      '',
      '| Top symbols | Share | Library |',
      '| --- | --- | --- |',
      ...result.top
        .slice(0, 12)
        .map((r) => `| ${r.symbol.slice(0, 70)} | ${r.percent} % | ${r.dso} |`),
      '',
    ].join('\n');
    mkdirSync(values.out as string, { recursive: true });
    writeFileSync(
      join(values.out as string, 'profile.json'),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    writeFileSync(join(values.out as string, 'profile.md'), md);
    process.stdout.write(md);
  } finally {
    await load.stop();
    for (const r of made) r.close();
    await ghostTalk.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
