/**
 * Points 5 and 6: the same plain-RTP room load through GhostTalk's rooms (routers and
 * speaking observers made by GhostTalk's RoomRegistry) and through a bare mediasoup
 * script (a worker, one router per room, nothing else), windows alternating between
 * the two; plus the time packets spend crossing the SFU (send time in the RTP timestamp to
 * receipt, both in the load generator's process on loopback), next to the same path
 * without the SFU (load generator to itself) as the floor.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { types } from 'mediasoup';
import { mediaCodecs } from '../../src/media/mediaCodecs.ts';
import { startBareMediasoup } from './bareMediasoup.ts';
import type { GhostTalkRooms } from './ghostTalkRooms.ts';
import { measureWindow, type StepResult, summarizeWindows, type WindowDelta } from './measure.ts';
import { type LoadGenerator, PlainRoom } from './plainRtp.ts';
import { LatencyHistogram, round } from './stats.ts';

const BARE = 20;
const GHOSTTALK = 21;
const FLOOR = 22;

export type LatencyMs = { p50: number; p99: number; packets: number };

export type BaselineResult = {
  rooms: number;
  peersPerRoom: number;
  bare: StepResult;
  ghostTalk: StepResult;
  /** GhostTalk µs/packet ÷ bare µs/packet. */
  ratio: number;
  latency: { ghostTalk: LatencyMs; bare: LatencyMs; loopbackFloor: LatencyMs };
};

export function latencyMs(histogram: LatencyHistogram): LatencyMs {
  return {
    p50: round(histogram.percentileMs(50), 2),
    p99: round(histogram.percentileMs(99), 2),
    packets: histogram.total,
  };
}

export async function measureBaseline(options: {
  load: LoadGenerator;
  ghostTalk: GhostTalkRooms;
  rooms: number;
  peersPerRoom: number;
  rounds: number;
  windowMs: number;
  log: (line: string) => void;
}): Promise<BaselineResult> {
  const { load, ghostTalk, rooms, peersPerRoom, log } = options;
  const bare = await startBareMediasoup();
  const plainRooms: PlainRoom[] = [];
  const closers: (() => void)[] = [];
  try {
    const common = { peers: peersPerRoom, talkers: peersPerRoom, silent: 'muted', load } as const;
    for (let i = 0; i < rooms; i++) {
      const router: types.Router = await bare.worker.createRouter({ mediaCodecs });
      plainRooms.push(
        await PlainRoom.create({
          ...common,
          routers: [router],
          consumerCaps: 'browser',
          tag: BARE,
        }),
      );
      const room = await ghostTalk.room(`baseline-${i}`);
      closers.push(room.close);
      plainRooms.push(
        await PlainRoom.create({
          ...common,
          routers: [room.router],
          consumerCaps: 'browser',
          tag: GHOSTTALK,
          audioLevelObserver: room.observer,
        }),
      );
    }
    await load.addStreams(plainRooms.flatMap((r) => r.streams));
    const floorPort = load.ports[0] as number;
    await load.addStreams([
      { port: floorPort, ssrc: load.ssrc(), tag: FLOOR, fanout: 1, kind: 'talk' },
    ]);
    await load.setEnabled(FLOOR, true);
    log(`  ${rooms} rooms x ${peersPerRoom} talkers on each side`);

    const workers = [bare.worker, ...ghostTalk.workers];
    const windows: Record<number, WindowDelta[]> = { [BARE]: [], [GHOSTTALK]: [] };
    const histograms: Record<number, LatencyHistogram> = {
      [BARE]: new LatencyHistogram(),
      [GHOSTTALK]: new LatencyHistogram(),
      [FLOOR]: new LatencyHistogram(),
    };
    for (let r = 0; r < options.rounds; r++) {
      for (const tag of [BARE, GHOSTTALK]) {
        await load.setEnabled(tag === BARE ? GHOSTTALK : BARE, false);
        await load.setEnabled(tag, true);
        await sleep(1000);
        for (const t of [tag, FLOOR]) await load.latency(t, true);
        (windows[tag] as WindowDelta[]).push(await measureWindow(workers, load, options.windowMs));
        for (const t of [tag, FLOOR]) histograms[t]?.add(await load.latency(t, true));
      }
    }
    for (const tag of [BARE, GHOSTTALK, FLOOR]) await load.setEnabled(tag, false);

    // Each side's CPU is its own worker's: bare is worker 0, GhostTalk's are the rest.
    const only = (w: WindowDelta, side: number): WindowDelta => ({
      ...w,
      cpuMs: side === BARE ? w.cpuMs.slice(0, 1) : w.cpuMs.slice(1),
      userMs: side === BARE ? w.userMs.slice(0, 1) : w.userMs.slice(1),
    });
    const bareStep = summarizeWindows(
      (windows[BARE] ?? []).map((w) => only(w, BARE)),
      [BARE],
    );
    const gtStep = summarizeWindows(
      (windows[GHOSTTALK] ?? []).map((w) => only(w, GHOSTTALK)),
      [GHOSTTALK],
    );
    const result: BaselineResult = {
      rooms,
      peersPerRoom,
      bare: bareStep,
      ghostTalk: gtStep,
      ratio: round(gtStep.usPerPacket / bareStep.usPerPacket, 3),
      latency: {
        ghostTalk: latencyMs(histograms[GHOSTTALK] as LatencyHistogram),
        bare: latencyMs(histograms[BARE] as LatencyHistogram),
        loopbackFloor: latencyMs(histograms[FLOOR] as LatencyHistogram),
      },
    };
    log(
      `  bare ${bareStep.usPerPacket} µs/packet (worker ${bareStep.workerCpuPct}%, loss ${bareStep.lossPct}%), ` +
        `GhostTalk ${gtStep.usPerPacket} µs/packet (worker ${gtStep.workerCpuPct}%, loss ${gtStep.lossPct}%): ` +
        `ratio ${result.ratio}`,
    );
    log(
      `  SFU transit p50/p99: GhostTalk ${result.latency.ghostTalk.p50}/${result.latency.ghostTalk.p99} ms, ` +
        `bare ${result.latency.bare.p50}/${result.latency.bare.p99} ms, loopback floor ` +
        `${result.latency.loopbackFloor.p50}/${result.latency.loopbackFloor.p99} ms`,
    );
    return result;
  } finally {
    for (const tag of [BARE, GHOSTTALK, FLOOR]) await load.removeStreams(tag);
    for (const room of plainRooms) room.close();
    for (const close of closers) close();
    bare.close();
  }
}
