/**
 * One large room on one worker versus the same room spread over two workers, its
 * producers piped (router.pipeToRouter) to the second worker's router where people
 * there consume them: the layout GhostTalk's rooms take past WORKER_CONSUMER_BUDGET.
 * Plain RTP in and out; windows alternate between the two layouts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { mediaCodecs } from '../../src/media/mediaCodecs.ts';
import { startBareMediasoup } from './bareMediasoup.ts';
import { type LatencyMs, latencyMs } from './baseline.ts';
import { measureWindow, type StepResult, summarizeWindows, type WindowDelta } from './measure.ts';
import { type LoadGenerator, PlainRoom } from './plainRtp.ts';
import { LatencyHistogram } from './stats.ts';

const ONE = 40;
const TWO = 41;

export type Layout = StepResult & { latencyMs: LatencyMs };
export type TwoWorkerRoomResult = {
  peers: number;
  talkers: number;
  consumers: number;
  oneWorker: Layout;
  twoWorkers: Layout;
};

export async function measureTwoWorkerRoom(options: {
  load: LoadGenerator;
  peers: number;
  talkers: number;
  rounds: number;
  windowMs: number;
  log: (line: string) => void;
}): Promise<TwoWorkerRoomResult> {
  const { load, peers, talkers, log } = options;
  const a = await startBareMediasoup();
  const b = await startBareMediasoup();
  const rooms: PlainRoom[] = [];
  try {
    const second = await b.worker.createRouter({ mediaCodecs });
    const common = { peers, talkers, silent: 'muted', consumerCaps: 'browser', load } as const;
    rooms.push(await PlainRoom.create({ ...common, routers: [a.router], tag: ONE }));
    const firstOfTwo = await a.worker.createRouter({ mediaCodecs });
    rooms.push(await PlainRoom.create({ ...common, routers: [firstOfTwo, second], tag: TWO }));
    await load.addStreams(rooms.flatMap((r) => r.streams));
    const workers = [a.worker, b.worker];
    const windows: Record<number, WindowDelta[]> = { [ONE]: [], [TWO]: [] };
    const histograms = { [ONE]: new LatencyHistogram(), [TWO]: new LatencyHistogram() };
    for (let r = 0; r < options.rounds; r++) {
      for (const tag of [ONE, TWO] as const) {
        await load.setEnabled(tag === ONE ? TWO : ONE, false);
        await load.setEnabled(tag, true);
        await sleep(1000);
        await load.latency(tag, true);
        windows[tag]?.push(await measureWindow(workers, load, options.windowMs));
        histograms[tag].add(await load.latency(tag, true));
      }
    }
    const layout = (tag: typeof ONE | typeof TWO): Layout => ({
      ...summarizeWindows(windows[tag] ?? [], [tag]),
      latencyMs: latencyMs(histograms[tag]),
    });
    const result: TwoWorkerRoomResult = {
      peers,
      talkers,
      consumers: rooms[0]?.consumers ?? 0,
      oneWorker: layout(ONE),
      twoWorkers: layout(TWO),
    };
    for (const [name, l] of [
      ['one worker', result.oneWorker],
      ['two workers', result.twoWorkers],
    ] as const) {
      log(
        `  ${name}: workers ${l.perWorkerCpuPct.join('% + ')}% = ${l.workerCpuPct}%, ` +
          `${l.usPerPacket} µs/packet, ${l.forwardedPps} packets/s, loss ${l.lossPct}% ` +
          `(SFU ${l.sfuLossPct}%), transit p50/p99 ${l.latencyMs.p50}/${l.latencyMs.p99} ms`,
      );
    }
    return result;
  } finally {
    for (const tag of [ONE, TWO]) {
      await load.setEnabled(tag, false);
      await load.removeStreams(tag);
    }
    for (const room of rooms) room.close();
    a.close();
    b.close();
  }
}
