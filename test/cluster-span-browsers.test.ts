/**
 * A room larger than one node, with real parts only: three nodes (node src/main.ts) on
 * hosts (network namespaces) of their own, one redis-server, a Caddy load balancer, and
 * four Chromium people with tone microphones, each on a host of its own. Every node has
 * NODE_CONSUMER_BUDGET=2, so the room of four spreads: two people on the room's node,
 * one on each of the others, the producers piped between the hosts (SRTP).
 * - Everyone hears everyone (tones), and every page shows every other person speaking.
 * - The pipes are exactly one per producer per other node, as each node reports them.
 * - A mute on one node is seen and heard (silence) on the others.
 * - The room's own node (two people) is SIGKILLed: the two on the other nodes keep
 *   hearing each other without a gap over the pipe between their nodes; the lost two
 *   rejoin by themselves (the room is claimed again) and are heard again.
 * - When everyone has left, no node has a pipe or a consumer left.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ensureClientBuilt,
  type Person,
  readMediaWatch,
  startMediaWatch,
  waitFor,
  waitUntilHears,
  waitUntilStopsHearing,
} from './support/browser.ts';
import {
  describeNodeLog,
  launchClusterPerson,
  nodeStats,
  selectedRemoteCandidates,
} from './support/clusterBrowsers.ts';
import {
  type ClusterHost,
  type ClusterNetwork,
  createClusterNetwork,
} from './support/clusterNetwork.ts';
import { type ClusterNode, NODE_PORT, startNode } from './support/clusterNodes.ts';
import { closeCluster, clusterTestSkip } from './support/clusterPrerequisites.ts';
import { type LoadBalancer, startLoadBalancer } from './support/loadBalancer.ts';
import { startRedis, type TestRedis } from './support/redis.ts';

const REDIS_PASSWORD = 'span-test-redis-password';
const NODE_COUNT = 3;
const SPEAKERS = [
  { name: 'Ada', toneHz: 500 },
  { name: 'Bo', toneHz: 700 },
  { name: 'Cy', toneHz: 1100 },
  { name: 'Dee', toneHz: 1300 },
] as const;
const TONES = SPEAKERS.map((s) => s.toneHz);

const skip = clusterTestSkip(['redis-server', 'caddy']);

type Pipes = { transports: number; consumers: number; producers: number };
type SpanStats = { pipes?: Pipes; consumers?: number };

describe('a room spread over three nodes', { skip, timeout: 300_000 }, () => {
  let network: ClusterNetwork | undefined;
  let tmp = '';
  let redis: TestRedis | undefined;
  let lb: LoadBalancer | undefined;
  const nodes: ClusterNode[] = [];
  const people: Person[] = [];
  const peerIds = new Map<string, string>();
  const roomId = `span-${Date.now().toString(36)}`;

  const person = (name: string) => people.find((p) => p.name === name) as Person;
  /** Those in the room now (joined at least once). */
  const present = () => people.filter((p) => peerIds.has(p.name));
  const speakersFor = (listener: Person) =>
    present()
      .filter((p) => p !== listener)
      .map((p) => ({ name: p.name, toneHz: p.toneHz, peerId: peerIds.get(p.name) }));
  const live = () => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);

  async function selfId(p: Person): Promise<string | null> {
    const self = p.page.getByRole('list', { name: 'Participants' }).getByRole('listitem').first();
    return self.getAttribute('data-peer-id', { timeout: 2_000 }).catch(() => null);
  }

  async function joined(p: Person): Promise<string> {
    const id = await waitFor(
      `${p.name} to be in the room`,
      async () => {
        const state = await p.page
          .locator('.room')
          .getAttribute('data-state', { timeout: 1_000 })
          .catch(() => null);
        return (state === 'joined' && (await selfId(p))) || undefined;
      },
      { timeoutMs: 30_000 },
    );
    peerIds.set(p.name, id);
    return id;
  }

  /** The node each present person's media goes to, from their pages' selected candidates. */
  async function mediaNodes(): Promise<Map<string, ClusterNode>> {
    const out = new Map<string, ClusterNode>();
    for (const p of people) {
      if (!peerIds.has(p.name)) continue;
      const remotes = await waitFor(`${p.name}'s transports to be connected`, async () => {
        const r = await selectedRemoteCandidates(p.page);
        return r.length === 2 && r;
      });
      const addresses = new Set(remotes.map((r) => r.address));
      assert.equal(addresses.size, 1, `${p.name}'s two transports go to one node`);
      const node = nodes.find((n) => addresses.has(n.host.address));
      assert.ok(node, `${p.name}'s media goes to a node (${[...addresses].join()})`);
      out.set(p.name, node);
    }
    return out;
  }

  async function everyoneHearsEveryone(timeoutMs: number): Promise<void> {
    for (const p of present()) await waitUntilHears(p, speakersFor(p), TONES, { timeoutMs });
  }

  function printDiagnostics(): void {
    for (const node of nodes) {
      console.log(`# --- ${node.nodeId} server.log tail:\n${describeNodeLog(node, 40)}`);
    }
  }

  async function diagnosed(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      printDiagnostics();
      throw error;
    }
  }

  async function spanStats(node: ClusterNode): Promise<Required<SpanStats>> {
    const stats = (await nodeStats(node)) as unknown as SpanStats;
    assert.ok(stats.pipes && typeof stats.consumers === 'number', `${node.nodeId} reports pipes`);
    return { pipes: stats.pipes, consumers: stats.consumers };
  }

  before(
    async () => {
      ensureClientBuilt();
      network = createClusterNetwork('sp', { nodes: NODE_COUNT, clients: SPEAKERS.length });
      const n = network;
      tmp = await mkdtemp(join(tmpdir(), 'ghosttalk-span-'));
      redis = await startRedis({ host: n.redis, password: REDIS_PASSWORD });
      for (let i = 0; i < NODE_COUNT; i++) {
        nodes.push(
          startNode(n.nodes[i] as ClusterHost, {
            nodeId: `node${i}`,
            redisUrl: redis.url,
            env: {
              TRUSTED_PROXIES: n.lb.address,
              NODE_CONSUMER_BUDGET: '2',
              PIPE_PORTS: '40000-40099',
            },
          }),
        );
      }
      lb = await startLoadBalancer(
        n.lb,
        n.nodes.map((h) => `${h.address}:${NODE_PORT}`),
      );
      const origin = lb.url;
      const launched = await Promise.allSettled(
        SPEAKERS.map((spec, i) =>
          launchClusterPerson({
            host: n.clients[i] as ClusterHost,
            ...spec,
            dir: tmp,
            secureOrigins: [origin],
          }),
        ),
      );
      for (const result of launched) if (result.status === 'fulfilled') people.push(result.value);
      const failed = launched.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      await Promise.all(nodes.map((node) => node.ready()));
    },
    { timeout: 120_000 },
  );

  after(
    async () => {
      await closeCluster({ people, nodes, lb, redis, network, tmp });
    },
    { timeout: 60_000 },
  );

  test('the room grows onto a second and a third node; everyone hears and sees everyone speak', async (t) => {
    await diagnosed(async () => {
      for (const p of people) {
        await p.page.goto(`${lb?.url}/r/${roomId}`);
        await p.page.getByLabel('Nickname').fill(p.name);
        await p.page.getByRole('button', { name: 'Join', exact: true }).click();
        await joined(p);
        // The next placement counts the consumers this one made: wait until they exist.
        await everyoneHearsEveryone(20_000);
      }
      const where = await mediaNodes();
      const [ada, bo, cy, dee] = ['Ada', 'Bo', 'Cy', 'Dee'].map((name) => where.get(name));
      const layout = [...where].map(([name, node]) => `${name}@${node.nodeId}`).join(' ');
      assert.equal(ada, bo, `the first two share the room's node: ${layout}`);
      assert.notEqual(cy, ada, `the third is on a second node: ${layout}`);
      assert.ok(dee !== ada && dee !== cy, `the fourth is on the third node: ${layout}`);
      // Speaking indicators come from each node's own detection, piped producers included.
      for (const listener of people) {
        for (const s of speakersFor(listener)) {
          const row = listener.page.locator(`li[data-peer-id="${s.peerId}"]`);
          await waitFor(`${listener.name} to see ${s.name} speaking`, async () => {
            return (await row.getAttribute('data-speaking')) === 'true';
          });
        }
      }
      t.diagnostic(`room ${roomId}: ${layout}`);
    });
  });

  test('each node pipes each of its producers once to each other node', async () => {
    await diagnosed(async () => {
      const where = await mediaNodes();
      for (const node of nodes) {
        const here = [...where.values()].filter((n) => n === node).length;
        const { pipes, consumers } = await spanStats(node);
        assert.deepEqual(
          pipes,
          { transports: 2, consumers: here * 2, producers: people.length - here },
          `${node.nodeId} with ${here} of the ${people.length}`,
        );
        assert.equal(consumers, here * (people.length - 1) + here * 2, `${node.nodeId} consumers`);
      }
    });
  });

  test('a mute on one node silences that person everywhere, and is shown there', async () => {
    await diagnosed(async () => {
      const dee = person('Dee');
      const deeId = peerIds.get('Dee');
      const mute = dee.page.getByRole('button', { name: 'Mute' });
      await mute.click();
      for (const listener of people.filter((p) => p !== dee)) {
        const row = listener.page.locator(`li[data-peer-id="${deeId}"]`);
        await row.getByText('muted', { exact: true }).waitFor({ state: 'visible' });
        const other = people.find((p) => p !== dee && p !== listener) as Person;
        const heard = { name: other.name, toneHz: other.toneHz, peerId: peerIds.get(other.name) };
        await waitUntilStopsHearing(listener, dee, heard, TONES);
      }
      await mute.click();
      await everyoneHearsEveryone(10_000);
    });
  });

  test('a node holding part of the room dies: the others hear on, the lost ones come back', async (t) => {
    await diagnosed(async () => {
      const where = await mediaNodes();
      // The room's own node (Ada's and Bo's): its claim must move, and the pipe between
      // the two other nodes must not need it.
      const victim = where.get('Ada') as ClusterNode;
      const lost = people.filter((p) => where.get(p.name) === victim);
      const stay = people.filter((p) => where.get(p.name) !== victim);
      assert.ok(stay.length >= 2, 'two people on other nodes');
      for (const p of stay) await startMediaWatch(p.page);
      const killedAt = Date.now();
      victim.kill('SIGKILL');
      await victim.exited();
      // Their pages find out and join again by themselves (new places, on live nodes).
      for (const p of lost) {
        const oldId = peerIds.get(p.name);
        const newId = await waitFor(
          `${p.name} to be back in the room with a new place`,
          async () => {
            const id = await selfId(p);
            return id && id !== oldId ? id : undefined;
          },
          { timeoutMs: 45_000, intervalMs: 250 },
        );
        peerIds.set(p.name, newId);
      }
      await everyoneHearsEveryone(30_000);
      const backMs = Date.now() - killedAt;
      const gaps: string[] = [];
      for (const p of stay) {
        const watch = await readMediaWatch(p.page);
        for (const s of stay.filter((o) => o !== p)) {
          const stream = watch.streams.find((w) => w.peerId === peerIds.get(s.name) && !w.isNew);
          if (!stream) gaps.push(`${p.name} has no stream of ${s.name}`);
          else if (stream.stalledAt !== undefined) {
            gaps.push(`${p.name} lost ${s.name} at +${stream.stalledAt - killedAt} ms`);
          }
        }
      }
      assert.deepEqual(gaps, [], 'the people on the other nodes heard each other throughout');
      const now = await mediaNodes();
      for (const p of lost) assert.notEqual(now.get(p.name), victim, `${p.name} is on a live node`);
      const names = lost.map((p) => p.name).join(' and ');
      t.diagnostic(
        `${victim.nodeId} (the room's node) killed: ${names} heard again after ${backMs} ms`,
      );
      console.log(`# [span] ${victim.nodeId} killed; ${names} heard again after ${backMs} ms`);
    });
  });

  test('when everyone has left, no node has a pipe or a consumer left', async () => {
    await diagnosed(async () => {
      for (const p of people) await p.page.getByRole('button', { name: 'Hang up' }).click();
      let seen = '';
      await waitFor(
        'every live node to be empty of pipes and consumers',
        async () => {
          const all = await Promise.all(live().map(async (n) => [n.nodeId, await spanStats(n)]));
          seen = JSON.stringify(all);
          return all.every(([, s]) => {
            const { pipes, consumers } = s as Required<SpanStats>;
            return consumers === 0 && pipes.transports + pipes.consumers + pipes.producers === 0;
          });
        },
        { timeoutMs: 20_000, intervalMs: 500 },
      ).catch((error: Error) => {
        throw new Error(`${error.message}: ${seen}`);
      });
    });
  });
});
