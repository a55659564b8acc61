/**
 * Points 3 and 4: join time through GhostTalk's real signaling and real WebRTC, one at a
 * time and in bursts of simultaneous joins, with the server in its own process so its
 * Node CPU per join and heap per connected peer can be read there.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SignalingClient } from '../../test/support/signalingClient.ts';
import { weriftRtpCapabilities } from '../../test/support/weriftPeer.ts';
import type { Child } from './ipc.ts';
import { JoinClient, type JoinMeasurement } from './joinClient.ts';
import type { ServerUsage } from './serverChild.ts';
import { round, type Summary, summarize } from './stats.ts';

/** A werift step this long is the load generator's stall, not the server's time. */
const CLIENT_STALL_MS = 1000;

export type JoinsResult = {
  joinMs: Summary;
  /** The same joins without those where werift's own ICE gathering stalled (> 1 s). */
  joinMsWithoutClientStalls: Summary;
  clientStalls: number;
  sequentialMs: Summary;
  burstMs: Record<string, Summary>;
  roundTripsPerJoin: number;
  requestsPerJoin: number;
  nodeCpuMsPerJoin: number;
  heapKbPerPeer: number;
  heapPeers: number;
  rooms: number;
  /** Joins over 1 s, with when each of their steps finished. */
  slowJoins: { kind: string; ms: number; phasesMs: Record<string, number> }[];
};

const TIMEOUT_MS = 20_000;

export async function measureJoins(options: {
  server: Child;
  url: string;
  rooms: number;
  sequential: number;
  bursts: number[];
  heapPeers: number;
  log: (line: string) => void;
}): Promise<JoinsResult> {
  const { server, url, rooms, log } = options;
  const usage = (gc = false) => server.call<ServerUsage>('usage', { gc });
  const talkers: JoinClient[] = [];
  const measurements: { kind: string; m: JoinMeasurement }[] = [];
  try {
    for (let r = 0; r < rooms; r++) {
      const talker = await JoinClient.open(url);
      talkers.push(talker);
      await talker.join({
        roomId: `join-${r}`,
        nickname: `talker ${r}`,
        talk: true,
        timeoutMs: TIMEOUT_MS,
      });
    }
    await sleep(1000);
    // The server's idle CPU with talkers in the rooms, subtracted from the joins' CPU.
    const idleA = await usage();
    const idleStart = performance.now();
    await sleep(2000);
    const idleB = await usage();
    const idleRate = (idleB.cpuMs - idleA.cpuMs) / (performance.now() - idleStart);

    const before = await usage();
    const started = performance.now();
    let joins = 0;
    const batch = async (size: number, kind: string, offset: number) => {
      const clients = await Promise.all(Array.from({ length: size }, () => JoinClient.open(url)));
      const results = await Promise.all(
        clients.map((client, i) =>
          client.join({
            roomId: `join-${(offset + i) % rooms}`,
            nickname: `joiner ${joins + i}`,
            talk: false,
            timeoutMs: TIMEOUT_MS,
          }),
        ),
      );
      joins += size;
      for (const m of results) measurements.push({ kind, m });
      return clients;
    };
    // One at a time, up to 8 joiners per room held at once, then all leave.
    let held: JoinClient[] = [];
    for (let i = 0; i < options.sequential; i++) {
      held.push(...(await batch(1, 'sequential', i)));
      if (held.length >= rooms * 8) {
        await Promise.all(held.map((c) => c.leave()));
        held = [];
      }
    }
    await Promise.all(held.map((c) => c.leave()));
    for (const [b, size] of options.bursts.entries()) {
      const clients = await batch(size, `burst of ${size}`, b);
      await Promise.all(clients.map((c) => c.leave()));
    }
    await sleep(500);
    const after = await usage();
    const wall = performance.now() - started;
    const nodeCpuMsPerJoin = (after.cpuMs - before.cpuMs - idleRate * wall) / joins;

    const all = measurements.map((x) => x.m.ms);
    const slow = measurements.filter((x) => x.m.ms > 1000);
    for (const { kind, m } of slow) {
      log(
        `  slow join (${kind}, peer ${m.peerId}): ${Math.round(m.ms)} ms, werift's longest ` +
          `step ${m.clientStallMs} ms; steps done at ` +
          JSON.stringify(m.phasesMs),
      );
    }
    const burstMs: Record<string, Summary> = {};
    for (const size of new Set(options.bursts)) {
      burstMs[String(size)] = summarize(
        measurements.filter((x) => x.kind === `burst of ${size}`).map((x) => x.m.ms),
      );
    }
    const unstalled = measurements.filter((x) => x.m.clientStallMs <= CLIENT_STALL_MS);
    const result = {
      joinMs: summarize(all),
      joinMsWithoutClientStalls: summarize(unstalled.map((x) => x.m.ms)),
      clientStalls: measurements.length - unstalled.length,
      sequentialMs: summarize(
        measurements.filter((x) => x.kind === 'sequential').map((x) => x.m.ms),
      ),
      burstMs,
      roundTripsPerJoin: Math.max(...measurements.map((x) => x.m.roundTrips)),
      requestsPerJoin: Math.max(...measurements.map((x) => x.m.requests)),
      nodeCpuMsPerJoin: round(nodeCpuMsPerJoin, 2),
      heapKbPerPeer: 0,
      heapPeers: options.heapPeers,
      rooms,
      slowJoins: slow.map(({ kind, m }) => ({ kind, ms: Math.round(m.ms), phasesMs: m.phasesMs })),
    };
    log(
      `  join to first audio: p50 ${result.joinMs.p50} ms, p95 ${result.joinMs.p95} ms, max ${result.joinMs.max} ms ` +
        `(n=${result.joinMs.n}); without werift stalls p95 ${result.joinMsWithoutClientStalls.p95} ms, ` +
        `max ${result.joinMsWithoutClientStalls.max} ms (${result.clientStalls} stalled); one at a time p50 ${result.sequentialMs.p50} ms; ` +
        Object.entries(burstMs)
          .map(([size, s]) => `bursts of ${size}: p50 ${s.p50} ms, max ${s.max} ms`)
          .join('; '),
    );
    log(
      `  ${result.roundTripsPerJoin} round trips (${result.requestsPerJoin} requests) per join; ` +
        `server Node CPU ${result.nodeCpuMsPerJoin} ms per join (connect + join + leave)`,
    );
    result.heapKbPerPeer = await heapPerPeer(server, url, options.heapPeers, log);
    return result;
  } finally {
    for (const t of talkers) t.close();
  }
}

/**
 * Heap per connected peer: signaling-only peers (socket, transports, a producer and a
 * consumer of every other peer in rooms of 10; no DTLS), heap after full GCs with them
 * and without them.
 */
async function heapPerPeer(
  server: Child,
  url: string,
  peers: number,
  log: (line: string) => void,
): Promise<number> {
  const usage = () => server.call<ServerUsage>('usage', { gc: true });
  const base = await usage();
  const clients: SignalingClient[] = [];
  try {
    for (let i = 0; i < peers; i++) {
      const client = await SignalingClient.connect(url);
      clients.push(client);
      const joined = await client.call('join', {
        roomId: `heap-${Math.floor(i / 10)}`,
        nickname: `peer ${i}`,
        rtpCapabilities: weriftRtpCapabilities,
      });
      await client.call('produce', {
        transportId: joined.sendTransport.id,
        kind: 'audio',
        rtpParameters: {
          codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }],
          encodings: [{ ssrc: 1000 + i }],
          rtcp: { cname: `peer${i}` },
        },
      });
    }
    await sleep(500);
    const loaded = await usage();
    const kb = (loaded.heapUsedKb - base.heapUsedKb) / peers;
    log(
      `  heap: ${round(kb, 1)} kB per connected peer (${peers} peers in rooms of 10, each ` +
        `producing and consuming the others; ${loaded.peers} peers on the server)`,
    );
    return round(kb, 1);
  } finally {
    for (const c of clients) c.close();
  }
}
