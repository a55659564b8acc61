/**
 * A GhostTalk cluster with real parts only: three nodes (node src/main.ts), one
 * redis-server, a Caddy load balancer in front, and Chromium people with tone
 * microphones, each on a host (network namespace) of its own on one bridge. Pages are
 * plain HTTP between namespaces: Chromium is told to treat exactly these origins as
 * secure (the microphone needs a secure context).
 * - Three people enter one room through different nodes (two of them on the pages of the
 *   nodes that do not have the room, so their signaling is relayed) and hear each other;
 *   the room lives on exactly one node, and everyone's media goes straight to it.
 * - The room's node is SIGKILLed: everyone is back by themselves, the room on another node.
 * - The room's node is cut off the network (it vanishes without a word): the same.
 * - The room's node is drained (SIGTERM): it exits 0, and everyone is back by themselves
 *   on another node.
 * - Redis is stopped for 10 s mid-call: audio flows the whole time, a newcomer's join is
 *   refused with a retryable error on the page, and once Redis is back everyone still
 *   hears everyone and a join works again.
 * Before each node loss, one person's page is on another node (relayed: told to rejoin
 * by that node) and one person's signaling is on the room's node through the LB (it must
 * reconnect through the LB). Which node each one's signaling goes through is read from
 * the relay traffic in Redis (PSUBSCRIBE gt:relay:*). Each prints its recovery times.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ensureClientBuilt,
  heardLevel,
  type MediaWatch,
  PEOPLE,
  type Person,
  readMediaWatch,
  remoteSpectra,
  startMediaWatch,
  TONES,
  waitFor,
  waitUntilHears,
} from './support/browser.ts';
import {
  claimedBy,
  describeNodeLog,
  launchClusterPerson,
  ownRooms,
  type RelayTap,
  selectedRemoteCandidates,
  tapRelay,
} from './support/clusterBrowsers.ts';
import {
  type ClusterHost,
  type ClusterNetwork,
  createClusterNetwork,
  httpGet,
} from './support/clusterNetwork.ts';
import { type ClusterNode, NODE_PORT, startNode } from './support/clusterNodes.ts';
import { closeCluster, clusterTestSkip } from './support/clusterPrerequisites.ts';
import { type LoadBalancer, startLoadBalancer } from './support/loadBalancer.ts';
import { startRedis, type TestRedis } from './support/redis.ts';

const REDIS_PASSWORD = 'cluster-test-redis-password';
const NODE_COUNT = 3;
const OUTAGE_MS = 10_000;
/** Generous: a recovery slower than this is a failure, not something to wait out. */
const RECOVERY_BOUND_MS = 45_000;

const skip = clusterTestSkip(['redis-server', 'redis-cli', 'caddy']);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** When `speakerId`'s audio reached this page again (a stream new or stalled since the watch began). */
function flowingAt(watch: MediaWatch, speakerId: string): number | undefined {
  return watch.streams.find((s) => s.peerId === speakerId && s.flowingAt !== undefined)?.flowingAt;
}

describe('a cluster of three nodes behind a load balancer', { skip, timeout: 400_000 }, () => {
  let network: ClusterNetwork | undefined;
  let tmp = '';
  let redis: TestRedis | undefined;
  let lb: LoadBalancer | undefined;
  let tap: RelayTap | undefined;
  /** The node process running on each node host now (undefined: none). */
  const nodes: (ClusterNode | undefined)[] = [];
  /** Every node process started, for the logs and the teardown. */
  const started: ClusterNode[] = [];
  const people: Person[] = [];
  let newcomer: Person | undefined;
  const peerIds = new Map<string, string>(); // name -> peer id
  /** When each person last set out to join (their current place's relayed joins come after). */
  const joinedSince = new Map<string, number>();
  /** Each page's console and navigations, with times, for a failure report. */
  const pageLogs = new Map<string, string[]>();
  /** Node processes whose host is cut off the bridge right now. */
  const isolated = new Set<ClusterNode>();
  const roomId = `cluster-${Date.now().toString(36)}`;

  const net = () => {
    assert.ok(network, 'network made');
    return network;
  };
  const theRedis = () => {
    assert.ok(redis, 'redis started');
    return redis;
  };
  const lbUrl = () => {
    assert.ok(lb, 'LB started');
    return lb.url;
  };
  const person = (name: string): Person => {
    const found = people.find((p) => p.name === name);
    assert.ok(found, `no person ${name}`);
    return found;
  };
  const speakers = (listener: Person) =>
    people
      .filter((p) => p !== listener)
      .map((p) => ({ name: p.name, toneHz: p.toneHz, peerId: peerIds.get(p.name) }));
  const nodeIndex = (nodeId: string) => Number(/^node(\d+)$/.exec(nodeId)?.[1] ?? Number.NaN);
  const liveNode = (nodeId: string): ClusterNode => {
    const node = nodes[nodeIndex(nodeId)];
    assert.ok(node, `${nodeId} runs`);
    return node;
  };

  function bootNode(i: number): ClusterNode {
    const n = net();
    const node = startNode(n.nodes[i] as ClusterHost, {
      nodeId: `node${i}`,
      redisUrl: theRedis().url,
      env: { TRUSTED_PROXIES: n.lb.address },
    });
    nodes[i] = node;
    started.push(node);
    return node;
  }

  /** On failure: what each node logged, what Caddy and Redis said, what went over the relay. */
  function printDiagnostics(): void {
    for (const node of started) {
      console.log(
        `# --- ${node.nodeId} (pid ${node.child.pid}, exit ${node.child.exitCode ?? node.child.signalCode}) server.log tail:\n${describeNodeLog(node)}`,
      );
    }
    for (const [name, lines] of pageLogs) {
      console.log(`# --- ${name}'s page (last 25):\n  ${lines.slice(-25).join('\n  ')}`);
    }
    if (lb) console.log(`# --- Caddy log tail:\n${lb.logs().slice(-3000)}`);
    if (redis) console.log(`# --- redis log tail:\n${redis.logs().slice(-1500)}`);
    if (tap) {
      const lines = tap.messages.slice(-40).map(({ at, to, message }) => {
        const { t, from, name, event } = message as Record<string, unknown>;
        return `  ${new Date(at).toISOString().slice(11, 23)} → ${to}: ${String(t)} ${String(from ?? '')} ${String(name ?? event ?? '')}`;
      });
      console.log(`# --- relay messages (last 40):\n${lines.join('\n')}`);
    }
  }

  /** Runs a test body; on failure prints the diagnostics first. */
  async function diagnosed(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      printDiagnostics();
      throw error;
    }
  }

  async function selfId(page: Person['page']): Promise<string | null> {
    const self = page.getByRole('list', { name: 'Participants' }).getByRole('listitem').first();
    return self.getAttribute('data-peer-id', { timeout: 2_000 }).catch(() => null);
  }

  async function roomState(page: Person['page']): Promise<string | null> {
    return page
      .locator('.room')
      .getAttribute('data-state', { timeout: 1_000 })
      .catch(() => null);
  }

  /** Opens the room at `origin` (the LB or one node) and joins; returns the peer id. */
  async function enter(p: Person, origin: string, room = roomId): Promise<string> {
    if (room === roomId) joinedSince.set(p.name, Date.now());
    await p.page.goto(`${origin}/r/${room}`);
    await p.page.getByLabel('Nickname').fill(p.name);
    await p.page.getByRole('button', { name: 'Join', exact: true }).click();
    const id = await waitFor(
      `${p.name} to be in room ${room} (through ${origin})`,
      async () => ((await roomState(p.page)) === 'joined' && (await selfId(p.page))) || undefined,
      { timeoutMs: 20_000 },
    );
    if (room === roomId) peerIds.set(p.name, id);
    return id;
  }

  /** Everyone's page lists all three, by their current peer ids, in a joined room. */
  async function everyoneListsEveryone(timeoutMs: number): Promise<void> {
    for (const p of people) {
      let seen = '';
      await waitFor(
        `${p.name} to list everyone`,
        async () => {
          const state = await roomState(p.page);
          const rows = p.page.getByRole('list', { name: 'Participants' }).getByRole('listitem');
          const ids = await rows.evaluateAll((lis) =>
            lis.map((li) => (li as unknown as { dataset: { peerId?: string } }).dataset.peerId),
          );
          seen = `state ${state}, rows ${ids.map((id) => id?.slice(0, 8)).join(' ')}`;
          return (
            state === 'joined' &&
            ids.length === people.length &&
            [...peerIds.values()].every((id) => ids.includes(id))
          );
        },
        { timeoutMs },
      ).catch((error: Error) => {
        const want = [...peerIds].map(([name, id]) => `${name} ${id.slice(0, 8)}`).join(', ');
        throw new Error(`${error.message} (${seen}; expected ${want})`);
      });
    }
  }

  async function everyoneHearsEveryone(timeoutMs = 10_000): Promise<void> {
    for (const p of people) await waitUntilHears(p, speakers(p), TONES, { timeoutMs });
  }

  /** The live nodes that have the room (any node down is left out). */
  async function nodesWithRoom(): Promise<{ nodeId: string; peers: number }[]> {
    const out: { nodeId: string; peers: number }[] = [];
    for (const node of nodes) {
      if (!node || node.child.exitCode !== null || node.child.signalCode !== null) continue; // down
      if (isolated.has(node)) continue; // cut off: nobody can reach it
      const room = (await ownRooms(node)).find((r) => r.id === roomId);
      if (room) out.push({ nodeId: node.nodeId, peers: room.peers });
    }
    return out;
  }

  /**
   * The room is claimed by one node in Redis, that node (alone) has it with everyone in it,
   * and every page's media goes straight to that node's address. Returns the node.
   */
  async function roomIsOnOneNode(): Promise<ClusterNode> {
    const n = net();
    let last = '';
    const ownerId = await waitFor(
      'the room to be on exactly one node, with everyone',
      async () => {
        const owner = await claimedBy(n.redis, theRedis(), REDIS_PASSWORD, roomId);
        const having = await nodesWithRoom();
        last = `claimed by ${owner}; on ${having.map((h) => `${h.nodeId} (${h.peers} peers)`).join(', ') || 'no node'}`;
        return (
          owner !== undefined &&
          having.length === 1 &&
          having[0]?.nodeId === owner &&
          having[0].peers === people.length &&
          owner
        );
      },
      { timeoutMs: 10_000, intervalMs: 300 },
    ).catch((error: Error) => {
      throw new Error(`${error.message} (${last})`);
    });
    const owner = liveNode(ownerId);
    for (const p of people) {
      const remotes = await waitFor(`${p.name}'s two transports to be connected`, async () => {
        const r = await selectedRemoteCandidates(p.page);
        return r.length === 2 && r;
      });
      assert.deepEqual(
        remotes.map((r) => `${r.address}:${r.port}/${r.protocol}`),
        [`${owner.host.address}:50000/udp`, `${owner.host.address}:50000/udp`],
        `${p.name}'s media goes straight to the room's node ${ownerId}`,
      );
    }
    return owner;
  }

  before(
    async () => {
      ensureClientBuilt();
      network = createClusterNetwork('cl', { nodes: NODE_COUNT, clients: PEOPLE.length + 1 });
      tmp = await mkdtemp(join(tmpdir(), 'ghosttalk-cluster-'));
      redis = await startRedis({ host: network.redis, password: REDIS_PASSWORD });
      for (let i = 0; i < NODE_COUNT; i++) bootNode(i);
      const n = network;
      lb = await startLoadBalancer(
        n.lb,
        n.nodes.map((h) => `${h.address}:${NODE_PORT}`),
      );
      const origins = [lb.url, ...n.nodes.map((h) => `http://${h.address}:${NODE_PORT}`)];
      const launching = Promise.allSettled(
        [...PEOPLE, { name: 'Dee', toneHz: 1300 }].map((spec, i) =>
          launchClusterPerson({
            host: n.clients[i] as ClusterHost,
            ...spec,
            dir: tmp,
            secureOrigins: origins,
          }),
        ),
      );
      await Promise.all(nodes.map((node) => node?.ready()));
      const launched = await launching;
      launched.forEach((result, i) => {
        if (result.status !== 'fulfilled') return;
        if (i < PEOPLE.length) people.push(result.value);
        else newcomer = result.value;
      });
      const failed = launched.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      for (const p of [...people, ...(newcomer ? [newcomer] : [])]) {
        const lines: string[] = [];
        pageLogs.set(p.name, lines);
        const stamp = () => new Date().toISOString().slice(11, 23);
        p.page.on('console', (m) =>
          lines.push(`${stamp()} ${m.type()}: ${m.text().slice(0, 300)}`),
        );
        p.page.on('framenavigated', (f) => {
          if (f === p.page.mainFrame()) lines.push(`${stamp()} navigated: ${f.url()}`);
        });
      }
      tap = await tapRelay(n.redis, redis, REDIS_PASSWORD);
    },
    { timeout: 120_000 },
  );

  after(
    async () => {
      await tap?.close().catch(() => undefined);
      const everyone = [...people, ...(newcomer ? [newcomer] : [])];
      await closeCluster({ people: everyone, nodes: started, lb, redis, network, tmp });
    },
    { timeout: 60_000 },
  );

  test('three people enter one room through different nodes and hear each other; the media goes straight to the room’s node', async (t) => {
    await diagnosed(async () => {
      const n = net();
      const [ada, bo, cy] = [person('Ada'), person('Bo'), person('Cy')];
      // Cy first, through the LB: the room is claimed on some node.
      await enter(cy, lbUrl());
      const owner = await waitFor('the room’s claim', () =>
        claimedBy(n.redis, theRedis(), REDIS_PASSWORD, roomId),
      );
      // Ada and Bo straight at the two other nodes: their signaling is relayed from there.
      const others = [1, 2].map((k) => (nodeIndex(owner) + k) % NODE_COUNT);
      const viaAda = liveNode(`node${others[0]}`);
      const viaBo = liveNode(`node${others[1]}`);
      await enter(ada, viaAda.url);
      await enter(bo, viaBo.url);
      await everyoneListsEveryone(15_000);
      await everyoneHearsEveryone(15_000);
      const roomNode = await roomIsOnOneNode();
      assert.equal(roomNode.nodeId, owner);

      // Which node each one's signaling went through: a join relayed from node A to the
      // room's node is published on the room's node's relay channel; none for a local one.
      const edgeOf = (name: string) => {
        const joins = assertDefined(tap).joinsOf(name);
        return joins.length ? joins.map((j) => `${j.from}→${j.to}`).join(',') : `${owner} (local)`;
      };
      const edges = { Ada: edgeOf('Ada'), Bo: edgeOf('Bo'), Cy: edgeOf('Cy') };
      assert.equal(edges.Ada, `${viaAda.nodeId}→${owner}`, 'Ada’s join was relayed from her node');
      assert.equal(edges.Bo, `${viaBo.nodeId}→${owner}`, 'Bo’s join was relayed from his node');
      const signalingNodes = new Set(Object.values(edges).map((e) => e.split(/[→ ]/)[0]));
      assert.ok(
        signalingNodes.size >= 2,
        `signaling through at least two nodes: ${JSON.stringify(edges)}`,
      );
      const summary = `room ${roomId} on ${owner} (${roomNode.host.address}); signaling: Ada via ${edges.Ada}, Bo via ${edges.Bo}, Cy (LB) via ${edges.Cy}; every transport's remote candidate is ${roomNode.host.address}:50000/udp`;
      console.log(`# [cluster] ${summary}`);
      t.diagnostic(summary);
    });
  });

  /** The node each person's signaling goes through now: where their last join was relayed from. */
  function edges(ownerId: string): Map<string, string> {
    return new Map(
      people.map((p) => {
        // Only the joins of the person's current place count (since `joinedSince`).
        const since = joinedSince.get(p.name) ?? 0;
        const last = assertDefined(tap)
          .joinsOf(p.name)
          .filter((j) => j.at >= since)
          .at(-1);
        return [p.name, last && last.to === ownerId ? last.from : ownerId];
      }),
    );
  }

  const originOf = (p: Person) => {
    try {
      return new URL(p.page.url()).origin;
    } catch {
      return '';
    }
  };

  /** What a page says when the call ended (the "left" view), if it does. */
  async function endedWith(p: Person): Promise<string | undefined> {
    const rejoin = p.page.getByRole('button', { name: 'Rejoin' });
    if ((await rejoin.count()) === 0) return undefined;
    const title = (await p.page.locator('h1').first().textContent({ timeout: 1_000 }))?.trim();
    const alert = (await p.page.getByRole('alert').allTextContents()).join(' ').trim();
    return `${title}: ${alert}`;
  }

  /** `p` is in the room and hears the others who are (for arranging people one at a time). */
  async function settled(p: Person): Promise<void> {
    const inRoom: Person[] = [];
    for (const other of people) {
      if (other !== p && (await roomState(other.page)) === 'joined') inRoom.push(other);
    }
    await waitFor(`${p.name} to list the ${inRoom.length} others in the room`, async () => {
      const rows = p.page.getByRole('list', { name: 'Participants' }).getByRole('listitem');
      return (await rows.count()) === inRoom.length + 1;
    });
    const others = inRoom.map((o) => ({
      name: o.name,
      toneHz: o.toneHz,
      peerId: peerIds.get(o.name),
    }));
    if (others.length) await waitUntilHears(p, others, TONES, { timeoutMs: 15_000 });
  }

  /**
   * Puts everyone in the room, one at a time (a join still resuming its consumers when
   * someone else leaves fails: see the report), those named in `relayed` with their page
   * opened on a node that is not the room's (their signaling relayed from there), the
   * others through the LB. Anyone already in place stays. Returns the room's node.
   */
  async function arrange(
    relayed: readonly string[],
    { onOwner }: { onOwner?: string } = {},
  ): Promise<ClusterNode> {
    const n = net();
    const byLb = people.filter((p) => !relayed.includes(p.name));
    const stays = async (p: Person) => {
      const id = (await roomState(p.page)) === 'joined' && (await selfId(p.page));
      if (id) peerIds.set(p.name, id);
      return Boolean(id);
    };
    for (const p of byLb) {
      if (originOf(p) === lbUrl() && (await stays(p))) continue;
      await enter(p, lbUrl());
      await settled(p);
    }
    const ownerId = await waitFor('the room’s claim', () =>
      claimedBy(n.redis, theRedis(), REDIS_PASSWORD, roomId),
    );
    const elsewhere = nodes.filter(
      (node): node is ClusterNode => !!node && node.nodeId !== ownerId,
    );
    for (const [k, name] of relayed.entries()) {
      const p = person(name);
      const at = elsewhere.find((node) => node.url === originOf(p));
      if (at && (await stays(p))) continue;
      const node = elsewhere[k % elsewhere.length];
      assert.ok(node, 'a node other than the room’s');
      await enter(p, node.url);
      await settled(p);
    }
    if (onOwner) {
      // Caddy deals requests round robin: extra requests through it move this person's
      // next page (and its socket.io connection) on to another node. How many a page load
      // makes depends on the browser's cache, so each attempt adds one more.
      const p = person(onOwner);
      for (let attempt = 0; edges(ownerId).get(onOwner) !== ownerId; attempt++) {
        if (attempt >= 20) {
          // Caddy can keep a just-restarted node out of its rotation for a while: the
          // node's own clients are then the relayed kind only, which is still tested.
          console.log(`# [cluster] ${onOwner}'s signaling could not be steered onto ${ownerId}`);
          break;
        }
        for (let k = 0; k <= attempt % 3; k++) await httpGet(n.lb, `${lbUrl()}/healthz`);
        await enter(p, lbUrl());
        await settled(p);
      }
    }
    await everyoneListsEveryone(15_000);
    await everyoneHearsEveryone(15_000);
    const owner = await roomIsOnOneNode();
    assert.equal(owner.nodeId, ownerId);
    return owner;
  }

  /**
   * After `since` (a node killed, cut off or drained): everyone is in the room again as a
   * new peer, lists everyone and receives audio from each other person. Returns, per
   * person, the time from `since` to the first packet of the last of the others' streams.
   * Fails as soon as every page is either back or has ended its call.
   */
  async function everyoneBack(
    since: number,
    oldIds: ReadonlyMap<string, string>,
    how: ReadonlyMap<string, string>,
    boundMs = RECOVERY_BOUND_MS,
  ): Promise<Map<string, number>> {
    const left = () => Math.max(1_000, boundMs - (Date.now() - since));
    for (const p of people) joinedSince.set(p.name, since);
    const outcome = new Map<string, { id?: string; ended?: string; at: number }>();
    await waitFor(
      'every page to be back in the room as a new peer (or to have ended its call)',
      async () => {
        for (const p of people) {
          if (outcome.has(p.name)) continue;
          const id = await selfId(p.page);
          if ((await roomState(p.page)) === 'joined' && id && id !== oldIds.get(p.name)) {
            outcome.set(p.name, { id, at: Date.now() });
            continue;
          }
          const ended = await endedWith(p);
          if (ended) outcome.set(p.name, { ended, at: Date.now() });
        }
        return outcome.size === people.length;
      },
      { timeoutMs: left(), intervalMs: 100 },
    ).catch((error: Error) => {
      const pending = people.filter((p) => !outcome.has(p.name)).map((p) => p.name);
      throw new Error(`${error.message}: still neither for ${pending.join(', ')}`);
    });
    for (const [name, o] of outcome) if (o.id) peerIds.set(name, o.id);
    const ended = [...outcome].filter(([, o]) => o.ended);
    if (ended.length) {
      const all = [...outcome]
        .map(([name, o]) =>
          o.ended
            ? `${name} ${how.get(name) ?? ''}: the call ended at +${o.at - since} ms with “${o.ended}”`
            : `${name} ${how.get(name) ?? ''}: back at +${o.at - since} ms`,
        )
        .join('; ');
      throw new Error(`not everyone came back by themselves: ${all}`);
    }
    await everyoneListsEveryone(left());
    lastRejoin = new Map([...outcome].map(([name, o]) => [name, o.at - since]));
    const back = new Map<string, number>();
    for (const p of people) {
      const watch = await waitFor(
        `${p.name} to receive audio from both others again`,
        async () => {
          const w = await readMediaWatch(p.page);
          return speakers(p).every((s) => s.peerId && flowingAt(w, s.peerId)) ? w : undefined;
        },
        { timeoutMs: left() },
      );
      const last = Math.max(...speakers(p).map((s) => flowingAt(watch, s.peerId as string) ?? 0));
      back.set(p.name, last - since);
    }
    await everyoneHearsEveryone();
    return back;
  }

  /** When each person was in the room again (ms after the event), from the last everyoneBack. */
  let lastRejoin = new Map<string, number>();

  function describeBack(
    back: ReadonlyMap<string, number>,
    how: ReadonlyMap<string, string>,
  ): string {
    const values = [...back.values()];
    return (
      `p50 ${Math.round(median(values))} ms, max ${Math.round(Math.max(...values))} ms (` +
      [...back]
        .map(([name, ms]) => {
          const rejoined = lastRejoin.get(name);
          const inRoom = rejoined === undefined ? '' : `, in the room again at ${rejoined} ms`;
          return `${name} ${Math.round(ms)} ms ${(how.get(name) ?? '').replace(/\)$/, `${inRoom})`)}`.trim();
        })
        .join(', ') +
      ')'
    );
  }

  /** How each person had to come back, from where their signaling was when `victim` went. */
  function howBack(victim: string): Map<string, string> {
    return new Map(
      [...edges(victim)].map(([name, edge]) => [
        name,
        edge === victim
          ? `(signaling on ${victim}, through the LB)`
          : `(signaling relayed from ${edge})`,
      ]),
    );
  }

  /** Starts node `i` again (same NODE_ID, fresh data dir) and waits until it answers. */
  async function restartNode(i: number): Promise<void> {
    await bootNode(i).ready();
  }

  test('the room’s node is SIGKILLed: everyone gets audio back by themselves, the room on another node', async (t) => {
    await diagnosed(async () => {
      const victim = await roomIsOnOneNode();
      const how = howBack(victim.nodeId);
      const oldIds = new Map(peerIds);
      await Promise.all(people.map((p) => startMediaWatch(p.page)));

      const killedAt = Date.now();
      victim.kill('SIGKILL');
      assert.equal(await victim.exited(), null, 'killed by the signal');
      nodes[nodeIndex(victim.nodeId)] = undefined;

      try {
        const back = await everyoneBack(killedAt, oldIds, how);
        const owner = await roomIsOnOneNode();
        assert.notEqual(owner.nodeId, victim.nodeId, 'the room moved');
        const summary = `node kill → audio back: ${describeBack(back, how)}; room ${victim.nodeId} → ${owner.nodeId}`;
        console.log(`# [cluster] ${summary}`);
        t.diagnostic(summary);
      } finally {
        // Back for the next tests (same NODE_ID, fresh data dir).
        await restartNode(nodeIndex(victim.nodeId));
      }
    });
  });

  test('the room’s node vanishes from the network: everyone gets audio back by themselves', async (t) => {
    await diagnosed(async () => {
      const n = net();
      // Ada on another node's page (relayed), Bo and Cy through the LB: nobody's page is
      // served by the node that goes, whose host is then cut off the bridge.
      const victim = await arrange(['Ada'], { onOwner: 'Bo' });
      const how = howBack(victim.nodeId);
      const oldIds = new Map(peerIds);
      await Promise.all(people.map((p) => startMediaWatch(p.page)));

      const cutAt = Date.now();
      n.isolate(victim.host as ClusterHost);
      isolated.add(victim);
      try {
        // A page whose signaling went down with the host notices only when socket.io's
        // pings stop (pingInterval + pingTimeout: 45 s by default), so the bound is wider.
        const back = await everyoneBack(cutAt, oldIds, how, 60_000);
        const owner = await roomIsOnOneNode();
        assert.notEqual(owner.nodeId, victim.nodeId, 'the room moved');
        const summary = `node cut off → audio back: ${describeBack(back, how)}; room ${victim.nodeId} → ${owner.nodeId}`;
        console.log(`# [cluster] ${summary}`);
        t.diagnostic(summary);
      } finally {
        // The cut-off process is of no more use: it goes, the host comes back, a fresh node.
        victim.kill('SIGKILL');
        await victim.exited();
        nodes[nodeIndex(victim.nodeId)] = undefined;
        n.reconnect(victim.host as ClusterHost);
        isolated.delete(victim);
        await restartNode(nodeIndex(victim.nodeId));
      }
    });
  });

  test('the room’s node is drained (SIGTERM): it exits 0 and everyone gets audio back on another node', async (t) => {
    await diagnosed(async () => {
      const victim = await arrange(['Ada'], { onOwner: 'Bo' });
      const how = howBack(victim.nodeId);
      const oldIds = new Map(peerIds);
      await Promise.all(people.map((p) => startMediaWatch(p.page)));

      const drainAt = Date.now();
      victim.kill('SIGTERM');
      const code = await victim.exited();
      const exitMs = Date.now() - drainAt;
      nodes[nodeIndex(victim.nodeId)] = undefined;
      try {
        const back = await everyoneBack(drainAt, oldIds, how);
        const owner = await roomIsOnOneNode();
        assert.notEqual(owner.nodeId, victim.nodeId, 'the room moved');
        const summary = `drain → audio back: ${describeBack(back, how)}; ${victim.nodeId} exited ${code} after ${exitMs} ms; room ${victim.nodeId} → ${owner.nodeId}`;
        console.log(`# [cluster] ${summary}`);
        t.diagnostic(summary);

        // The node went as a drain should: exit 0, and the drain itself handed the room
        // over (claim released, room reset), not a mediasoup worker gone first.
        const log = victim.logLines();
        const lost = log.find((line) => line.message === 'room lost a worker');
        const draining = log.find((line) => line.message === 'node draining');
        const problems = [
          ...(code === 0 ? [] : [`exit code ${code}; stderr: ${victim.err().slice(-700)}`]),
          ...(!lost && Number(draining?.rooms) >= 1
            ? []
            : [
                `the room was not handed over by the drain: ${JSON.stringify(lost)} then ${JSON.stringify(draining)}`,
              ]),
        ];
        assert.deepEqual(problems, [], 'a clean drain');
      } finally {
        await restartNode(nodeIndex(victim.nodeId));
      }
    });
  });

  /**
   * Waits until every page is in the room and lists the same three people (whatever their
   * peer ids are now); updates peerIds and returns who has a new one.
   */
  async function togetherAgain(timeoutMs: number, { stableMs = 3_500 } = {}): Promise<string[]> {
    let seen = '';
    // The same for `stableMs` (longer than the lease): a room that moves meanwhile resets
    // everyone a moment later, which a single look would miss.
    let stable: { key: string; since: number } | undefined;
    const ids = await waitFor(
      'everyone in the room together again',
      async () => {
        const current = new Map<string, string>();
        const lists: string[][] = [];
        for (const p of people) {
          const state = await roomState(p.page);
          const id = await selfId(p.page);
          const rows = p.page.getByRole('list', { name: 'Participants' }).getByRole('listitem');
          const listed = await rows
            .evaluateAll((lis) =>
              lis.map(
                (li) => (li as unknown as { dataset: { peerId?: string } }).dataset.peerId ?? '',
              ),
            )
            .catch(() => [] as string[]);
          seen = `${p.name}: ${state} ${id?.slice(0, 8)} lists ${listed.map((l) => l.slice(0, 8)).join(' ')}`;
          if (state !== 'joined' || !id) return undefined;
          current.set(p.name, id);
          lists.push(listed);
        }
        const all = [...current.values()];
        const together = lists.every(
          (l) => l.length === all.length && all.every((id) => l.includes(id)),
        );
        if (!together) return undefined;
        const key = all.join(' ');
        if (stable?.key !== key) stable = { key, since: Date.now() };
        return Date.now() - stable.since >= stableMs && current;
      },
      { timeoutMs, intervalMs: 250 },
    ).catch((error: Error) => {
      throw new Error(`${error.message} (last: ${seen})`);
    });
    const changed = people
      .filter((p) => ids.get(p.name) !== peerIds.get(p.name))
      .map((p) => p.name);
    for (const [name, id] of ids) peerIds.set(name, id);
    return changed;
  }

  test('Redis stops for 10 s mid-call: audio flows throughout, a new join gets a retryable error, all is well after', async (t) => {
    await diagnosed(async () => {
      const r = theRedis();
      const dee = assertDefined(newcomer);
      // Ada and Bo on the pages of the two other nodes (relayed: these are the clients
      // that must resync once Redis is back), Cy through the LB. No node goes here.
      const owner = await arrange(['Ada', 'Bo']);
      const relayed = [...edges(owner.nodeId)].filter(([, edge]) => edge !== owner.nodeId);
      const idsBefore = new Map(peerIds);
      await Promise.all(people.map((p) => startMediaWatch(p.page)));
      const newRoom = `${roomId}-new`;
      await dee.page.goto(`${lbUrl()}/r/${newRoom}`);
      await dee.page.getByLabel('Nickname').fill(dee.name);
      await tap?.close();

      const stoppedAt = Date.now();
      await r.stop();

      // A newcomer's first join, into a room nobody has claimed: it needs Redis.
      const clickedAt = Date.now();
      await dee.page.getByRole('button', { name: 'Join', exact: true }).click();
      const errorText = await waitFor(
        `${dee.name}'s page to say why the join failed`,
        async () => (await dee.page.locator('#nickname-error').textContent())?.trim() || undefined,
        { timeoutMs: 8_000, intervalMs: 50 },
      );
      const refusedMs = Date.now() - clickedAt;
      assert.match(errorText, /busy|restarting|try again/i, 'a retryable error, in words');
      const button = dee.page.getByRole('button', { name: 'Join', exact: true });
      assert.equal(await button.isEnabled(), true, 'the Join button is back: no endless spinner');

      // Everyone keeps hearing everyone while Redis is away.
      const misses: string[] = [];
      let rounds = 0;
      while (Date.now() < stoppedAt + OUTAGE_MS) {
        for (const p of people) {
          const spectra = await remoteSpectra(p.page, TONES);
          for (const s of speakers(p)) {
            if (heardLevel(spectra, s.peerId, s.toneHz) === undefined) {
              misses.push(`${p.name} missed ${s.name} at +${Date.now() - stoppedAt} ms`);
            }
          }
        }
        rounds += 1;
      }
      assert.equal(await r.ping(), false, 'Redis was away the whole time');
      await r.start();
      const restoredAt = Date.now();

      const gapsDuring: string[] = [];
      for (const p of people) {
        const watch = await readMediaWatch(p.page);
        for (const s of speakers(p)) {
          const stream = watch.streams.find((w) => !w.isNew && w.peerId === s.peerId);
          assert.ok(stream, `${p.name} received ${s.name} when Redis went`);
          if (stream.stalledAt !== undefined && stream.stalledAt < restoredAt) {
            gapsDuring.push(`${p.name} lost ${s.name} at +${stream.stalledAt - stoppedAt} ms`);
          }
        }
      }
      assert.deepEqual(gapsDuring, [], 'no audio stream stopped while Redis was away');
      assert.deepEqual(misses, [], `everyone heard everyone in all ${rounds} rounds of listening`);

      // Redis is back: the relayed clients resync; everyone is together and hears everyone.
      const changed = await togetherAgain(30_000);
      await everyoneHearsEveryone(15_000);
      // Any audio lost since Redis came back: a stream that stalled, or a person whose
      // place (peer id) changed, from their old stream's last packet to the new one's first.
      const gapsAfter: string[] = [];
      for (const p of people) {
        const watch = await readMediaWatch(p.page);
        for (const s of speakers(p)) {
          const old = watch.streams.find((w) => !w.isNew && w.peerId === idsBefore.get(s.name));
          const now = watch.streams.find((w) => w.peerId === s.peerId && w !== old);
          if (old?.stalledAt !== undefined && old.stalledAt >= restoredAt) {
            const silent = (old.flowingAt ?? Date.now()) - old.stalledAt;
            gapsAfter.push(
              `${p.name} lost ${s.name} at +${old.stalledAt - restoredAt} ms for ${silent} ms`,
            );
          } else if (s.peerId !== idsBefore.get(s.name) && old?.lastPacketAt && now?.flowingAt) {
            gapsAfter.push(
              `${p.name} lost ${s.name} at +${old.lastPacketAt - restoredAt} ms for ${now.flowingAt - old.lastPacketAt} ms (a new place)`,
            );
          }
        }
      }

      // And a first join works again: the newcomer presses Join until it does.
      let joinedMs: number | undefined;
      let presses = 0;
      let firstPressAt: number | undefined;
      await waitFor(
        `${dee.name} to join ${newRoom} once Redis is back`,
        async () => {
          if ((await roomState(dee.page)) === 'joined') {
            joinedMs ??= Date.now() - (firstPressAt ?? restoredAt);
            return true;
          }
          const join = dee.page.getByRole('button', { name: 'Join', exact: true });
          if (await join.isEnabled({ timeout: 500 }).catch(() => false)) {
            presses += 1;
            firstPressAt ??= Date.now();
            await join.click({ timeout: 1_000 }).catch(() => undefined);
          }
          return false;
        },
        { timeoutMs: 20_000, intervalMs: 500 },
      );
      const deeOwner = await waitFor('the new room’s claim', () =>
        claimedBy(net().redis, r, REDIS_PASSWORD, newRoom),
      );
      await dee.page.goto('about:blank');
      tap = await tapRelay(net().redis, r, REDIS_PASSWORD);

      const summary =
        `redis outage ${((restoredAt - stoppedAt) / 1000).toFixed(1)} s (room on ${owner.nodeId}; relayed: ${relayed.map(([name, edge]) => `${name} from ${edge}`).join(', ') || 'nobody'}): ` +
        `no audio gap during it (${rounds} rounds of listening to everyone, packets watched every 50 ms); ` +
        `a new join refused after ${refusedMs} ms with “${errorText}”; after Redis was back: ` +
        `${changed.length ? `new places (a rejoin, not a resume) for ${changed.join(', ')}` : 'everyone kept their place'}, ` +
        `${gapsAfter.length ? `audio gaps: ${gapsAfter.join('; ')}` : 'no audio gap'}; ` +
        `a new join pressed ${(firstPressAt ?? restoredAt) - restoredAt} ms after Redis was back worked ${joinedMs} ms after the press (${presses} press(es) of Join, room on ${deeOwner})`;
      console.log(`# [cluster] ${summary}`);
      t.diagnostic(summary);
      // Redis coming back is no reason to reset the call: the relayed clients resume, the
      // room stays where it was.
      assert.deepEqual(
        {
          newPlaces: changed,
          gapsAfter,
          roomNow: await claimedBy(net().redis, r, REDIS_PASSWORD, roomId),
        },
        { newPlaces: [], gapsAfter: [], roomNow: owner.nodeId },
        'everyone kept their place, and their audio, once Redis was back',
      );
    });
  });
});

function assertDefined<T>(value: T | undefined): T {
  assert.ok(value !== undefined);
  return value;
}
