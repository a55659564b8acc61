/**
 * GhostTalk benchmark: `npm run bench` (about 12 minutes) or `npm run bench -- --short`
 * (under 3 minutes, the CI smoke run). Prints as it goes and writes
 * bench/results/latest.{json,md,svg,png} plus a dated copy of the JSON.
 *
 *   --short          fewer, shorter steps
 *   --only=a,b       run only some phases: forwarding, floor, baseline, capacity, joins,
 *                    browser, twoWorker, cluster, span; a partial run writes only-<phases>.{json,md} (and a dated
 *                    copy of the JSON), never latest.*, which keeps the last run of every phase
 *   --out=DIR        results folder (default bench/results)
 *
 * MEDIASOUP_WORKER_BIN=<path> benchmarks another worker build (mediasoup reads it).
 */
import { parseArgs } from 'node:util';
import { type BaselineResult, measureBaseline } from './lib/baseline.ts';
import { type BrowserJoinsResult, measureBrowserJoins } from './lib/browserJoins.ts';
import { type CapacityResult, findCapacity, type Pattern } from './lib/capacity.ts';
import { type ClusterResult, measureCluster } from './lib/cluster.ts';
import { type FloorResult, measureFloor } from './lib/floor.ts';
import { type ForwardingCostResult, measureForwardingCost } from './lib/forwardingCost.ts';
import { type BigRoomResult, measureGhostTalkBigRoom } from './lib/ghostTalkBigRoom.ts';
import { GhostTalkRooms } from './lib/ghostTalkRooms.ts';
import { spawnChild } from './lib/ipc.ts';
import { type JoinsResult, measureJoins } from './lib/joins.ts';
import { describeMachine } from './lib/machine.ts';
import { LoadGenerator } from './lib/plainRtp.ts';
import { buildResults, writeResults } from './lib/report.ts';
import { measureSpan, type SpanResult } from './lib/span.ts';
import { SrtpReceivers } from './lib/srtpLoad.ts';
import { measureTwoWorkerRoom, type TwoWorkerRoomResult } from './lib/twoWorkerRoom.ts';

const PHASES = [
  'forwarding',
  'floor',
  'baseline',
  'capacity',
  'joins',
  'browser',
  'twoWorker',
  'cluster',
  'span',
] as const;
type Phase = (typeof PHASES)[number];

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: new URL('./results/', import.meta.url).pathname },
  },
});
const short = values.short ?? false;
const only = new Set((values.only?.split(',') ?? PHASES) as Phase[]);
for (const phase of only) {
  if (!PHASES.includes(phase))
    throw new Error(`unknown phase ${phase}; phases: ${PHASES.join(', ')}`);
}
/** Files of a run of some phases only are named after them: latest.* stays whole. */
const partial = PHASES.some((phase) => !only.has(phase));
const fileName = partial ? `only-${PHASES.filter((p) => only.has(p)).join('+')}` : 'latest';

/** Sizes per mode: short keeps every phase but with fewer, shorter windows. */
const plan = short
  ? {
      forwarding: { producers: 2, consumersPerProducer: 10, rounds: 1, windowMs: 2500 },
      baseline: { rooms: 2, peersPerRoom: 10, rounds: 2, windowMs: 2000 },
      capacity: { maxSteps: 2, windows: 1, windowMs: 2500 },
      joins: { rooms: 2, sequential: 4, bursts: [5], heapPeers: 20 },
      browser: { sequential: 2, bursts: 1, burstSize: 3, windowMs: 2000 },
      twoWorker: { peers: 60, talkers: 2, rounds: 1, windowMs: 2500 },
      bigRoom: { talkers: 2, listeners: 8, windowMs: 3000 },
      cluster: { joins: 6, concurrency: 4, seconds: 2 },
      span: {
        pipe: {
          points: [{ talkers: 2, listeners: 4 }],
          rounds: 1,
          windowMs: 1500,
          paceMs: 300,
        },
        room: {
          talkers: 4,
          firstListeners: 8,
          maxSteps: 2,
          extraSteps: 0,
          maxPeople: 40,
          windows: 1,
          windowMs: 1000,
        },
      },
    }
  : {
      forwarding: { producers: 5, consumersPerProducer: 20, rounds: 4, windowMs: 4000 },
      baseline: { rooms: 4, peersPerRoom: 10, rounds: 3, windowMs: 4000 },
      capacity: { maxSteps: 7, windows: 3, windowMs: 4000 },
      joins: { rooms: 4, sequential: 24, bursts: [5, 5, 10, 10], heapPeers: 100 },
      // Per mode: 20 joins one at a time and 7 bursts of 3 (41 joins), alternating modes.
      browser: { sequential: 20, bursts: 7, burstSize: 3, windowMs: 8000 },
      twoWorker: { peers: 200, talkers: 4, rounds: 3, windowMs: 4000 },
      bigRoom: { talkers: 2, listeners: 40, windowMs: 8000 },
      cluster: { joins: 30, concurrency: 8, seconds: 6 },
      span: {
        pipe: {
          // A lightly loaded node (each packet wakes the worker) and a busy one.
          points: [
            { talkers: 4, listeners: 40 },
            { talkers: 20, listeners: 40 },
          ],
          rounds: 3,
          windowMs: 4000,
          paceMs: 150,
        },
        room: {
          talkers: 20,
          firstListeners: 40,
          maxSteps: 7,
          extraSteps: 3,
          maxPeople: 320,
          windows: 2,
          windowMs: 3000,
        },
      },
    };

/** What the capacity steps' consumers encrypt with: the suite Chromium gets from mediasoup. */
const CAPACITY_SRTP = 'AEAD_AES_256_GCM';

const patterns: Pattern[] = [
  { name: 'allTalking', peersPerRoom: 10, talkersPerRoom: 10, silent: 'dtx', firstRooms: 3 },
  { name: 'realistic', peersPerRoom: 10, talkersPerRoom: 1, silent: 'dtx', firstRooms: 20 },
];

const started = performance.now();
const log = (line: string) => {
  const s = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  process.stdout.write(`[${s}s] ${line}\n`);
};

async function main(): Promise<void> {
  const machine = describeMachine();
  log(
    `GhostTalk benchmark (${short ? 'short' : 'full'}) on ${machine.cpu}, ${machine.cores} cores, ` +
      `load average ${machine.loadAverageAtStart}; worker ${machine.workerBinary.path} ` +
      `(SRTP crypto: ${machine.workerBinary.srtpCrypto})`,
  );
  let forwarding: ForwardingCostResult | undefined;
  let floor: FloorResult | undefined;
  let baseline: BaselineResult | undefined;
  const capacity: CapacityResult[] = [];
  let joins: JoinsResult | undefined;
  let browser: BrowserJoinsResult | undefined;
  let twoWorker: TwoWorkerRoomResult | undefined;
  let bigRoom: BigRoomResult | undefined;
  let cluster: ClusterResult | undefined;
  let span: SpanResult | undefined;

  const load = await LoadGenerator.start();
  try {
    if (only.has('forwarding')) {
      log('1. Forwarding cost: plain-RTP producers -> SRTP (werift) and plain-RTP consumers');
      const receivers = await SrtpReceivers.start();
      try {
        forwarding = await measureForwardingCost({ load, receivers, ...plan.forwarding, log });
      } finally {
        await receivers.stop();
      }
    }
    if (only.has('floor')) {
      log('The floor: a C forwarder (sendto / sendmmsg, plain / AES-GCM per copy), same load');
      floor = await measureFloor({ load, ...plan.forwarding, log });
    }
    if (only.has('baseline') || only.has('capacity')) {
      const ghostTalk = await GhostTalkRooms.start({ RTC_WORKERS: '1' });
      try {
        if (only.has('baseline')) {
          log('5/6. GhostTalk rooms vs bare mediasoup, same load; SFU transit time');
          baseline = await measureBaseline({ load, ghostTalk, ...plan.baseline, log });
        }
        if (only.has('capacity')) {
          for (const [i, pattern] of patterns.entries()) {
            log(
              `2. Capacity, ${pattern.name}, ${CAPACITY_SRTP} consumers: one worker, stepping up until loss >= 1 % or CPU >= 85 %`,
            );
            capacity.push(
              await findCapacity({
                load,
                ghostTalk,
                pattern,
                srtp: CAPACITY_SRTP,
                tag: 30 + i,
                ...plan.capacity,
                log,
              }),
            );
          }
        }
      } finally {
        await ghostTalk.stop();
      }
    }
    if (only.has('twoWorker')) {
      log(
        'Large room, bare mediasoup at scale: one worker vs two (producers piped with pipeToRouter)',
      );
      twoWorker = await measureTwoWorkerRoom({ load, ...plan.twoWorker, log });
    }
    if (only.has('span')) {
      log(
        'Rooms spanning nodes: pipe cost and latency, largest room on 1 node vs 3 (real nodes on redis-server)',
      );
      span = await measureSpan({ load, ...plan.span, log });
    }
  } finally {
    await load.stop();
  }
  if (only.has('joins')) {
    log('3/4. Joins through signaling + WebRTC; server CPU and heap in its own process');
    const server = await spawnChild(new URL('./lib/serverChild.ts', import.meta.url), [
      '--expose-gc',
    ]);
    try {
      const { url } = await server.call<{ url: string }>('start', { env: { RTC_WORKERS: '1' } });
      joins = await measureJoins({ server, url, ...plan.joins, log });
    } finally {
      await server.call('stop').catch(() => undefined);
      await server.stop();
    }
  }

  if (only.has('browser')) {
    log(
      'Browser: Chromium joins (click to decoded audio), E2EE CPU per frame and size, plain vs encrypted room',
    );
    const server = await spawnChild(new URL('./lib/serverChild.ts', import.meta.url));
    try {
      const { url } = await server.call<{ url: string }>('start', { env: { RTC_WORKERS: '1' } });
      browser = await measureBrowserJoins({ server, url, ...plan.browser, log });
    } finally {
      await server.call('stop').catch(() => undefined);
      await server.stop();
    }
  }

  if (only.has('twoWorker')) {
    log('Large room through GhostTalk (signaling + werift): RTC_WORKERS=1 vs 2');
    bigRoom = await measureGhostTalkBigRoom({ ...plan.bigRoom, log });
  }

  if (only.has('cluster')) {
    log('Cluster: 3 nodes on one redis-server vs a single node (signaling joins)');
    cluster = await measureCluster({ ...plan.cluster, log });
  }

  const results = buildResults({
    machine,
    mode: short ? 'short' : 'full',
    durationS: Math.round((performance.now() - started) / 1000),
    forwarding,
    floor,
    baseline,
    capacity,
    joins,
    browser,
    twoWorker,
    bigRoom,
    cluster,
    span,
  });
  const files = await writeResults(results, values.out as string, fileName);
  process.stdout.write(`\n${files.markdown}\n`);
  log(`wrote ${files.paths.join(', ')}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
