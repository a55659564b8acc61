import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { CHROMIUM_PATH, launchPerson, type Person } from './browser.ts';
import { type ClusterHost, httpGet, run } from './clusterNetwork.ts';
import { CLUSTER_ADMIN_KEY, type ClusterNode } from './clusterNodes.ts';
import type { TestRedis } from './redis.ts';
import { waitFor } from './wait.ts';
import { writeSineWav } from './wav.ts';

/**
 * Helpers for browsers in a cluster network (clusterNetwork.ts): Chromium inside a
 * client host, the relay traffic between nodes as Redis carries it, each node's view.
 */

/**
 * One person's Chromium inside `host`'s namespace. The pages are plain HTTP between
 * namespaces (the LB and the nodes), which is no secure context, so the microphone would
 * be refused: Chromium is told to treat exactly these origins as secure.
 */
export async function launchClusterPerson(options: {
  host: ClusterHost;
  name: string;
  toneHz: number;
  dir: string;
  secureOrigins: readonly string[];
}): Promise<Person> {
  const { host, name, toneHz, dir } = options;
  const fakeMicWav = await writeSineWav(join(dir, `${name}-${toneHz}hz.wav`), toneHz);
  return launchPerson({
    name,
    toneHz,
    fakeMicWav,
    executablePath: host.wrapper(dir, CHROMIUM_PATH),
    extraArgs: [`--unsafely-treat-insecure-origin-as-secure=${options.secureOrigins.join(',')}`],
  });
}

export type RemoteCandidate = {
  connection: number;
  address: string;
  port: number;
  protocol: string;
};

/** The far end (the server's side) of each open RTCPeerConnection's selected candidate pair. */
export async function selectedRemoteCandidates(page: Page): Promise<RemoteCandidate[]> {
  return page.evaluate(async () => {
    type Stats = { values(): Iterable<Record<string, unknown>> };
    type Connection = { connectionState: string; getStats(): Promise<Stats> };
    const connections = (globalThis as unknown as { __gtConnections?: Connection[] })
      .__gtConnections;
    const out: { connection: number; address: string; port: number; protocol: string }[] = [];
    for (const [index, pc] of (connections ?? []).entries()) {
      if (pc.connectionState === 'closed') continue;
      const report = [...(await pc.getStats()).values()];
      const byId = new Map(report.map((s) => [String(s.id), s]));
      for (const s of report) {
        if (s.type !== 'transport') continue;
        const pair = byId.get(String(s.selectedCandidatePairId));
        const remote = pair && byId.get(String(pair.remoteCandidateId));
        if (!remote) continue;
        out.push({
          connection: index,
          address: String(remote.address ?? remote.ip),
          port: Number(remote.port),
          protocol: String(remote.protocol),
        });
      }
    }
    return out;
  });
}

/** One message between nodes, as published on a node's relay channel (gt:relay:<node>). */
export type RelayMessage = { at: number; to: string; message: Record<string, unknown> };

export type RelayTap = {
  messages: RelayMessage[];
  /** The nodes that relayed a join with this nickname, and the node they relayed it to. */
  joinsOf(nickname: string): { from: string; to: string; at: number }[];
  close(): Promise<void>;
};

/**
 * Watches every relay channel with `redis-cli PSUBSCRIBE` on the Redis host: which node
 * relays whose requests to which. (It ends with Redis: start another after a restart.)
 */
export async function tapRelay(redisHost: ClusterHost, redis: TestRedis, password: string) {
  const child: ChildProcess = redisHost.spawn(
    'redis-cli',
    [
      ...['-h', redis.address, '-p', `${redis.port}`, '-a', password, '--no-auth-warning'],
      ...['psubscribe', 'gt:relay:*'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const messages: RelayMessage[] = [];
  let buffer = '';
  // Without a terminal redis-cli prints each element of a reply on a line of its own:
  // pmessage, the pattern, the channel, the message.
  let pending: string[] | undefined;
  let subscribed = false;
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'psubscribe') subscribed = true;
      if (pending) {
        pending.push(line);
        if (pending.length === 3) {
          const [, channel = '', text = ''] = pending;
          pending = undefined;
          try {
            messages.push({
              at: Date.now(),
              to: channel.replace(/^gt:relay:/, ''),
              message: JSON.parse(text) as Record<string, unknown>,
            });
          } catch {
            // Not one of ours.
          }
        }
      } else if (line === 'pmessage') {
        pending = [];
      }
    }
  });
  await waitFor('the relay tap to subscribe', () => {
    if (child.exitCode !== null) throw new Error('redis-cli exited');
    return subscribed;
  });
  const tap: RelayTap = {
    messages,
    joinsOf(nickname) {
      return messages.flatMap(({ at, to, message }) => {
        const payload = message.payload as { nickname?: string } | undefined;
        return message.t === 'req' && message.name === 'join' && payload?.nickname === nickname
          ? [{ from: String(message.from), to, at }]
          : [];
      });
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    },
  };
  return tap;
}

/** `redis-cli` on the Redis host; its stdout, trimmed. */
export async function redisCli(
  redisHost: ClusterHost,
  redis: TestRedis,
  password: string,
  args: string[],
): Promise<string> {
  const r = await run(redisHost, 'redis-cli', [
    ...['-h', redis.address, '-p', `${redis.port}`, '-a', password, '--no-auth-warning'],
    ...args,
  ]);
  if (r.code !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The node a room is claimed by in Redis (gt:room:<id>), if any. */
export async function claimedBy(
  redisHost: ClusterHost,
  redis: TestRedis,
  password: string,
  roomId: string,
): Promise<string | undefined> {
  const raw = await redisCli(redisHost, redis, password, ['get', `gt:room:${roomId}`]);
  if (!raw) return undefined;
  return (JSON.parse(raw) as { node: string }).node;
}

export type NodeStats = {
  roomCount: number;
  peerCount: number;
  /**
   * One per room id, over every node that answered: `peers` counts everyone, `nodes` the
   * people on each node holding part of the room, `node` the one with most of them.
   */
  rooms: { id: string; peers: number; node?: string; nodes?: Record<string, number> }[];
};

/** A node's admin `action=stats` document, asked from `from` (the node's own host by default). */
export async function nodeStats(node: ClusterNode, from: ClusterHost = node.host as ClusterHost) {
  const url = `${node.url}/admin?action=stats&key=${encodeURIComponent(CLUSTER_ADMIN_KEY)}`;
  // A cluster view waits for the other nodes' answers (up to 2 s when one is missing).
  const { status, body } = await httpGet(from, url, { timeoutMs: 6_000 });
  if (status !== 200) throw new Error(`${node.nodeId} stats: HTTP ${status} ${body.slice(0, 200)}`);
  const stats = JSON.parse(body) as NodeStats;
  if (!Array.isArray(stats.rooms)) {
    throw new Error(`${node.nodeId} stats without rooms: ${body.slice(0, 300)}`);
  }
  return stats;
}

/**
 * The rooms a node has a part of, from its stats (which also list other nodes' rooms),
 * each with `peers` = the node's own part of it (a room spanning nodes has one on each).
 */
export async function ownRooms(node: ClusterNode): Promise<NodeStats['rooms']> {
  const { rooms } = await nodeStats(node);
  return rooms.flatMap((room) => {
    // An own key only: a node id may be spelled like an Object.prototype member.
    const own = room.nodes
      ? Object.hasOwn(room.nodes, node.nodeId)
        ? room.nodes[node.nodeId]
        : undefined
      : (room.node ?? node.nodeId) === node.nodeId
        ? room.peers
        : undefined;
    return own === undefined ? [] : [{ ...room, peers: own }];
  });
}

/** The last `count` lines of a node's server.log, one short line each, for a failure report. */
export function describeNodeLog(node: ClusterNode, count = 60): string {
  let lines: Record<string, unknown>[] = [];
  try {
    lines = node.logLines();
  } catch (error) {
    return `  (no server.log: ${(error as Error).message})`;
  }
  // Heartbeat failures repeat every second while Redis is away: kept out of the tail.
  const telling = lines.filter((line) => line.message !== 'cluster heartbeat failed');
  const out = telling.slice(-count).map((line) => {
    const { timestamp, level, message, ...rest } = line;
    const time = typeof timestamp === 'string' ? timestamp.slice(11, 23) : '';
    return `  ${time} ${String(level)} ${String(message)} ${JSON.stringify(rest)}`;
  });
  const stderr = node.err().trim();
  return `${out.join('\n')}${stderr ? `\n  stderr: ${stderr.slice(-2000)}` : ''}`;
}
