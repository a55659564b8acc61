/**
 * A large room through GhostTalk itself (server in its own process, real signaling,
 * real WebRTC via werift): the same people join one room on a server with one worker
 * and on a server with two workers whose WORKER_CONSUMER_BUDGET makes the room spread
 * (producers piped to the second worker's router by GhostTalk's Room). Reports where
 * the consumers landed, worker CPU per forwarded SRTP packet, loss and join times.
 * werift's receive cost in this process limits the size (a few thousand packets/s).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnChild } from './ipc.ts';
import { JoinClient } from './joinClient.ts';
import type { ServerUsage } from './serverChild.ts';
import { round, type Summary, summarize } from './stats.ts';

export type BigRoomRun = {
  workers: number;
  routers: number;
  consumersPerWorker: number[];
  perWorkerCpuPct: number[];
  workerCpuPct: number;
  usPerPacket: number;
  forwardedPps: number;
  lossPct: number;
  joinMs: Summary;
};

export type BigRoomResult = {
  peers: number;
  talkers: number;
  workerConsumerBudget: number;
  oneWorker: BigRoomRun;
  twoWorkers: BigRoomRun;
};

async function runOnce(options: {
  workers: number;
  budget: number;
  talkers: number;
  listeners: number;
  windowMs: number;
}): Promise<BigRoomRun> {
  const server = await spawnChild(new URL('./serverChild.ts', import.meta.url));
  const clients: JoinClient[] = [];
  try {
    const { url } = await server.call<{ url: string }>('start', {
      env: {
        RTC_WORKERS: String(options.workers),
        WORKER_CONSUMER_BUDGET: String(options.budget),
        ROOM_CAPACITY: '1000',
      },
    });
    const join = async (talk: boolean) => {
      const client = await JoinClient.open(url);
      clients.push(client);
      return client.join({
        roomId: 'big',
        nickname: `p${clients.length}`,
        talk,
        timeoutMs: 20_000,
      });
    };
    for (let t = 0; t < options.talkers; t++) await join(true);
    const joinMs: number[] = [];
    for (let i = 0; i < options.listeners; i += 4) {
      const batch = Math.min(4, options.listeners - i);
      const results = await Promise.all(Array.from({ length: batch }, () => join(false)));
      joinMs.push(...results.map((r) => r.ms));
    }
    await sleep(1500);
    const talkers = clients.slice(0, options.talkers);
    const listeners = clients.slice(options.talkers);
    const count = () => ({
      sent: talkers.reduce((s, c) => s + c.sent, 0),
      received: listeners.reduce((s, c) => s + c.received, 0),
    });
    const a = {
      usage: await server.call<ServerUsage>('usage', { gc: false }),
      ...count(),
      at: performance.now(),
    };
    await sleep(options.windowMs);
    const b = {
      usage: await server.call<ServerUsage>('usage', { gc: false }),
      ...count(),
      at: performance.now(),
    };
    const wall = b.at - a.at;
    const cpu = b.usage.workers.map((w, i) => w.cpuMs - (a.usage.workers[i]?.cpuMs ?? 0));
    const totalCpu = cpu.reduce((x, y) => x + y, 0);
    // Every listener consumes every talker; talkers' packets to each other are not counted.
    const forwarded = (b.sent - a.sent) * listeners.length;
    return {
      workers: options.workers,
      routers: b.usage.routers.big ?? 0,
      consumersPerWorker: b.usage.workers.map((w) => w.consumers),
      perWorkerCpuPct: cpu.map((c) => round((100 * c) / wall, 1)),
      workerCpuPct: round((100 * totalCpu) / wall, 1),
      usPerPacket: round((1000 * totalCpu) / forwarded, 2),
      forwardedPps: Math.round((1000 * forwarded) / wall),
      lossPct: round(Math.max(0, 100 * (1 - (b.received - a.received) / forwarded)), 2),
      joinMs: summarize(joinMs),
    };
  } finally {
    for (const c of clients) c.close();
    await server.call('stop').catch(() => undefined);
    await server.stop();
  }
}

export async function measureGhostTalkBigRoom(options: {
  talkers: number;
  listeners: number;
  windowMs: number;
  log: (line: string) => void;
}): Promise<BigRoomResult> {
  const { talkers, listeners, log } = options;
  // Everyone produces (listeners silently), so everyone consumes everyone else: the
  // budget is what the first half of the room holds, so the second half goes elsewhere.
  const peers = talkers + listeners;
  const half = Math.floor(peers / 2);
  const budget = Math.max(1, half * (half - 1));
  const result: BigRoomResult = {
    peers,
    talkers,
    workerConsumerBudget: budget,
    oneWorker: await runOnce({ ...options, workers: 1, budget }),
    twoWorkers: await runOnce({ ...options, workers: 2, budget }),
  };
  for (const [name, run] of [
    ['one worker', result.oneWorker],
    ['two workers', result.twoWorkers],
  ] as const) {
    log(
      `  GhostTalk, ${name}: ${run.routers} router(s), consumers ${run.consumersPerWorker.join(' + ')}, ` +
        `CPU ${run.perWorkerCpuPct.join('% + ')}%, ${run.usPerPacket} µs/SRTP packet, ` +
        `${run.forwardedPps} packets/s, loss ${run.lossPct}%, join p50 ${run.joinMs.p50} ms (max ${run.joinMs.max})`,
    );
  }
  return result;
}
