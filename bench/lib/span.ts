/**
 * Rooms spanning nodes (issue #13), every figure from one run: real GhostTalk nodes in
 * processes of their own (serverChild.ts) on one real redis-server, people joining
 * through signaling and placed by the cluster's own rule (NODE_CONSUMER_BUDGET), their
 * media plain RTP from the load generator (plainPeers.ts swaps in the PlainTransports).
 * Everyone in a room produces, as the app does; talkers send 50 packets/s, everyone else
 * is muted (a paused producer). Talkers hear nobody (their consumers stay paused), so
 * every packet counted is one delivered to a listener.
 *
 *   1. Worker CPU per packet delivered to a listener on the room's own node vs on
 *      another node (the talkers' packets piped there over SRTP, once per producer):
 *      two rooms of the same size, windows alternating between them.
 *   2. The one-way latency the pipe adds: send time (RTP timestamp) to receipt, both in the load
 *      generator's process (as in baseline.ts), with both rooms talking at once.
 *   3. The largest room one node holds vs the same room spread over three nodes: steps
 *      add listeners until a worker passes the CPU limit or SFU loss the loss limit (as
 *      in capacity.ts), or the load generator, which shares the machine, falls behind.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import * as mediasoup from 'mediasoup';
import { mediaCodecs } from '../../src/media/mediaCodecs.ts';
import type { Responses } from '../../src/protocol/protocol.ts';
import { freePort } from '../../test/support/ports.ts';
import { startRedis, type TestRedis } from '../../test/support/redis.ts';
import { SignalingClient } from '../../test/support/signalingClient.ts';
import { waitFor } from '../../test/support/wait.ts';
import { type LatencyMs, latencyMs } from './baseline.ts';
import { MAX_LOSS_PCT, MAX_WORKER_CPU_PCT } from './capacity.ts';
import { type Child, spawnChild } from './ipc.ts';
import {
  type Sample,
  type StepResult,
  summarizeWindows,
  type WindowDelta,
  windowDelta,
} from './measure.ts';
import type { SpanState } from './plainPeers.ts';
import type { LoadGenerator } from './plainRtp.ts';
import { producerRtpParameters } from './rtpPacket.ts';
import type { ServerUsage } from './serverChild.ts';
import { LatencyHistogram, median, round } from './stats.ts';

const caps = mediasoup.ortc.generateRouterRtpCapabilities(mediaCodecs);
/** Tags: 60, 61, ... for the pipe-cost rooms (local, remote per point), 50, 51 for part 3. */
const LOCAL = 60;
const ONE_NODE = 50;
const THREE_NODES = 51;
/** Below this share of its planned sends the generator is behind (the machine is full). */
const MIN_SEND_PCT = 97;
/** Heartbeats every second: placement sees other nodes' loads within about that. */
const LEASE_MS = 3000;
const PASSWORD = 'bench-span-password';
const FRACTIONS = [0.6, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4];

type Node = { child: Child; url: string; id: string };

async function startNode(id: string, redisUrl: string, budget: number): Promise<Node> {
  const child = await spawnChild(new URL('./serverChild.ts', import.meta.url));
  const pipeBase = await freePort();
  try {
    const { url } = await child.call<{ url: string }>('start', {
      env: {
        RTC_WORKERS: '1',
        REDIS_URL: redisUrl,
        NODE_ID: id,
        CLUSTER_LEASE_MS: String(LEASE_MS),
        NODE_CONSUMER_BUDGET: String(budget),
        PIPE_LISTEN_IP: '127.0.0.1',
        PIPE_ANNOUNCED_ADDRESS: '127.0.0.1',
        PIPE_PORTS: `${pipeBase}-${pipeBase + 49}`,
        ROOM_CAPACITY: '1000',
        ROOM_EMPTY_GRACE_MS: '1000',
      },
    });
    return { child, url, id };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

async function stopNode(node: Node): Promise<void> {
  await node.child.call('stop').catch(() => undefined);
  await node.child.stop();
}

/** Until every node saw `count` nodes alive at its last heartbeat. */
async function seeEachOther(nodes: readonly Node[], count: number): Promise<void> {
  await waitFor(
    `${nodes.length} node(s) to see ${count}`,
    async () => {
      const usages = await Promise.all(
        nodes.map((n) => n.child.call<ServerUsage>('usage', { gc: false })),
      );
      return usages.every((u) => u.clusterNodes === count);
    },
    { timeoutMs: 15_000, intervalMs: 200 },
  );
}

/** Worker CPU of every node (one worker each, in `nodes` order) and the generator's counters. */
async function sample(
  nodes: readonly Node[],
  load: LoadGenerator,
  extra?: () => Promise<number>,
): Promise<Sample> {
  const [usages, snapshot, extraValue] = await Promise.all([
    Promise.all(nodes.map((n) => n.child.call<ServerUsage>('usage', { gc: false }))),
    load.snapshot(),
    extra ? extra() : Promise.resolve(0),
  ]);
  const cpu = usages.flatMap((u) => u.workers.map((w) => ({ total: w.cpuMs, user: w.userMs })));
  return { at: performance.now(), cpu, snapshot, extra: extraValue };
}

async function measureNodes(
  nodes: readonly Node[],
  load: LoadGenerator,
  ms: number,
  extra?: () => Promise<number>,
): Promise<WindowDelta> {
  const a = await sample(nodes, load, extra);
  await sleep(ms);
  return windowDelta(a, await sample(nodes, load, extra));
}

type Person = { client: SignalingClient; peerId: string; node: Node; producerId: string };

/**
 * One room's people, joined through signaling wherever `entry` says (the cluster decides
 * where each one's media goes); `tag` counts its talkers' packets in the load generator.
 */
class SpanRoom {
  readonly id: string;
  readonly tag: number;
  readonly talkers: Person[] = [];
  readonly listeners: Person[] = [];
  readonly #nodes: () => readonly Node[];
  readonly #load: LoadGenerator;

  constructor(id: string, tag: number, nodes: () => readonly Node[], load: LoadGenerator) {
    this.id = id;
    this.tag = tag;
    this.#nodes = nodes;
    this.#load = load;
  }

  get people(): number {
    return this.talkers.length + this.listeners.length;
  }

  async #join(
    entry: Node,
  ): Promise<{ client: SignalingClient; joined: Responses['join']; node: Node }> {
    const client = await SignalingClient.connect(entry.url);
    try {
      const joined = await client.call('join', {
        roomId: this.id,
        nickname: `p${this.people}`,
        rtpCapabilities: caps,
      });
      const nodes = this.#nodes();
      const holds = await Promise.all(
        nodes.map((n) =>
          n.child.call<boolean>('holds', { roomId: this.id, peerId: joined.peerId }),
        ),
      );
      const node = nodes[holds.indexOf(true)];
      if (!node) throw new Error(`${joined.peerId} joined ${this.id} but no node holds it`);
      return { client, joined, node };
    } catch (error) {
      client.close();
      throw error;
    }
  }

  /** A talker: its media comes from the load generator (enabled with the room's tag). */
  async addTalker(entry: Node): Promise<Person> {
    const { client, joined, node } = await this.#join(entry);
    const { transportId, port } = await node.child.call<{ transportId: string; port: number }>(
      'plainSend',
      { roomId: this.id, peerId: joined.peerId },
    );
    const ssrc = this.#load.ssrc();
    const { producerId } = await client.call('produce', {
      transportId,
      kind: 'audio',
      rtpParameters: producerRtpParameters(ssrc),
    });
    const person = { client, peerId: joined.peerId, node, producerId };
    this.talkers.push(person);
    await this.#load.addStreams([
      { port, ssrc, tag: this.tag, fanout: this.listeners.length, kind: 'talk' },
    ]);
    return person;
  }

  /** A muted listener: it produces (paused), and hears the talkers on a plain transport. */
  async addListener(entry: Node): Promise<Person> {
    const { client, joined, node } = await this.#join(entry);
    const ports = this.#load.ports;
    await node.child.call('plainReceive', {
      roomId: this.id,
      peerId: joined.peerId,
      port: ports[this.listeners.length % ports.length] as number,
      talkers: this.talkers.map((t) => t.producerId),
    });
    await client.call('setMuted', { muted: true });
    const { producerId } = await client.call('produce', {
      transportId: joined.sendTransport.id,
      kind: 'audio',
      rtpParameters: producerRtpParameters(this.#load.ssrc()),
    });
    const person = { client, peerId: joined.peerId, node, producerId };
    this.listeners.push(person);
    return person;
  }

  /** Until every listener hears every talker; then the generator expects that fanout. */
  async ready(timeoutMs = 30_000): Promise<void> {
    const talkers = this.talkers.map((t) => t.producerId);
    const nodes = [...new Set(this.listeners.map((l) => l.node))];
    let missing = this.listeners.length;
    await waitFor(
      `every listener of ${this.id} to hear its ${talkers.length} talkers`,
      async () => {
        const counts: Record<string, number> = Object.assign(
          {},
          ...(await Promise.all(
            nodes.map((n) =>
              n.child.call<Record<string, number>>('plainReady', { roomId: this.id, talkers }),
            ),
          )),
        );
        missing = this.listeners.filter((l) => (counts[l.peerId] ?? 0) < talkers.length).length;
        return missing === 0;
      },
      { timeoutMs, intervalMs: 100 },
    ).catch((error: Error) => {
      throw new Error(`${error.message} (${missing} of ${this.listeners.length} not yet)`);
    });
    await this.#load.setFanout(this.tag, this.listeners.length);
  }

  /** People of each kind on `node`. */
  on(node: Node): { talkers: number; listeners: number } {
    return {
      talkers: this.talkers.filter((p) => p.node === node).length,
      listeners: this.listeners.filter((p) => p.node === node).length,
    };
  }

  close(): void {
    for (const p of [...this.talkers, ...this.listeners]) p.client.close();
  }
}

/** The node holding a room's claim, from Redis. */
async function roomNode(redis: Redis, roomId: string): Promise<string> {
  const raw = await redis.get(`gt:room:${roomId}`);
  const node = raw ? (JSON.parse(raw) as { node?: unknown }).node : undefined;
  if (typeof node !== 'string') throw new Error(`no claim for ${roomId}`);
  return node;
}

// ---------------------------------------------------------------------------------------
// 1 + 2: a listener on the room's own node vs on another node.

export type SpanLayout = StepResult & {
  latencyMs: LatencyMs;
  /** Each node's worker per delivered packet (µs), and the user-time part of the total. */
  usPerPacketByNode: { roomNode: number; otherNode: number };
  /** RTP through the pipes, as the other node received it (bytes/s; 0 in the local layout). */
  pipeBytesPerSecond: number;
  /** Packets the listeners received per second. */
  deliveredPps: number;
};

type Where = { talkers: number; listeners: number };

/** One operating point: a local and a remote room of the same size. */
export type PipeCostPoint = {
  talkers: number;
  listeners: number;
  /** Where the cluster put each room's people. */
  placement: {
    local: { roomNode: Where; otherNode: Where };
    remote: { roomNode: Where; otherNode: Where };
  };
  /** From the first listener's join on the other node to it hearing every talker. */
  firstRemoteListenerMs: number;
  local: SpanLayout;
  remote: SpanLayout;
  /** Remote ÷ local, µs per delivered packet (both workers counted in both). */
  ratio: number;
  /**
   * The pipe's own cost: the extra worker CPU of the remote layout (same deliveries) per
   * packet crossing the pipe (each talker packet crosses once), both ends together.
   */
  pipeUsPerPipedPacket: number;
  /**
   * Talker to listener, both rooms of the point talking at once (the layouts' own
   * latencyMs are from their CPU windows, which alternate).
   */
  latencyTogetherMs: { local: LatencyMs; remote: LatencyMs };
  /** Remote minus local, from latencyTogetherMs. */
  addedLatencyMs: { p50: number; p99: number };
};

export type PipeCostResult = {
  nodeConsumerBudget: number;
  points: PipeCostPoint[];
  /** The other node's pipes once set up: one producer in per remote talker. */
  otherNodePipes: SpanState['pipes'];
  /** Worker CPU with every room in place and nobody talking (% of one core). */
  idleCpuPct: { roomNode: number; otherNode: number };
  setup: string;
};

function layout(windows: WindowDelta[], tag: number, histogram: LatencyHistogram): SpanLayout {
  const step = summarizeWindows(windows, [tag]);
  const perNode = (i: number) =>
    round(median(windows.map((w) => (1000 * (w.cpuMs[i] ?? 0)) / (w.tags[tag]?.expected ?? 0))), 2);
  return {
    ...step,
    latencyMs: latencyMs(histogram),
    usPerPacketByNode: { roomNode: perNode(0), otherNode: perNode(1) },
    pipeBytesPerSecond: Math.round(median(windows.map((w) => (1000 * w.extra) / w.wallMs))),
    deliveredPps: Math.round(
      median(windows.map((w) => (1000 * (w.tags[tag]?.received ?? 0)) / w.wallMs)),
    ),
  };
}

/** Worker CPU (ms, all workers) and talker packets sent, per second: medians over windows. */
function rates(windows: WindowDelta[], tag: number): { cpuMsPerS: number; sentPerS: number } {
  return {
    cpuMsPerS: median(windows.map((w) => (1000 * w.cpuMs.reduce((a, b) => a + b, 0)) / w.wallMs)),
    sentPerS: median(windows.map((w) => (1000 * (w.tags[tag]?.sent ?? 0)) / w.wallMs)),
  };
}

export async function measurePipeCost(options: {
  load: LoadGenerator;
  /** Operating points: each gets a local and a remote room of this size. */
  points: { talkers: number; listeners: number }[];
  rounds: number;
  windowMs: number;
  /** Between joins that go to the other node, so the placement sees its load (see below). */
  paceMs: number;
  log: (line: string) => void;
}): Promise<PipeCostResult> {
  const { load, points, log } = options;
  // Node A holds every local room (T + L people, everyone producing: (T+L)(T+L-1)
  // consumers) and the remote rooms' talkers (T(T-1)): that is its budget, so the remote
  // rooms' listeners, joining after, find A full and go to B, which is under budget and
  // less loaded. Every room is claimed while A is alone (a new room goes to the least
  // loaded node), and B joins the cluster only then.
  const budget = points.reduce(
    (sum, { talkers: T, listeners: L }) => sum + (T + L) * (T + L - 1) + T * (T - 1),
    0,
  );
  let redisServer: TestRedis | undefined;
  const nodes: Node[] = [];
  const rooms: SpanRoom[] = [];
  try {
    redisServer = await startRedis({ password: PASSWORD });
    const a = await startNode('span-a', redisServer.url, budget);
    nodes.push(a);
    await seeEachOther([a], 1);
    const pairs = points.map((point, i) => ({
      ...point,
      local: new SpanRoom(`span-local-${i}`, LOCAL + 2 * i, () => nodes, load),
      remote: new SpanRoom(`span-remote-${i}`, LOCAL + 2 * i + 1, () => nodes, load),
      firstRemoteListenerMs: 0,
    }));
    for (const pair of pairs) {
      rooms.push(pair.local, pair.remote);
      for (let i = 0; i < pair.talkers; i++) await pair.local.addTalker(a);
      for (let i = 0; i < pair.listeners; i++) await pair.local.addListener(a);
      for (let i = 0; i < pair.talkers; i++) await pair.remote.addTalker(a);
    }
    const b = await startNode('span-b', redisServer.url, budget);
    nodes.push(b);
    await seeEachOther(nodes, 2);
    for (const pair of pairs) {
      // Through B's own signaling: B asks the room's node (A) where its media goes.
      // Placement counts a node's consumers from its last heartbeat plus those sent there
      // since: joins in quick succession would count some twice, so they are paced.
      const firstJoin = performance.now();
      await pair.remote.addListener(b);
      await pair.remote.ready();
      pair.firstRemoteListenerMs = Math.round(performance.now() - firstJoin);
      for (let i = 1; i < pair.listeners; i++) {
        await sleep(options.paceMs);
        await pair.remote.addListener(b);
      }
    }
    for (const room of rooms) await room.ready();
    for (const pair of pairs) {
      const { local, remote, talkers: T, listeners: L } = pair;
      const placement = {
        local: { roomNode: local.on(a), otherNode: local.on(b) },
        remote: { roomNode: remote.on(a), otherNode: remote.on(b) },
      };
      const expected =
        placement.local.roomNode.listeners === L &&
        placement.local.roomNode.talkers === T &&
        placement.remote.roomNode.talkers === T &&
        placement.remote.otherNode.listeners === L;
      if (!expected) {
        throw new Error(`rooms not laid out as planned: ${JSON.stringify(placement)}`);
      }
    }
    const otherState = () => b.child.call<SpanState>('spanState', { roomId: '' });
    const otherNodePipes = (await otherState()).pipes;
    log(
      `  local rooms on ${a.id}; remote rooms: talkers on ${a.id}, listeners on ${b.id} ` +
        `(pipes there: ${JSON.stringify(otherNodePipes)}); first listener on ${b.id} heard ` +
        `everyone after ${pairs.map((p) => p.firstRemoteListenerMs).join(', ')} ms`,
    );

    const pipeBytes = async () => (await otherState()).pipeRtpBytes.received;
    const idle = await measureNodes(nodes, load, Math.min(2000, options.windowMs));
    const tags = pairs.flatMap((p) => [p.local.tag, p.remote.tag]);
    const windows = new Map<number, WindowDelta[]>(tags.map((t) => [t, []]));
    const histograms = new Map(tags.map((t) => [t, new LatencyHistogram()]));
    const together = new Map(tags.map((t) => [t, new LatencyHistogram()]));
    for (let r = 0; r < options.rounds; r++) {
      for (const tag of tags) {
        for (const other of tags) if (other !== tag) await load.setEnabled(other, false);
        await load.setEnabled(tag, true);
        await sleep(1000);
        await load.latency(tag, true);
        windows.get(tag)?.push(await measureNodes(nodes, load, options.windowMs, pipeBytes));
        histograms.get(tag)?.add(await load.latency(tag, true));
      }
      // Latency: both rooms of a point talking at once, so both paths see the same moment
      // (alternating windows differ by whatever else the machine did meanwhile).
      for (const pair of pairs) {
        const both = [pair.local.tag, pair.remote.tag];
        for (const tag of tags) await load.setEnabled(tag, both.includes(tag));
        await sleep(1000);
        for (const tag of both) await load.latency(tag, true);
        await sleep(options.windowMs);
        for (const tag of both) together.get(tag)?.add(await load.latency(tag, true));
      }
    }
    for (const tag of tags) await load.setEnabled(tag, false);
    const result: PipeCostResult = {
      nodeConsumerBudget: budget,
      points: pairs.map((pair) => {
        const measured = (room: SpanRoom) =>
          layout(
            windows.get(room.tag) ?? [],
            room.tag,
            histograms.get(room.tag) ?? new LatencyHistogram(),
          );
        const local = measured(pair.local);
        const remote = measured(pair.remote);
        const localTogether = latencyMs(together.get(pair.local.tag) ?? new LatencyHistogram());
        const remoteTogether = latencyMs(together.get(pair.remote.tag) ?? new LatencyHistogram());
        const localRates = rates(windows.get(pair.local.tag) ?? [], pair.local.tag);
        const remoteRates = rates(windows.get(pair.remote.tag) ?? [], pair.remote.tag);
        return {
          talkers: pair.talkers,
          listeners: pair.listeners,
          placement: {
            local: { roomNode: pair.local.on(a), otherNode: pair.local.on(b) },
            remote: { roomNode: pair.remote.on(a), otherNode: pair.remote.on(b) },
          },
          firstRemoteListenerMs: pair.firstRemoteListenerMs,
          local,
          remote,
          ratio: round(remote.usPerPacket / local.usPerPacket, 2),
          pipeUsPerPipedPacket: round(
            (1000 * (remoteRates.cpuMsPerS - localRates.cpuMsPerS)) / remoteRates.sentPerS,
            2,
          ),
          latencyTogetherMs: { local: localTogether, remote: remoteTogether },
          addedLatencyMs: {
            p50: round(remoteTogether.p50 - localTogether.p50, 2),
            p99: round(remoteTogether.p99 - localTogether.p99, 2),
          },
        };
      }),
      otherNodePipes,
      idleCpuPct: {
        roomNode: round((100 * (idle.cpuMs[0] ?? 0)) / idle.wallMs, 2),
        otherNode: round((100 * (idle.cpuMs[1] ?? 0)) / idle.wallMs, 2),
      },
      setup: `per operating point two rooms of T talkers (50 packets/s each, plain RTP) + L muted listeners, everyone producing; local: all on the room's node; remote: talkers on the room's node, listeners placed on the other node by NODE_CONSUMER_BUDGET=${budget} on the room's node (the local rooms fill it); CPU windows rotate over the rooms, one talking at a time, both nodes' workers counted in both layouts; latency windows have both rooms of a point talking at once`,
    };
    for (const point of result.points) {
      for (const [name, l] of [
        ['local ', point.local],
        ['remote', point.remote],
      ] as const) {
        log(
          `  ${point.talkers} talkers + ${point.listeners} listeners, ${name}: ${l.usPerPacket} µs/packet ` +
            `(room's node ${l.usPerPacketByNode.roomNode} + other ${l.usPerPacketByNode.otherNode}), ` +
            `workers ${l.perWorkerCpuPct.join('% + ')}%, ${l.forwardedPps} packets/s, loss ` +
            `${l.lossPct}% (SFU ${l.sfuLossPct}%), latency p50/p99 ${l.latencyMs.p50}/${l.latencyMs.p99} ms, ` +
            `pipe ${l.pipeBytesPerSecond} B/s`,
        );
      }
      log(
        `  remote/local ${point.ratio}; the pipe costs ${point.pipeUsPerPipedPacket} µs per packet ` +
          `crossing it (both ends); both talking at once, latency p50/p99 local ` +
          `${point.latencyTogetherMs.local.p50}/${point.latencyTogetherMs.local.p99} ms, remote ` +
          `${point.latencyTogetherMs.remote.p50}/${point.latencyTogetherMs.remote.p99} ms`,
      );
    }
    log(`  idle: ${result.idleCpuPct.roomNode}% + ${result.idleCpuPct.otherNode}%`);
    return result;
  } finally {
    for (const room of rooms) {
      await load.setEnabled(room.tag, false);
      await load.removeStreams(room.tag);
      room.close();
    }
    for (const node of nodes) await stopNode(node);
    await redisServer?.close();
  }
}

// ---------------------------------------------------------------------------------------
// 3: the largest room on one node vs spread over three.

export type RoomStep = {
  people: number;
  talkers: number;
  listeners: number;
  /** All workers added up, % of one core. */
  workerCpuPct: number;
  perWorkerCpuPct: number[];
  busiestWorkerCpuPct: number;
  usPerPacket: number;
  forwardedPps: number;
  lossPct: number;
  sfuLossPct: number;
  latencyMs: LatencyMs;
  receiverDrops: number;
  loadgenCpuPct: number;
  /** Talker packets the generator sent, % of the planned 50/s each. */
  sendPct: number;
  /**
   * The load generator fell behind (late sends, drops at its sockets, or a receive
   * backlog): it shares the machine's cores, so past this the step measures the machine,
   * not the SFU. The run stops at such a step.
   */
  generatorLimited: boolean;
  /** In node order; the room's node first. */
  peoplePerNode: number[];
  consumersPerNode: number[];
  /** The SFU held: every worker under the CPU limit, SFU loss under the loss limit. */
  pass: boolean;
  /** The first measurement had the generator behind; this is the second. */
  remeasured: boolean;
};

export type RoomRun = {
  nodes: number;
  nodeConsumerBudget: number | null;
  /** The largest step that passed with the generator keeping up. */
  best: RoomStep | undefined;
  /**
   * One node: people at which its worker would reach the CPU limit, from the best step's
   * CPU per listener (an extrapolation past what the generator could drive here).
   */
  peopleAtCpuLimit: number | null;
  limitedBy: string;
  steps: RoomStep[];
};

export type LargestRoomResult = {
  pattern: string;
  talkers: number;
  oneNode: RoomRun;
  threeNodes: RoomRun;
  /** The largest size measured and passing in both runs. */
  sameSize: {
    people: number;
    usPerPacket: { oneNode: number; threeNodes: number; ratio: number };
    workerCpuPct: { oneNode: number; threeNodes: number; ratio: number };
  } | null;
  note: string;
};

function limitedBy(steps: RoomStep[]): string {
  const failed = steps.find((s) => !s.pass || s.generatorLimited);
  if (!failed) return 'not reached (largest step passed)';
  if (failed.busiestWorkerCpuPct >= MAX_WORKER_CPU_PCT) {
    return `a worker's CPU >= ${MAX_WORKER_CPU_PCT} %`;
  }
  if (!failed.pass) return `SFU loss >= ${MAX_LOSS_PCT} %`;
  return `the load generator fell behind at ${failed.people} people (it shares the 2 cores)`;
}

/**
 * One room grown step by step on `nodes` (talkers first, then listeners, one at a time,
 * entering through the nodes in turn), measured after each step until a step fails.
 */
async function growRoom(options: {
  load: LoadGenerator;
  nodes: Node[];
  redis: Redis;
  roomId: string;
  tag: number;
  talkers: number;
  /** Listeners for the next step, given the steps so far (undefined: stop). */
  next: (steps: readonly RoomStep[]) => number | undefined;
  windows: number;
  windowMs: number;
  log: (line: string) => void;
}): Promise<RoomStep[]> {
  const { load, nodes, tag, log } = options;
  const room = new SpanRoom(options.roomId, tag, () => nodes, load);
  const steps: RoomStep[] = [];
  let entry = 0;
  const nextEntry = () => nodes[entry++ % nodes.length] as Node;
  try {
    for (let i = 0; i < options.talkers; i++) await room.addTalker(nextEntry());
    const home = await roomNode(options.redis, room.id);
    const ordered = [...nodes].sort((x, y) => Number(y.id === home) - Number(x.id === home));
    /** One step's windows, at the room's current size (talking already enabled). */
    const measure = async (): Promise<RoomStep> => {
      await sleep(Math.min(1500, options.windowMs));
      await load.latency(tag, true);
      const windows: WindowDelta[] = [];
      for (let w = 0; w < options.windows; w++) {
        windows.push(await measureNodes(ordered, load, options.windowMs));
      }
      const histogram = await load.latency(tag, true);
      const states = await Promise.all(
        ordered.map((n) => n.child.call<SpanState>('spanState', { roomId: room.id })),
      );
      const s = summarizeWindows(windows, [tag]);
      const busiest = Math.max(...s.perWorkerCpuPct);
      const sendPct = round(
        median(
          windows.map(
            (w) =>
              (100 * (w.tags[tag]?.sent ?? 0)) / ((room.talkers.length * 50 * w.wallMs) / 1000),
          ),
        ),
        1,
      );
      return {
        people: room.people,
        talkers: room.talkers.length,
        listeners: room.listeners.length,
        workerCpuPct: s.workerCpuPct,
        perWorkerCpuPct: s.perWorkerCpuPct,
        busiestWorkerCpuPct: busiest,
        usPerPacket: s.usPerPacket,
        forwardedPps: s.forwardedPps,
        lossPct: s.lossPct,
        sfuLossPct: s.sfuLossPct,
        latencyMs: latencyMs(histogram),
        receiverDrops: s.receiverDrops,
        loadgenCpuPct: s.loadgenCpuPct,
        sendPct,
        // As in capacity.ts (drops at our sockets, or a backlog at our receivers), and
        // sends falling behind the plan.
        generatorLimited:
          s.receiverDrops >
            0.001 * s.forwardedPps * ((options.windows * options.windowMs) / 1000) ||
          histogram.percentileMs(50) > 20 ||
          sendPct < MIN_SEND_PCT,
        peoplePerNode: states.map((st) => st.peers.length),
        consumersPerNode: states.map((st) => st.consumers),
        pass: s.sfuLossPct < MAX_LOSS_PCT && busiest < MAX_WORKER_CPU_PCT,
        remeasured: false,
      };
    };
    for (let target = options.next(steps); target !== undefined; target = options.next(steps)) {
      // Quiet while people join: joins are not what is measured.
      await load.setEnabled(tag, false);
      while (room.listeners.length < target) await room.addListener(nextEntry());
      await room.ready(60_000);
      await load.setEnabled(tag, true);
      let step = await measure();
      if (step.generatorLimited) {
        // Often a moment of other work on the machine: give it one more chance.
        log(`  ${step.people} people: the load generator fell behind; measuring again`);
        await sleep(3000);
        step = { ...(await measure()), remeasured: true };
      }
      steps.push(step);
      log(
        `  ${nodes.length} node(s), ${step.people} people (${step.talkers} talking): workers ` +
          `${step.perWorkerCpuPct.join('% + ')}%, ${step.usPerPacket} µs/packet, ` +
          `${step.forwardedPps} packets/s, loss ${step.lossPct}% (SFU ${step.sfuLossPct}%), ` +
          `latency p50/p99 ${step.latencyMs.p50}/${step.latencyMs.p99} ms, people/node ` +
          `${step.peoplePerNode.join('+')}, consumers/node ${step.consumersPerNode.join('+')}, ` +
          `load generator ${step.loadgenCpuPct}% (sent ${step.sendPct}% of plan)` +
          `${step.generatorLimited ? ' (behind)' : ''}${step.pass ? '' : '  <- limit'}`,
      );
      if (!step.pass || step.generatorLimited) break;
    }
    return steps;
  } finally {
    await load.setEnabled(tag, false);
    await load.removeStreams(tag);
    room.close();
  }
}

export async function measureLargestRoom(options: {
  load: LoadGenerator;
  talkers: number;
  /** Listeners in the first (calibration) step. */
  firstListeners: number;
  maxSteps: number;
  /** Further steps of the three-node run past the one-node sizes. */
  extraSteps: number;
  maxPeople: number;
  windows: number;
  windowMs: number;
  log: (line: string) => void;
}): Promise<LargestRoomResult> {
  const { load, talkers: T, log } = options;
  const maxListeners = Math.min(1000, options.maxPeople) - T;
  const common = {
    load,
    talkers: T,
    windows: options.windows,
    windowMs: options.windowMs,
    log,
  };

  const run = async (
    count: 1 | 3,
    roomId: string,
    tag: number,
    next: (steps: readonly RoomStep[]) => number | undefined,
  ): Promise<RoomRun> => {
    // Three nodes: talkers fill the room's node (their consumers of each other are its
    // budget), then every listener goes to whichever node has fewest consumers.
    const budget = T * (T - 1) || 1;
    let redisServer: TestRedis | undefined;
    let redis: Redis | undefined;
    const nodes: Node[] = [];
    try {
      redisServer = await startRedis({ password: PASSWORD });
      redis = new Redis(redisServer.url);
      const ids = count === 1 ? ['one-a'] : ['three-a', 'three-b', 'three-c'];
      const url = redisServer.url;
      nodes.push(...(await Promise.all(ids.map((id) => startNode(id, url, budget)))));
      await seeEachOther(nodes, count);
      const steps = await growRoom({ ...common, nodes, redis, roomId, tag, next });
      const best = steps.filter((s) => s.pass && !s.generatorLimited).at(-1);
      return {
        nodes: count,
        nodeConsumerBudget: count === 1 ? null : budget,
        best,
        peopleAtCpuLimit:
          count === 1 && best
            ? T +
              Math.floor(
                (best.listeners * MAX_WORKER_CPU_PCT) / Math.max(0.1, best.busiestWorkerCpuPct),
              )
            : null,
        limitedBy: limitedBy(steps),
        steps,
      };
    } finally {
      for (const node of nodes) await stopNode(node);
      redis?.disconnect();
      await redisServer?.close();
    }
  };

  log(`  one node: ${T} talkers, listeners added until a limit`);
  const oneNode = await run(1, 'span-big-1', ONE_NODE, (steps) => {
    if (steps.length === 0) return Math.min(options.firstListeners, maxListeners);
    const last = steps.at(-1) as RoomStep;
    if (!last.pass || last.generatorLimited || steps.length >= options.maxSteps) return undefined;
    const first = steps[0] as RoomStep;
    // Worker CPU grows with the packets delivered, i.e. with the listeners.
    const predicted =
      (first.listeners * MAX_WORKER_CPU_PCT) / Math.max(0.1, first.busiestWorkerCpuPct);
    return FRACTIONS.map((f) => Math.min(maxListeners, Math.round(f * predicted))).find(
      (n) => n > last.listeners,
    );
  });
  const sizes = oneNode.steps.map((s) => s.listeners);
  log('  three nodes: the same sizes, then larger');
  const threeNodes = await run(3, 'span-big-3', THREE_NODES, (steps) => {
    const last = steps.at(-1);
    if (last && (!last.pass || last.generatorLimited)) return undefined;
    if (steps.length < sizes.length) return sizes[steps.length];
    if (steps.length >= sizes.length + options.extraSteps || !last) return undefined;
    const grown = Math.min(maxListeners, Math.round(last.listeners * 1.25));
    return grown > last.listeners ? grown : undefined;
  });
  const fine = (s: RoomStep) => s.pass && !s.generatorLimited;
  const both = oneNode.steps.filter(
    (s) => fine(s) && threeNodes.steps.some((t) => fine(t) && t.listeners === s.listeners),
  );
  const same = both.at(-1);
  const sameThree = threeNodes.steps.find((t) => t.listeners === same?.listeners);
  return {
    pattern: `fixed number of talkers: ${T} talk at once (50 packets/s each), every other person is muted (a paused producer); everyone produces, as the app does, so a room of N has N(N-1) consumers; steps add listeners`,
    talkers: T,
    oneNode,
    threeNodes,
    sameSize:
      same && sameThree
        ? {
            people: same.people,
            usPerPacket: {
              oneNode: same.usPerPacket,
              threeNodes: sameThree.usPerPacket,
              ratio: round(sameThree.usPerPacket / same.usPerPacket, 2),
            },
            workerCpuPct: {
              oneNode: same.workerCpuPct,
              threeNodes: sameThree.workerCpuPct,
              ratio: round(sameThree.workerCpuPct / same.workerCpuPct, 2),
            },
          }
        : null,
    note: 'Three nodes on this one 2-core machine share the same two cores (with the load generator, the nodes’ Node processes and Redis): the three-node figure measures the overhead of spreading a room, not the gain of more machines. On separate machines each node brings its own cores. NODE_CONSUMER_BUDGET balances consumers, not packets: the room’s node holds the talkers, whose consumers of every muted person carry nothing, so its worker is the least busy.',
  };
}

export type SpanResult = { pipeCost: PipeCostResult; largestRoom: LargestRoomResult };

export async function measureSpan(options: {
  load: LoadGenerator;
  pipe: Omit<Parameters<typeof measurePipeCost>[0], 'load' | 'log'>;
  room: Omit<Parameters<typeof measureLargestRoom>[0], 'load' | 'log'>;
  log: (line: string) => void;
}): Promise<SpanResult> {
  const { load, log } = options;
  log('  1/2. a listener on the room’s node vs on another node (pipe)');
  const pipeCost = await measurePipeCost({ load, ...options.pipe, log });
  log('  3. the largest room: one node vs three');
  const largestRoom = await measureLargestRoom({ load, ...options.room, log });
  return { pipeCost, largestRoom };
}
