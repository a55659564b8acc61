/**
 * Point 2, capacity: rooms of people (plain-RTP producers; consumers SRTP-encrypted
 * PlainTransports, which cost the worker a browser's encryption per copy) are added to
 * GhostTalk's rooms on one worker step by step until packet loss reaches 1 % or worker
 * CPU 85 % of a core. Each step predicts from the last where 85 % is (see nextRooms).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { types } from 'mediasoup';
import { audioConsumerOptions } from '../../src/media/mediaCodecs.ts';
import { type LatencyMs, latencyMs } from './baseline.ts';
import type { GhostTalkRoom, GhostTalkRooms } from './ghostTalkRooms.ts';
import { measureWindow, summarizeWindows, type WindowDelta } from './measure.ts';
import { type LoadGenerator, PlainRoom } from './plainRtp.ts';
import { LatencyHistogram } from './stats.ts';

export const MAX_LOSS_PCT = 1;
export const MAX_WORKER_CPU_PCT = 85;

export type Pattern = {
  name: string;
  peersPerRoom: number;
  talkersPerRoom: number;
  /** What the silent peers send: Opus DTX frames (one per 400 ms) or nothing (muted). */
  silent: 'dtx' | 'muted';
  /** Rooms in the calibration step. */
  firstRooms: number;
};

export type CapacityStep = {
  rooms: number;
  peers: number;
  workerCpuPct: number;
  lossPct: number;
  /** Loss not explained by drops at our own receive sockets: the criterion. */
  sfuLossPct: number;
  usPerPacket: number;
  forwardedPps: number;
  latencyMs: LatencyMs;
  receiverDrops: number;
  loadgenCpuPct: number;
  /** Our receivers fell behind: transit times (and drops) of this step are partly ours. */
  generatorLimited: boolean;
  pass: boolean;
};

export type CapacityResult = {
  pattern: Pattern;
  /** What the consumers send: SRTP with this suite, or plain RTP. */
  srtp: types.SrtpCryptoSuite | null;
  consumers: string;
  /** The largest passing step (undefined if even the first failed). */
  best: CapacityStep | undefined;
  /** Peers at which CPU would reach 85 %, from the best step's CPU per peer. */
  peersAt85Pct: number | undefined;
  steps: CapacityStep[];
};

/**
 * The next step, from the last one's CPU per room (which falls as the load grows: more
 * packets per wakeup): most of the way to the predicted limit while well under it, then
 * past it, so a few steps bracket it.
 */
function nextRooms(rooms: number, cpuPct: number): number {
  const predicted = (MAX_WORKER_CPU_PCT * rooms) / Math.max(0.1, cpuPct);
  const reach = cpuPct < 0.85 * MAX_WORKER_CPU_PCT ? 0.92 : 1.1;
  return Math.max(rooms + 1, Math.round(reach * predicted));
}

export async function findCapacity(options: {
  load: LoadGenerator;
  ghostTalk: GhostTalkRooms;
  pattern: Pattern;
  /** The consumers' SRTP suite (omitted: plain RTP). */
  srtp?: types.SrtpCryptoSuite;
  tag: number;
  maxSteps: number;
  windows: number;
  windowMs: number;
  log: (line: string) => void;
}): Promise<CapacityResult> {
  const { load, ghostTalk, pattern, tag, log } = options;
  const rooms: { room: GhostTalkRoom; plain: PlainRoom }[] = [];
  const steps: CapacityStep[] = [];
  const worker = ghostTalk.workers[0];
  if (!worker) throw new Error('no GhostTalk worker');
  try {
    await load.setEnabled(tag, true);
    let target = pattern.firstRooms;
    for (let s = 0; s < options.maxSteps; s++) {
      const added: PlainRoom[] = [];
      while (rooms.length < target) {
        const room = await ghostTalk.room(`${pattern.name}-${rooms.length}`);
        const plain = await PlainRoom.create({
          routers: [room.router],
          peers: pattern.peersPerRoom,
          talkers: pattern.talkersPerRoom,
          silent: pattern.silent,
          consumerCaps: 'browser',
          srtp: options.srtp,
          consumerOptions: audioConsumerOptions,
          tag,
          load,
          audioLevelObserver: room.observer,
        });
        rooms.push({ room, plain });
        added.push(plain);
      }
      await load.addStreams(added.flatMap((r) => r.streams));
      await sleep(2000);
      const windows: WindowDelta[] = [];
      const histogram = new LatencyHistogram();
      await load.latency(tag, true);
      for (let w = 0; w < options.windows; w++) {
        windows.push(await measureWindow([worker], load, options.windowMs));
      }
      histogram.add(await load.latency(tag, true));
      const summary = summarizeWindows(windows, [tag]);
      const step: CapacityStep = {
        rooms: rooms.length,
        peers: rooms.length * pattern.peersPerRoom,
        workerCpuPct: summary.workerCpuPct,
        lossPct: summary.lossPct,
        sfuLossPct: summary.sfuLossPct,
        usPerPacket: summary.usPerPacket,
        forwardedPps: summary.forwardedPps,
        latencyMs: latencyMs(histogram),
        receiverDrops: summary.receiverDrops,
        loadgenCpuPct: summary.loadgenCpuPct,
        // Drops at our sockets, or a backlog at our receivers (transit p50 over 20 ms).
        generatorLimited:
          summary.receiverDrops > 0.001 * summary.forwardedPps * (options.windowMs / 1000) ||
          histogram.percentileMs(50) > 20,
        pass: summary.sfuLossPct < MAX_LOSS_PCT && summary.workerCpuPct < MAX_WORKER_CPU_PCT,
      };
      steps.push(step);
      log(
        `  ${pattern.name}: ${step.rooms} rooms, ${step.peers} peers: worker ${step.workerCpuPct}%, ` +
          `loss ${step.lossPct}% (SFU ${step.sfuLossPct}%), ${step.forwardedPps} packets/s out, ${step.usPerPacket} µs/packet, ` +
          `transit p50/p99 ${step.latencyMs.p50}/${step.latencyMs.p99} ms, load generator ` +
          `${step.loadgenCpuPct}%${step.generatorLimited ? ` (behind: ${step.receiverDrops} drops at our sockets)` : ''}` +
          `${step.pass ? '' : '  <- limit'}`,
      );
      if (!step.pass) break;
      target = nextRooms(step.rooms, step.workerCpuPct);
    }
    const best = steps.filter((s) => s.pass).at(-1);
    return {
      pattern,
      srtp: options.srtp ?? null,
      consumers: `${options.srtp ? `SRTP ${options.srtp}` : 'plain RTP'} (browser capabilities: NACK, transport-cc, header extensions)`,
      best,
      peersAt85Pct: best
        ? Math.round((best.peers * MAX_WORKER_CPU_PCT) / Math.max(0.1, best.workerCpuPct))
        : undefined,
      steps,
    };
  } finally {
    await load.setEnabled(tag, false);
    await load.removeStreams(tag);
    for (const { room, plain } of rooms) {
      plain.close();
      room.close();
    }
  }
}
