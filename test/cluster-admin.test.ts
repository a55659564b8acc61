/**
 * The admin side of a cluster: two (then three) real nodes in this process sharing one
 * real redis-server. One view of every node's rooms from any node, kick / ban / unban /
 * drain from any node, bans kept in Redis and in every node's banned_ips.json, admin
 * sessions good on every node, per-address limits shared through Redis, a room spanning
 * nodes shown as one (on two more nodes with their own Redis), and what all of that
 * does while Redis is away.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { BAN_FILE_NAME } from '../src/GhostTalkServer.ts';
import type {
  AdminClientToServerEvents,
  AdminHello,
  AdminServerToClientEvents,
  ClusterStatus,
  PipeCounts,
} from '../src/protocol/adminProtocol.ts';
import type { Ack } from '../src/protocol/protocol.ts';
import { fakeDtlsParameters, opusRtpParameters } from './support/fakeMedia.ts';
import { startRedis, type TestRedis } from './support/redis.ts';
import { type ClientSocket, SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { waitFor } from './support/wait.ts';

const KEY = 'cluster-admin-test-key-0123';
type AdminSocket = Socket<AdminServerToClientEvents, AdminClientToServerEvents>;
type Stats = {
  node: string;
  roomCount: number;
  peerCount: number;
  rooms: { id: string; node: string; nodes: Record<string, number>; peers: number }[];
  consumers: number;
  pipes: PipeCounts;
  worker: { consumers: number[] };
  cluster: {
    clustered: boolean;
    problem: string | null;
    nodes: { id: string; pipes: PipeCounts | null; load: { consumers: number } }[];
  };
};

let redis: TestRedis;
let a: TestServer;
let b: TestServer;
const servers: TestServer[] = [];
const sockets: { disconnect: () => unknown }[] = [];
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ghosttalk-cluster-admin-'));
  dirs.push(dir);
  return dir;
}

async function startNode(id: string, env: Record<string, string> = {}): Promise<TestServer> {
  const ts = await startTestServer({
    REDIS_URL: redis.url,
    NODE_ID: id,
    CLUSTER_LEASE_MS: '3000',
    ADMIN_KEY: KEY,
    // Loopback is a trusted proxy: every test client claims its own address.
    TRUSTED_PROXIES: 'loopback',
    JOINS_PER_MINUTE: '3',
    ...env,
  });
  servers.push(ts);
  return ts;
}

const nodeOf = (ts: TestServer) => ts.server.cluster?.nodeId ?? '?';
const bansFile = (ts: TestServer): string[] =>
  JSON.parse(readFileSync(join(ts.dataDir, BAN_FILE_NAME), 'utf8')) as string[];

/** A signaling socket that claims `ip`; its connect error, if refused. */
async function clientFrom(ts: TestServer, ip: string): Promise<ClientSocket> {
  const socket: ClientSocket = io(ts.url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: { 'x-forwarded-for': ip },
  });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no connection to ${ts.url} in 5 s`)), 5000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  return socket;
}

function call(socket: ClientSocket, name: string, payload: unknown): Promise<Ack<unknown>> {
  const emit = socket.timeout(8000).emitWithAck as unknown as (
    name: string,
    payload: unknown,
  ) => Promise<Ack<unknown>>;
  return emit.call(socket, name, payload);
}

/** Joins `roomId` through `ts` as `ip`; the join's ack, whatever it says. */
async function joinRoom(
  ts: TestServer,
  ip: string,
  roomId: string,
  nickname = 'Pat',
): Promise<{ socket: ClientSocket; ack: Ack<{ peerId: string }> }> {
  const socket = await clientFrom(ts, ip);
  const caps = await call(socket, 'capabilities', {});
  assert.ok(caps.ok);
  const { routerRtpCapabilities } = caps.data as { routerRtpCapabilities: unknown };
  const ack = (await call(socket, 'join', {
    roomId,
    nickname,
    rtpCapabilities: routerRtpCapabilities,
  })) as Ack<{ peerId: string }>;
  return { socket, ack };
}

async function joined(ts: TestServer, ip: string, roomId: string, nickname = 'Pat') {
  const { socket, ack } = await joinRoom(ts, ip, roomId, nickname);
  assert.ok(ack.ok, `join ${roomId}: ${ack.ok ? '' : ack.error.message}`);
  return { socket, peerId: ack.data.peerId };
}

/** The node that has the room, and one that does not. */
function owner(roomId: string): { owner: TestServer; other: TestServer } {
  const found = [a, b].find((ts) => ts.server.rooms.exists(roomId));
  assert.ok(found, `room ${roomId} lives on a node`);
  return { owner: found, other: found === a ? b : a };
}

let holders = 0;
/** A fresh address per holder: each has a budget of 3 joins a minute. */
const holderIp = () => `10.1.${Math.floor(++holders / 250)}.${(holders % 250) + 1}`;
/**
 * A room on each node, each held open by one peer (its own address, so the budgets of
 * the addresses under test stay whole). Placement goes to the least loaded node.
 */
async function roomsOnBothNodes(prefix: string): Promise<{ onA: string; onB: string }> {
  const rooms = new Map<TestServer, string>();
  for (let i = 0; rooms.size < 2 && i < 20; i++) {
    const roomId = `${prefix}-${i}`;
    await joined(a, holderIp(), roomId, 'Holder');
    const where = owner(roomId).owner;
    if (!rooms.has(where)) rooms.set(where, roomId);
  }
  const onA = rooms.get(a);
  const onB = rooms.get(b);
  assert.ok(onA && onB, 'rooms landed on both nodes');
  // The holder of b's room is relayed through a; one connected to b itself keeps the room
  // open through Redis outages too (relayed clients are sent to reconnect after one).
  await joined(b, holderIp(), onB, 'Holder');
  return { onA, onB };
}

function adminSocket(ts: TestServer, auth: Record<string, unknown>, headers = {}): AdminSocket {
  const socket: AdminSocket = io(`${ts.url}/admin`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth,
    extraHeaders: headers,
  });
  sockets.push(socket);
  return socket;
}

async function adminConsole(
  ts: TestServer,
  auth: Record<string, unknown> = { key: KEY },
  headers = {},
): Promise<{ socket: AdminSocket; hello: AdminHello }> {
  const socket = adminSocket(ts, auth, headers);
  const hello = await new Promise<AdminHello>((resolve, reject) => {
    socket.once('hello', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, hello };
}

function nextEvent<E extends keyof AdminServerToClientEvents>(
  socket: AdminSocket,
  event: E,
  filter: (arg: Parameters<AdminServerToClientEvents[E]>[0]) => boolean = () => true,
  timeoutMs = 6000,
): Promise<Parameters<AdminServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const s = socket as unknown as {
      on: (e: string, l: (a: never) => void) => void;
      off: (e: string, l: (a: never) => void) => void;
    };
    const timer = setTimeout(() => {
      s.off(event, listener as (a: never) => void);
      reject(new Error(`no ${event} in ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (arg: Parameters<AdminServerToClientEvents[E]>[0]) => {
      if (!filter(arg)) return;
      clearTimeout(timer);
      s.off(event, listener as (a: never) => void);
      resolve(arg);
    };
    s.on(event, listener as (a: never) => void);
  });
}

const bearer = { authorization: `Bearer ${KEY}` };
const stats = async (ts: TestServer): Promise<Stats> =>
  (await (await fetch(`${ts.url}/admin?action=stats`, { headers: bearer })).json()) as Stats;
const post = (ts: TestServer, query: string) =>
  fetch(`${ts.url}/admin?${query}`, { method: 'POST', headers: bearer });
const disconnected = (socket: ClientSocket | AdminSocket) =>
  new Promise<string>((resolve) => (socket as Socket).once('disconnect', resolve));

before(async () => {
  redis = await startRedis();
  // A's file has a ban before the cluster has any: the first node seeds Redis with it.
  const aDir = tempDir();
  writeFileSync(join(aDir, BAN_FILE_NAME), JSON.stringify(['198.51.100.0/24']));
  a = await startNode('a', { DATA_DIR: aDir });
  b = await startNode('b');
  await waitFor('both nodes to know each other', () =>
    [a, b].every((ts) => ts.server.cluster?.nodes.length === 2),
  );
});

// Each test's people leave, so that the next one's rooms spread over both nodes again.
afterEach(() => {
  for (const s of sockets.splice(0)) s.disconnect();
});

after(async () => {
  for (const ts of servers) if (!ts.server.closed) await ts.stop();
  await redis.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('one admin view', () => {
  test('the admin API on one node lists the rooms of the other, tagged with their node', async () => {
    const { onA, onB } = await roomsOnBothNodes('view');
    for (const ts of [a, b]) {
      const doc = await stats(ts);
      assert.equal(doc.node, nodeOf(ts));
      assert.equal(doc.cluster.clustered, true);
      assert.equal(doc.cluster.problem, null);
      assert.deepEqual(doc.cluster.nodes.map((n) => n.id).sort(), ['a', 'b']);
      assert.equal(
        doc.rooms.find((r) => r.id === onA)?.node,
        'a',
        `${onA} on a, seen from ${doc.node}`,
      );
      assert.equal(
        doc.rooms.find((r) => r.id === onB)?.node,
        'b',
        `${onB} on b, seen from ${doc.node}`,
      );
      // Rooms on one node each: one key, that node's own people.
      assert.deepEqual(doc.rooms.find((r) => r.id === onA)?.nodes, { a: 1 });
      assert.deepEqual(doc.rooms.find((r) => r.id === onB)?.nodes, { b: 2 });
      assert.deepEqual(doc.pipes, { transports: 0, consumers: 0, producers: 0 });
      for (const n of doc.cluster.nodes) {
        assert.deepEqual(n.pipes, { transports: 0, consumers: 0, producers: 0 }, n.id);
      }
      assert.equal(doc.roomCount, doc.rooms.length);
      assert.equal(
        doc.peerCount,
        doc.rooms.reduce((n, r) => n + r.peers, 0),
      );
    }
  });

  test('the console on one node gets the other’s rooms, and a peerJoined for a join there', async () => {
    const { onA } = await roomsOnBothNodes('watch');
    const { socket, hello } = await adminConsole(b);
    assert.equal(hello.cluster.node, 'b');
    assert.equal(hello.cluster.clustered, true);
    assert.deepEqual(
      hello.cluster.nodes.map((n) => n.id),
      ['a', 'b'],
    );
    const listed = hello.rooms.find((r) => r.id === onA);
    assert.equal(listed?.node, 'a');
    assert.equal(listed.peers.length, 1);

    // A console on a as well: each node pushes to its own consoles only, so neither
    // console hears of the join twice.
    const { socket: consoleOnA } = await adminConsole(a);
    const heard = { a: 0, b: 0 };
    consoleOnA.on('peerJoined', (e) => {
      if (e.peer.nickname === 'Newcomer') heard.a += 1;
    });
    socket.on('peerJoined', (e) => {
      if (e.peer.nickname === 'Newcomer') heard.b += 1;
    });
    const joinedEvent = nextEvent(socket, 'peerJoined', (e) => e.peer.nickname === 'Newcomer');
    const roomsEvent = nextEvent(socket, 'rooms', (rooms) =>
      rooms.some((r) => r.id === onA && r.peers.length === 2),
    );
    // Through a: the room's own node.
    const { socket: client, peerId } = await joined(a, '203.0.113.40', onA, 'Newcomer');
    const event = await joinedEvent;
    assert.equal(event.roomId, onA);
    assert.equal(event.peer.id, peerId);
    assert.equal(event.peer.ip, '203.0.113.40');
    assert.equal((await roomsEvent).find((r) => r.id === onA)?.node, 'a');
    // Two more polls of each node: any duplicate would have come by now.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.deepEqual(heard, { a: 1, b: 1 });
    const left = nextEvent(socket, 'peerLeft', (e) => e.peerId === peerId);
    client.disconnect();
    assert.deepEqual(await left, { roomId: onA, peerId, nickname: 'Newcomer' });
  });

  test('a peer whose place is relayed appears once, in its room on the room’s node', async () => {
    const { onB } = await roomsOnBothNodes('relay');
    // Connected to a, in a room on b.
    const { peerId } = await joined(a, '203.0.113.41', onB, 'Relayed');
    const doc = (await adminConsole(a)).hello;
    const places = doc.rooms.flatMap((r) => r.peers.filter((p) => p.id === peerId).map(() => r));
    assert.equal(places.length, 1);
    assert.equal(places[0]?.node, 'b');
    assert.equal(places[0]?.id, onB);
    const ids = doc.rooms.flatMap((r) => r.peers.map((p) => p.id));
    assert.equal(new Set(ids).size, ids.length, 'nobody listed twice');
  });
});

describe('kick, ban, unban and drain act on the whole cluster', () => {
  test('kick through b of a peer whose socket is on a', async () => {
    const { onA, onB } = await roomsOnBothNodes('kick');
    for (const roomId of [onA, onB]) {
      // The socket is on a whichever node has the room.
      const { socket: client, peerId } = await joined(a, '203.0.113.42', roomId, 'Kicked');
      const { socket } = await adminConsole(b);
      const kicked = new Promise((resolve) => client.once('kicked', resolve));
      const gone = disconnected(client);
      const ack = await socket.timeout(5000).emitWithAck('kick', { peerId });
      assert.deepEqual(ack, { ok: true, data: { kicked: true } });
      assert.deepEqual(await kicked, { reason: 'removed by an operator' });
      assert.equal(await gone, 'io server disconnect');
      const again = await post(b, `action=kick&peer=${peerId}`);
      assert.deepEqual(await again.json(), { ok: true, kicked: false });
    }
  });

  test('the first node seeded Redis from its file; b wrote the cluster’s list to its own', async () => {
    const shared = new Redis(redis.url);
    try {
      assert.deepEqual(await shared.smembers('gt:bans'), ['198.51.100.0/24']);
    } finally {
      shared.disconnect();
    }
    assert.deepEqual(bansFile(b), ['198.51.100.0/24']);
    assert.ok(b.server.bans.isBanned('198.51.100.9'));
  });

  test('a ban through a disconnects that address on b at once, and every file has it', async () => {
    const ip = '203.0.113.77';
    const onB = await clientFrom(b, ip);
    const consoleOnB = adminSocket(b, { key: KEY }, { 'x-forwarded-for': ip });
    await new Promise<void>((resolve, reject) => {
      consoleOnB.once('connect', resolve);
      consoleOnB.once('connect_error', reject);
    });
    const bystander = await clientFrom(b, '203.0.113.78');
    const kicked = new Promise((resolve) => onB.once('kicked', resolve));
    const gone = [disconnected(onB), disconnected(consoleOnB)];
    const pushed = nextEvent((await adminConsole(b)).socket, 'bans', (list) => list.includes(ip));

    const started = Date.now();
    const response = await post(a, `action=ban&ip=${ip}`);
    assert.deepEqual(await response.json(), { ok: true, ban: ip, disconnected: 2 });
    assert.deepEqual(await kicked, { reason: 'banned' });
    assert.deepEqual(await Promise.all(gone), ['io server disconnect', 'io server disconnect']);
    assert.ok(Date.now() - started < 2000, 'at once, not at the next sync');
    assert.ok((await pushed).includes(ip), 'b’s console heard of it');
    assert.equal(bystander.connected, true);
    for (const ts of [a, b]) {
      assert.ok(bansFile(ts).includes(ip), `${nodeOf(ts)}'s ${BAN_FILE_NAME}`);
      assert.ok(ts.server.bans.isBanned(ip));
    }
    await assert.rejects(clientFrom(b, ip), /banned/);

    const unban = await post(b, `action=unban&ip=${ip}`);
    assert.deepEqual(await unban.json(), { ok: true, removed: true });
    for (const ts of [a, b]) {
      assert.equal(bansFile(ts).includes(ip), false, `${nodeOf(ts)}'s file after the unban`);
      assert.equal(ts.server.bans.isBanned(ip), false);
    }
    await clientFrom(a, ip);
  });

  test('a node started later takes the bans from Redis (its file’s own are dropped), bad entries skipped', async () => {
    const ip = '203.0.113.79';
    assert.equal((await post(b, `action=ban&ip=${ip}`)).status, 200);
    const shared = new Redis(redis.url);
    try {
      await shared.sadd('gt:bans', 'not-an-address', '10.0.0.0/2');
    } finally {
      shared.disconnect();
    }
    const dir = tempDir();
    writeFileSync(join(dir, BAN_FILE_NAME), JSON.stringify(['192.0.2.200']));
    const c = await startNode('c', { DATA_DIR: dir });
    try {
      assert.deepEqual(bansFile(c).sort(), ['198.51.100.0/24', ip].sort());
      assert.ok(c.server.bans.isBanned(ip));
      assert.equal(c.server.bans.isBanned('192.0.2.200'), false, 'Redis is the truth');
      await waitFor('the bad entries logged', () => {
        const log = readFileSync(join(c.dataDir, 'server.log'), 'utf8').split('\n');
        const skipped = log.filter((l) => l.includes('ban in redis is not an address or range'));
        return (
          skipped.some((l) => l.includes('not-an-address')) &&
          skipped.some((l) => l.includes('10.0.0.0/2'))
        );
      });
    } finally {
      await c.stop();
      const cleanup = new Redis(redis.url);
      await cleanup.srem('gt:bans', 'not-an-address', '10.0.0.0/2');
      cleanup.disconnect();
      assert.equal((await post(a, `action=unban&ip=${ip}`)).status, 200);
    }
    await waitFor('c to leave', () => [a, b].every((ts) => ts.server.cluster?.nodes.length === 2));
  });

  test('drain a node by id from another node; an unknown id is a clear error', async () => {
    const cluster = b.server.cluster;
    assert.ok(cluster);
    const asked = new Promise<void>((resolve) => cluster.once('drainRequested', resolve));
    const response = await post(a, 'action=drain&node=b');
    assert.deepEqual(await response.json(), { ok: true, node: 'b' });
    await asked;

    const unknown = await post(a, 'action=drain&node=zz');
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { error: string }).error, /unknown node "zz".*a, b/);

    const { socket } = await adminConsole(b);
    const viaConsole = new Promise<void>((resolve) =>
      a.server.cluster?.once('drainRequested', resolve),
    );
    assert.deepEqual(await socket.timeout(5000).emitWithAck('drain', { node: 'a' }), {
      ok: true,
      data: { node: 'a' },
    });
    await viaConsole;
    const bad = await socket.timeout(5000).emitWithAck('drain', { node: 'nope' });
    assert.equal(bad.ok, false);
  });

  test('without a cluster, drain says there is none', async () => {
    const single = await startTestServer({ ADMIN_KEY: KEY });
    servers.push(single);
    const response = await post(single, 'action=drain&node=x');
    assert.equal(response.status, 409);
    assert.match(((await response.json()) as { error: string }).error, /not part of a cluster/);
  });
});

describe('admin sessions', () => {
  test('a session cookie made on a opens the API and the console on b', async () => {
    const page = await fetch(`${a.url}/admin?key=${KEY}`);
    assert.equal(page.status, 200);
    const cookie = page.headers
      .getSetCookie()
      .find((c) => c.startsWith('ghosttalk_admin='))
      ?.split(';')[0];
    assert.ok(cookie);
    const onB = await fetch(`${b.url}/admin?action=stats`, { headers: { cookie } });
    assert.equal(onB.status, 200);
    const { hello } = await adminConsole(b, {}, { cookie });
    assert.equal(hello.cluster.node, 'b');
    // Tampered: refused everywhere.
    const forged = `${cookie.slice(0, -2)}${cookie.endsWith('AA') ? 'BB' : 'AA'}`;
    assert.equal(
      (await fetch(`${b.url}/admin?action=stats`, { headers: { cookie: forged } })).status,
      401,
    );
  });
});

describe('rate limits shared through Redis', () => {
  test('JOINS_PER_MINUTE=3 over both nodes: the 4th join is refused, on either node', async () => {
    const { onA, onB } = await roomsOnBothNodes('limits');
    const ip = '203.0.113.50';
    // Two joins counted on a (its room), two on b: alone, neither node would refuse.
    await joined(a, ip, onA);
    await joined(b, ip, onB);
    await joined(b, ip, onA);
    const fourth = await joinRoom(a, ip, onB);
    assert.equal(fourth.ack.ok, false);
    assert.equal(!fourth.ack.ok && fourth.ack.error.code, 'RATE_LIMITED');
    const fifth = await joinRoom(a, ip, onA);
    assert.equal(!fifth.ack.ok && fifth.ack.error.code, 'RATE_LIMITED');
  });
});

/**
 * Two more nodes on a Redis of their own (so that a and b take no part), each over its
 * NODE_CONSUMER_BUDGET of 1 once two people talk: the room's third person is placed on
 * the other node, as a room grows past one node in production.
 */
describe('a room spanning nodes', () => {
  let spanRedis: TestRedis;
  const spanNodes: TestServer[] = [];
  const people: SignalingClient[] = [];

  before(async () => {
    spanRedis = await startRedis();
    for (const id of ['s1', 's2']) {
      spanNodes.push(
        await startTestServer({
          REDIS_URL: spanRedis.url,
          NODE_ID: id,
          CLUSTER_LEASE_MS: '3000',
          ADMIN_KEY: KEY,
          NODE_CONSUMER_BUDGET: '1',
        }),
      );
    }
    await waitFor('s1 and s2 to know each other', () =>
      spanNodes.every((ts) => ts.server.cluster?.nodes.length === 2),
    );
  });

  after(async () => {
    for (const person of people.splice(0)) person.close();
    for (const ts of spanNodes) await ts.stop();
    await spanRedis.close();
  });

  /** Joins through `ts` and talks (a producer; no media needed): what placement counts. */
  async function talker(ts: TestServer, roomId: string, nickname: string, ssrc: number) {
    const person = await SignalingClient.connect(ts.url);
    people.push(person);
    const { routerRtpCapabilities } = await person.call('capabilities', {});
    const joined = await person.call('join', {
      roomId,
      nickname,
      rtpCapabilities: routerRtpCapabilities,
    });
    const transportId = joined.sendTransport.id;
    await person.call('connectTransport', { transportId, dtlsParameters: fakeDtlsParameters });
    await person.call('produce', {
      transportId,
      kind: 'audio',
      rtpParameters: opusRtpParameters(ssrc),
    });
    return joined.peerId;
  }

  const where = (roomId: string, peerId: string) =>
    spanNodes.find((ts) => ts.server.rooms.get(roomId)?.peers.has(peerId));

  test('is listed once, with everyone on their node, its split, and the pipes between', async () => {
    const roomId = 'spanning';
    const [s1] = spanNodes;
    assert.ok(s1);
    // All three through s1, whichever node has the room.
    const ann = await talker(s1, roomId, 'Ann', 1111);
    const bob = await talker(s1, roomId, 'Bob', 2222);
    const cy = await talker(s1, roomId, 'Cy', 3333);
    const home = where(roomId, ann);
    assert.ok(home, 'Ann is on a node');
    const other = spanNodes.find((ts) => ts !== home);
    assert.ok(other);
    const [homeId, otherId] = [nodeOf(home), nodeOf(other)];
    assert.equal(where(roomId, bob), home, 'Bob joined Ann’s part: under budget then');
    assert.equal(
      where(roomId, cy),
      other,
      `Cy placed on ${otherId}, past ${homeId}'s budget (on ${where(roomId, cy) ? nodeOf(where(roomId, cy) as TestServer) : 'no node'})`,
    );

    for (const ts of spanNodes) {
      let doc: Stats | undefined;
      await waitFor(`${nodeOf(ts)}'s view of the whole room`, async () => {
        doc = await stats(ts);
        return doc.rooms.find((r) => r.id === roomId)?.peers === 3;
      });
      assert.ok(doc);
      const listed = doc.rooms.filter((r) => r.id === roomId);
      assert.equal(listed.length, 1, `one room, seen from ${doc.node}`);
      assert.deepEqual(listed[0]?.nodes, { [homeId]: 2, [otherId]: 1 });
      assert.equal(listed[0]?.node, homeId, 'the node with most of its people');
      assert.equal(doc.roomCount, doc.rooms.length);
      assert.equal(doc.peerCount, 3);
      assert.equal(
        doc.consumers,
        doc.worker.consumers.reduce((n, c) => n + c, 0),
      );
    }

    // Ann's and Bob's producers go to Cy's node; Cy's comes to theirs. One pipe each way.
    const expected: Record<string, PipeCounts> = {
      [homeId]: { transports: 1, consumers: 2, producers: 1 },
      [otherId]: { transports: 1, consumers: 1, producers: 2 },
    };
    let last = '';
    await waitFor(
      'the pipes between the two parts',
      async () => {
        const docs = await Promise.all(spanNodes.map(stats));
        last = JSON.stringify(docs.map((d) => ({ node: d.node, pipes: d.pipes })));
        return docs.every((d) => JSON.stringify(d.pipes) === JSON.stringify(expected[d.node]));
      },
      { timeoutMs: 10_000 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}: ${last}, expected ${JSON.stringify(expected)}`);
    });
    for (const ts of spanNodes) {
      const doc = await stats(ts);
      assert.ok(doc.consumers > 0, `${doc.node} has consumers`);
      for (const n of doc.cluster.nodes) {
        assert.deepEqual(n.pipes, expected[n.id], `${n.id}'s pipes, seen from ${doc.node}`);
      }
    }

    // The console: one room, each person with their node.
    for (const ts of spanNodes) {
      const { hello } = await adminConsole(ts);
      const listed = hello.rooms.filter((r) => r.id === roomId);
      assert.equal(listed.length, 1, `one room in ${nodeOf(ts)}'s console`);
      const room = listed[0];
      assert.ok(room);
      assert.deepEqual(room.nodes, { [homeId]: 2, [otherId]: 1 });
      assert.equal(room.node, homeId);
      assert.deepEqual(Object.fromEntries(room.peers.map((p) => [p.nickname, p.node])), {
        Ann: homeId,
        Bob: homeId,
        Cy: otherId,
      });
      assert.deepEqual(new Set(room.peers.map((p) => p.id)), new Set([ann, bob, cy]));
    }
  });

  test('without a cluster: one node per room, and no pipes', async () => {
    const single = await startTestServer({ ADMIN_KEY: KEY });
    servers.push(single);
    const person = await SignalingClient.connect(single.url);
    people.push(person);
    const { routerRtpCapabilities } = await person.call('capabilities', {});
    await person.call('join', {
      roomId: 'alone',
      nickname: 'Solo',
      rtpCapabilities: routerRtpCapabilities,
    });
    const doc = await stats(single);
    assert.equal(doc.cluster.clustered, false);
    const room = doc.rooms.find((r) => r.id === 'alone');
    assert.deepEqual(room?.nodes, { [doc.node]: 1 });
    assert.equal(room?.node, doc.node);
    assert.deepEqual(doc.pipes, { transports: 0, consumers: 0, producers: 0 });
    assert.equal(doc.consumers, 0);
    const { hello } = await adminConsole(single);
    assert.deepEqual(
      hello.rooms.find((r) => r.id === 'alone')?.peers.map((p) => p.node),
      [doc.node],
    );
  });
});

// Last: it stops Redis.
describe('while Redis is away', () => {
  test('the view is this node’s, said so; bans are refused; limits hold; all comes back', async () => {
    const { onA, onB } = await roomsOnBothNodes('outage');
    const { socket: consoleOnA } = await adminConsole(a);
    const problemPushed = nextEvent(
      consoleOnA,
      'cluster',
      (status: ClusterStatus) => status.problem !== null,
      10_000,
    );
    const bansBefore = bansFile(a);
    await redis.stop();
    await waitFor('a to see Redis gone', async () =>
      (await stats(a)).cluster.problem?.includes('unreachable'),
    );

    const started = Date.now();
    const doc = await stats(a);
    assert.ok(Date.now() - started < 2500, `answered in ${Date.now() - started} ms`);
    assert.match(doc.cluster.problem ?? '', /unreachable/);
    assert.ok(doc.rooms.some((r) => r.id === onA && r.node === 'a'));
    assert.equal(
      doc.rooms.some((r) => r.node === 'b'),
      false,
    );
    assert.match((await problemPushed).problem ?? '', /unreachable/);

    const ban = await post(a, 'action=ban&ip=203.0.113.90');
    assert.equal(ban.status, 503);
    assert.deepEqual(await ban.json(), { ok: false, error: 'cluster unreachable, try again' });
    const consoleBan = await consoleOnA.timeout(4000).emitWithAck('ban', { ip: '203.0.113.90' });
    assert.deepEqual(consoleBan, { ok: false, error: 'cluster unreachable, try again' });
    const unban = await post(a, 'action=unban&ip=198.51.100.0/24');
    assert.equal(unban.status, 503);
    assert.equal(a.server.bans.isBanned('203.0.113.90'), false);
    assert.ok(a.server.bans.isBanned('198.51.100.9'));
    assert.deepEqual(bansFile(a), bansBefore);

    // Joins into a's own room need no Redis; their budget is the in-memory insurance.
    const ip = '203.0.113.60';
    for (let i = 0; i < 3; i++) await joined(a, ip, onA);
    const fourth = await joinRoom(a, ip, onA);
    assert.equal(!fourth.ack.ok && fourth.ack.error.code, 'RATE_LIMITED');

    await redis.start();
    await waitFor(
      'the whole view again',
      async () => {
        const whole = await stats(a);
        return whole.cluster.problem === null && whole.rooms.some((r) => r.id === onB);
      },
      { timeoutMs: 15_000, intervalMs: 250 },
    );
    // Redis came back empty: a node seeded it again from its list.
    await waitFor('bans back in Redis', async () => {
      const shared = new Redis(redis.url);
      try {
        return (await shared.smembers('gt:bans')).includes('198.51.100.0/24');
      } finally {
        shared.disconnect();
      }
    });
    const banned = await post(a, 'action=ban&ip=203.0.113.91');
    assert.equal(banned.status, 200);
    await waitFor('b to have it', () => b.server.bans.isBanned('203.0.113.91'), {
      timeoutMs: 3000,
    });
    assert.ok(bansFile(b).includes('203.0.113.91'));
    // And limits are the cluster's again, once both nodes and their rooms are back in it
    // (Redis came back empty; each heartbeat registers its node and renews its claims).
    await waitFor('both nodes and rooms registered again', async () => {
      const shared = new Redis(redis.url);
      try {
        const keys = ['gt:node:a', 'gt:node:b', `gt:room:${onA}`, `gt:room:${onB}`];
        return (await shared.exists(...keys)) === keys.length;
      } finally {
        shared.disconnect();
      }
    });
    const other = '203.0.113.61';
    await joined(a, other, onA);
    await joined(b, other, onB);
    await joined(b, other, onA);
    const shared = await joinRoom(a, other, onB);
    assert.equal(!shared.ack.ok && shared.ack.error.code, 'RATE_LIMITED');
  });
});
