/**
 * The cluster's costs (issue: a cluster of nodes on Redis), every figure from one run:
 * three nodes in processes of their own on one real redis-server, driven by real
 * socket.io clients (signaling joins: transports are made, no ICE, so the figures are the
 * control plane's and Redis's alone).
 *   - join latency through the room's own node vs through another (relayed) node;
 *   - Redis commands, Redis CPU and Node CPU per join, cluster vs a single node;
 *   - joins per second with 3 nodes vs 1 at the same client concurrency.
 */
import { Redis } from 'ioredis';
import * as mediasoup from 'mediasoup';
import { mediaCodecs } from '../../src/media/mediaCodecs.ts';
import { startRedis, type TestRedis } from '../../test/support/redis.ts';
import { SignalingClient } from '../../test/support/signalingClient.ts';
import { waitFor } from '../../test/support/wait.ts';
import { type Child, spawnChild } from './ipc.ts';
import type { ServerUsage } from './serverChild.ts';
import { round, type Summary, summarize } from './stats.ts';

const caps = mediasoup.ortc.generateRouterRtpCapabilities(mediaCodecs);

type PerJoin = { joins: number; nodeCpuMs: number; redisCommands: number; redisCpuMs: number };

export type ClusterResult = {
  nodes: number;
  joinMs: { ownNode: Summary; otherNode: Summary; extraMsP50: number; extraMsP95: number };
  perJoin: {
    singleNode: PerJoin;
    clusterOwnNode: PerJoin;
    clusterOtherNode: PerJoin;
    clusterNewRoom: PerJoin;
  };
  joinsPerSecond: {
    singleNode: number;
    cluster: number;
    ratio: number;
    concurrency: number;
    seconds: number;
  };
  note: string;
};

type Node = { child: Child; url: string; id: string };

async function startNode(env: Record<string, string>, id: string): Promise<Node> {
  const child = await spawnChild(new URL('./serverChild.ts', import.meta.url));
  const { url } = await child.call<{ url: string }>('start', {
    env: { RTC_WORKERS: '1', ROOM_EMPTY_GRACE_MS: '1000', ...env },
  });
  return { child, url, id };
}

async function stopNode(node: Node): Promise<void> {
  await node.child.call('stop').catch(() => undefined);
  await node.child.stop();
}

async function nodeCpuMs(nodes: Node[]): Promise<number> {
  const usages = await Promise.all(
    nodes.map((n) => n.child.call<ServerUsage>('usage', { gc: false })),
  );
  return usages.reduce((sum, u) => sum + u.cpuMs, 0);
}

/** Commands Redis has run, and its CPU time, so far. */
async function redisCounters(
  redis: Redis | undefined,
): Promise<{ commands: number; cpuMs: number }> {
  if (!redis) return { commands: 0, cpuMs: 0 };
  const stats = await redis.info('stats');
  const cpu = await redis.info('cpu');
  const commands = Number(/total_commands_processed:(\d+)/.exec(stats)?.[1] ?? 0);
  const user = Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1] ?? 0);
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1] ?? 0);
  return { commands, cpuMs: (user + sys) * 1000 };
}

/** One join and leave through `url`; the join's request-to-ack time. */
async function joinOnce(url: string, roomId: string, nickname: string): Promise<number> {
  const client = await SignalingClient.connect(url);
  try {
    const started = performance.now();
    await client.call('join', { roomId, nickname, rtpCapabilities: caps });
    const ms = performance.now() - started;
    await client.call('leave', {});
    return ms;
  } finally {
    client.close();
  }
}

/** `count` joins, one at a time; Node CPU (all nodes) and Redis counters around them. */
async function batch(
  nodes: Node[],
  redis: Redis | undefined,
  count: number,
  next: (i: number) => { url: string; roomId: string },
): Promise<{ ms: number[]; perJoin: PerJoin }> {
  const cpu0 = await nodeCpuMs(nodes);
  const r0 = await redisCounters(redis);
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const { url, roomId } = next(i);
    ms.push(await joinOnce(url, roomId, `bench${i}`));
  }
  const cpu1 = await nodeCpuMs(nodes);
  const r1 = await redisCounters(redis);
  // The counter reads themselves (INFO twice) are not the joins' commands.
  const readCommands = redis ? 2 : 0;
  return {
    ms,
    perJoin: {
      joins: count,
      nodeCpuMs: round((cpu1 - cpu0) / count, 2),
      redisCommands: round((r1.commands - r0.commands - readCommands) / count, 1),
      redisCpuMs: round((r1.cpuMs - r0.cpuMs) / count, 3),
    },
  };
}

function add(a: PerJoin, b: PerJoin): PerJoin {
  const joins = a.joins + b.joins;
  const mean = (x: number, y: number) => round((x * a.joins + y * b.joins) / joins, 3);
  return {
    joins,
    nodeCpuMs: mean(a.nodeCpuMs, b.nodeCpuMs),
    redisCommands: mean(a.redisCommands, b.redisCommands),
    redisCpuMs: mean(a.redisCpuMs, b.redisCpuMs),
  };
}

/** Clients joining and leaving as fast as they can for `seconds`; completed joins/s. */
async function throughput(
  urls: string[],
  concurrency: number,
  seconds: number,
  tag: string,
): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      let i = 0;
      while (performance.now() < deadline) {
        const url = urls[(worker + i) % urls.length] as string;
        await joinOnce(url, `${tag}-${(worker * 7 + i) % 16}`, `t${worker}`);
        done += 1;
        i += 1;
      }
    }),
  );
  return round(done / seconds, 1);
}

export async function measureCluster(options: {
  joins: number;
  concurrency: number;
  seconds: number;
  log: (line: string) => void;
}): Promise<ClusterResult> {
  const { joins, concurrency, seconds, log } = options;
  let redisServer: TestRedis | undefined;
  let redis: Redis | undefined;
  const nodes: Node[] = [];
  let ownMs: number[] = [];
  let otherMs: number[] = [];
  let own: PerJoin | undefined;
  let other: PerJoin | undefined;
  let newRoom: PerJoin | undefined;
  let clusterRate = 0;
  try {
    redisServer = await startRedis({ password: 'bench-password' });
    redis = new Redis(redisServer.url);
    for (const id of ['n0', 'n1', 'n2']) {
      nodes.push(await startNode({ REDIS_URL: redisServer.url, NODE_ID: id }, id));
    }
    await waitFor('three nodes registered', async () => (await redis?.scard('gt:nodes')) === 3);
    // A host keeps the room open; which node has it is the cluster's choice.
    const host = await SignalingClient.connect((nodes[0] as Node).url);
    await host.call('join', { roomId: 'bench-room', nickname: 'host', rtpCapabilities: caps });
    const owner = JSON.parse((await redis.get('gt:room:bench-room')) ?? '{}').node as string;
    const ownUrl = (nodes.find((n) => n.id === owner) as Node).url;
    const otherUrls = nodes.filter((n) => n.id !== owner).map((n) => n.url);
    const through = (url: string | ((i: number) => string)) => (i: number) => ({
      url: typeof url === 'string' ? url : url(i),
      roomId: 'bench-room',
    });
    const otherUrl = (i: number) => otherUrls[i % otherUrls.length] as string;
    await batch(nodes, redis, 4, through(ownUrl)); // warm-up
    await batch(nodes, redis, 4, through(otherUrl));
    for (let round = 0; round < 2; round++) {
      const a = await batch(nodes, redis, joins, through(ownUrl));
      const b = await batch(nodes, redis, joins, through(otherUrl));
      ownMs = ownMs.concat(a.ms);
      otherMs = otherMs.concat(b.ms);
      own = own ? add(own, a.perJoin) : a.perJoin;
      other = other ? add(other, b.perJoin) : b.perJoin;
    }
    const fresh = await batch(nodes, redis, joins, (i) => ({
      url: (nodes[i % nodes.length] as Node).url,
      roomId: `bench-new-${i}`,
    }));
    newRoom = fresh.perJoin;
    log(
      `  cluster join p50: own node ${summarize(ownMs).p50} ms, other node ${summarize(otherMs).p50} ms; ` +
        `Redis commands/join ${own?.redisCommands} vs ${other?.redisCommands} (new room ${newRoom.redisCommands})`,
    );
    host.close();
    clusterRate = await throughput(
      nodes.map((n) => n.url),
      concurrency,
      seconds,
      'bench-rate',
    );
    log(`  cluster of 3: ${clusterRate} joins/s at ${concurrency} clients`);
  } finally {
    for (const node of nodes) await stopNode(node);
    redis?.disconnect();
    await redisServer?.close();
  }
  const single = await startNode({}, 'single');
  let singleJoin: PerJoin;
  let singleRate: number;
  try {
    const host = await SignalingClient.connect(single.url);
    await host.call('join', { roomId: 'bench-room', nickname: 'host', rtpCapabilities: caps });
    await batch([single], undefined, 4, () => ({ url: single.url, roomId: 'bench-room' }));
    singleJoin = (
      await batch([single], undefined, joins * 2, () => ({ url: single.url, roomId: 'bench-room' }))
    ).perJoin;
    host.close();
    singleRate = await throughput([single.url], concurrency, seconds, 'bench-rate');
    log(`  single node: ${singleRate} joins/s at ${concurrency} clients`);
  } finally {
    await stopNode(single);
  }
  const ownSummary = summarize(ownMs, 1);
  const otherSummary = summarize(otherMs, 1);
  return {
    nodes: 3,
    joinMs: {
      ownNode: ownSummary,
      otherNode: otherSummary,
      extraMsP50: round(otherSummary.p50 - ownSummary.p50, 1),
      extraMsP95: round(otherSummary.p95 - ownSummary.p95, 1),
    },
    perJoin: {
      singleNode: singleJoin,
      clusterOwnNode: own as PerJoin,
      clusterOtherNode: other as PerJoin,
      clusterNewRoom: newRoom as PerJoin,
    },
    joinsPerSecond: {
      singleNode: singleRate,
      cluster: clusterRate,
      ratio: round(clusterRate / singleRate, 2),
      concurrency,
      seconds,
    },
    note: 'All on one 2-core machine: the 3 nodes, their workers, Redis and the clients share two cores, so joins/s with 3 nodes shows the cluster overhead, not added capacity; on separate machines each node brings its own cores. Node CPU is summed over all nodes (the edge relays, the owner does the work).',
  };
}
