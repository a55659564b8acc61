import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as mediasoup from 'mediasoup';
import { mediaCodecs } from '../src/media/mediaCodecs.ts';
import { exited, startMain } from './support/mainProcess.ts';
import { freePort } from './support/ports.ts';
import { redisForTests } from './support/redis.ts';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { waitFor } from './support/wait.ts';

/**
 * Cluster signaling on loopback: nodes in this process sharing one real redis-server,
 * real socket.io clients. (Media across hosts, node death and drain with browsers:
 * test/cluster.test.ts.)
 */
const PASSWORD = 'cluster-test-password';
const db = redisForTests(PASSWORD);
// Every router is made from these codecs (as the capabilities request answers).
const caps = mediasoup.ortc.generateRouterRtpCapabilities(mediaCodecs);

const clusterEnv = (nodeId: string, extra: Record<string, string> = {}) => ({
  REDIS_URL: db.redis.url,
  NODE_ID: nodeId,
  CLUSTER_LEASE_MS: '3000',
  ...extra,
});

async function client(node: TestServer): Promise<SignalingClient> {
  return SignalingClient.connect(node.url);
}

async function join(c: SignalingClient, roomId: string, nickname: string) {
  return c.call('join', { roomId, nickname, rtpCapabilities: caps });
}

/** The nodes that have the room open. */
function holders(nodes: TestServer[], roomId: string): string[] {
  return nodes.filter((n) => n.server.rooms.get(roomId)).map((n) => n.config.nodeId);
}

describe('a cluster of nodes on one Redis', () => {
  let a: TestServer;
  let b: TestServer;
  let c: TestServer;
  const open: SignalingClient[] = [];
  const connect = async (node: TestServer) => {
    const s = await client(node);
    open.push(s);
    return s;
  };

  before(async () => {
    a = await startTestServer(clusterEnv('a'));
    b = await startTestServer(clusterEnv('b'));
    c = await startTestServer(clusterEnv('c'));
    // Each node lists the others once a heartbeat has gone round.
    await waitFor('every node to see the three', () =>
      [a, b, c].every((n) => n.server.cluster?.nodes.length === 3),
    );
  });

  after(async () => {
    for (const s of open) s.close();
    for (const node of [a, b, c]) await node?.stop();
  });

  test('two people opening the same link at once through two nodes land in one room', async () => {
    const rooms = Array.from({ length: 8 }, (_, i) => `same-time-${i}`);
    for (const roomId of rooms) {
      const [one, two] = await Promise.all([connect(a), connect(b)]);
      const [j1, j2] = await Promise.all([join(one, roomId, 'one'), join(two, roomId, 'two')]);
      assert.deepEqual(holders([a, b, c], roomId).length, 1, `${roomId}: one node has it`);
      // Whichever joined second saw the first; and between them they saw each other.
      assert.equal(j1.peers.length + j2.peers.length, 1, `${roomId}: both in the same room`);
      const record = JSON.parse((await db.admin.get(`gt:room:${roomId}`)) ?? '{}');
      assert.equal(record.node, holders([a, b, c], roomId)[0], 'the claim names that node');
      one.close();
      two.close();
    }
  });

  test('a person on another node gets the room, its events, mute and leave', async () => {
    const roomId = 'relay-room';
    const host = await connect(a);
    await join(host, roomId, 'host');
    const owner = holders([a, b, c], roomId)[0];
    const edge = [a, b, c].find((n) => n.config.nodeId !== owner) as TestServer;
    const guest = await connect(edge);
    const seen = host.next('peerJoined');
    const answer = await join(guest, roomId, 'guest');
    assert.equal(holders([a, b, c], roomId).length, 1, 'still one room');
    assert.deepEqual(
      answer.peers.map((p) => p.nickname),
      ['host'],
    );
    assert.equal((await seen).nickname, 'guest');
    assert.equal(
      answer.sendTransport.iceCandidates[0]?.ip,
      '127.0.0.1',
      "media goes to the room's node",
    );
    const peerJoinedAtGuest = guest.next('peerJoined');
    const late = await connect(a);
    await join(late, roomId, 'late');
    assert.equal(
      (await peerJoinedAtGuest).nickname,
      'late',
      'room events reach the relayed client',
    );
    const muted = host.next('peerMuted');
    await guest.call('setMuted', { muted: true });
    assert.deepEqual(await muted, { peerId: answer.peerId, muted: true });
    const left = host.next('peerLeft');
    await guest.call('leave', {});
    assert.equal((await left).peerId, answer.peerId);
    // Out of the room, the relay is over: a request needing a room is refused.
    const after = await guest.request('setMuted', { muted: false });
    assert.equal(after.ok, false);
    assert.equal(!after.ok && after.error.code, 'NOT_IN_ROOM');
    // And the session can join again (a fresh place).
    const again = await join(guest, roomId, 'guest');
    assert.equal(again.peers.length, 2);
  });

  test('a dropped relayed connection resumes its place through a third node', async () => {
    const roomId = 'resume-room';
    const host = await connect(a);
    await join(host, roomId, 'host');
    const owner = holders([a, b, c], roomId)[0];
    const [edge1, edge2] = [a, b, c].filter((n) => n.config.nodeId !== owner) as TestServer[];
    const guest = await client(edge1 as TestServer);
    const answer = await join(guest, roomId, 'guest');
    let left = false;
    host.socket.on('peerLeft', () => {
      left = true;
    });
    // A network drop (not a hang-up): engine.io's transport closes under the socket.
    (guest.socket.io as unknown as { engine: { close(): void } }).engine.close();
    const back = await connect(edge2 as TestServer);
    const resumed = await back.call('join', {
      roomId,
      nickname: 'guest',
      rtpCapabilities: caps,
      resume: { peerId: answer.peerId, token: answer.resumeToken },
    });
    assert.equal(resumed.resumed, true, 'the place was kept');
    assert.equal(resumed.peerId, answer.peerId);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(left, false, 'the others saw nothing');
  });

  test('a resume token naming another node cannot choose where a fresh join goes', async () => {
    const roomId = 'forged-resume';
    const host = await connect(a);
    await join(host, roomId, 'host');
    const owner = holders([a, b, c], roomId)[0];
    const elsewhere = [a, b, c].find((n) => n.config.nodeId !== owner) as TestServer;
    // Through the room's node and through the named one: the token names a live node,
    // but there is no such place on it.
    for (const via of [a, elsewhere]) {
      const forger = await connect(via);
      const answer = await forger.call('join', {
        roomId,
        nickname: 'forger',
        rtpCapabilities: caps,
        resume: { peerId: 'made-up', token: `${elsewhere.config.nodeId}.made-up-token` },
      });
      assert.equal(answer.resumed, false);
      assert.deepEqual(holders([a, b, c], roomId), [owner], 'still only on the room’s node');
      forger.close();
    }
  });

  test('a room record this node cannot read is refused and left alone', async () => {
    const roomId = 'strange-record';
    const record = JSON.stringify({ v: 99, node: 'b', shard: 7 });
    await db.admin.set(`gt:room:${roomId}`, record, 'PX', 60_000);
    const s = await connect(a);
    const response = await s.request('join', { roomId, nickname: 'x', rtpCapabilities: caps });
    assert.equal(response.ok, false);
    assert.equal(!response.ok && response.error.code, 'SERVER_BUSY');
    assert.match(!response.ok ? response.error.message : '', /record/);
    assert.equal(await db.admin.get(`gt:room:${roomId}`), record, 'not overwritten');
    assert.deepEqual(holders([a, b, c], roomId), []);
    await db.admin.del(`gt:room:${roomId}`);
  });

  test('garbage on a relay channel is dropped, and the relay keeps working', async () => {
    const roomId = 'garbage-room';
    const host = await connect(a);
    await join(host, roomId, 'host');
    const owner = holders([a, b, c], roomId)[0] as string;
    const edge = [a, b, c].find((n) => n.config.nodeId !== owner) as TestServer;
    for (const junk of [
      'not json',
      '{"t":"req","from":"x","sid":"s","n":-1,"name":"join","payload":{},"ip":"1.2.3.4"}',
      '{"t":"ack","sid":"s","n":0}x',
      JSON.stringify({ t: 'req', from: 'e', sid: 's', n: 0, name: 'nope', payload: {}, ip: '' }),
      JSON.stringify({ t: 'event', sid: 's', event: 'evil', args: [] }),
    ]) {
      await db.admin.publish(`gt:relay:${owner}`, junk);
      await db.admin.publish(`gt:relay:${edge.config.nodeId}`, junk);
    }
    const guest = await connect(edge);
    const answer = await join(guest, roomId, 'guest');
    assert.deepEqual(
      answer.peers.map((p) => p.nickname),
      ['host'],
    );
    assert.ok(!a.server.closed && !b.server.closed && !c.server.closed);
  });

  test('a room that empties releases its claim', async () => {
    const roomId = 'released-room';
    const s = await connect(b);
    await join(s, roomId, 'solo');
    assert.ok(await db.admin.get(`gt:room:${roomId}`));
    await s.call('leave', {});
    // ROOM_EMPTY_GRACE_MS is 200 ms in tests.
    await waitFor(
      'the claim to go',
      async () => (await db.admin.get(`gt:room:${roomId}`)) === null,
    );
  });
});

describe('when a node goes', () => {
  test("the room's node closing: relayed people are told to join afresh, and land elsewhere", async () => {
    const a = await startTestServer(clusterEnv('gone-a'));
    const b = await startTestServer(clusterEnv('gone-b'));
    const stopped = new Set<TestServer>();
    try {
      await waitFor('both to see each other', () => b.server.cluster?.nodes.length === 2);
      const roomId = 'owner-dies';
      const host = await client(a);
      const guest = await client(b);
      await join(host, roomId, 'host');
      const owner = holders([a, b], roomId)[0];
      const [ownerNode, edgeNode, onOwner, onEdge] =
        owner === 'gone-a' ? [a, b, host, guest] : [b, a, guest, host];
      await join(onEdge, roomId, 'guest');
      const reset = onEdge.next('mediaReset', 8000);
      // The node's record vanishes with it; its lease would do the same after a crash.
      await ownerNode.stop();
      stopped.add(ownerNode);
      await reset;
      const again = await join(onEdge, roomId, 'guest');
      assert.equal(again.peers.length, 0, 'a fresh room');
      assert.deepEqual(holders([edgeNode], roomId), [edgeNode.config.nodeId]);
      onOwner.close();
      onEdge.close();
    } finally {
      for (const node of [a, b]) if (!stopped.has(node)) await node.stop();
    }
  });

  test('drain: the node takes no new rooms, its rooms move, relayed people rejoin elsewhere', async () => {
    const a = await startTestServer(clusterEnv('drain-a'));
    const b = await startTestServer(clusterEnv('drain-b'));
    try {
      await waitFor('both to see each other', () => a.server.cluster?.nodes.length === 2);
      const rooms = ['drain-1', 'drain-2', 'drain-3', 'drain-4'];
      const people: SignalingClient[] = [];
      for (const roomId of rooms) {
        const s = await client(a);
        people.push(s);
        await join(s, roomId, 'p');
      }
      const onB = rooms.filter((r) => holders([b], r).length === 1);
      assert.ok(onB.length > 0 && onB.length < rooms.length, `spread: ${onB} on b`);
      const resets = people
        .filter((_, i) => onB.includes(rooms[i] as string))
        .map((s) => s.next('mediaReset', 5000));
      await b.server.drain();
      await Promise.all(resets);
      for (const roomId of onB) {
        const s = people[rooms.indexOf(roomId)] as SignalingClient;
        await join(s, roomId, 'p');
        assert.deepEqual(holders([a], roomId), ['drain-a'], `${roomId} moved to a`);
      }
      for (const s of people) s.close();
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe('while Redis is away', () => {
  test('calls go on, cluster joins fail fast and retryably, all recovers when it returns', async () => {
    const a = await startTestServer(clusterEnv('outage-a'));
    const b = await startTestServer(clusterEnv('outage-b'));
    const people: SignalingClient[] = [];
    const connect = async (node: TestServer) => {
      const s = await client(node);
      people.push(s);
      return s;
    };
    try {
      await waitFor('both to see each other', () => a.server.cluster?.nodes.length === 2);
      const roomId = 'outage-room';
      const host = await connect(a);
      await join(host, roomId, 'host');
      const owner = holders([a, b], roomId)[0];
      const [ownerNode, edgeNode] = owner === 'outage-a' ? [a, b] : [b, a];
      const direct = await connect(ownerNode);
      const relayed = await connect(edgeNode);
      await join(relayed, roomId, 'relayed');
      const reconnected = new Promise<void>((resolve) =>
        relayed.socket.once('disconnect', () => resolve()),
      );

      await db.redis.stop();
      // Still serving (its own rooms), but it says what is missing.
      const health = await waitFor('/healthz to say Redis is away', async () => {
        const body = (await (await fetch(`${ownerNode.url}/healthz`)).json()) as {
          status: string;
          reasons?: string[];
        };
        return body.status === 'degraded' ? body : undefined;
      });
      assert.match(String(health.reasons), /redis/);
      // A join for a room that lives here needs no Redis.
      const local = await join(direct, roomId, 'direct');
      assert.equal(local.peers.length, 2);
      // A join for a new room does, and is refused at once with a retryable code.
      const fresh = await connect(ownerNode);
      const started = Date.now();
      const refused = await fresh.request('join', {
        roomId: 'new-room',
        nickname: 'n',
        rtpCapabilities: caps,
      });
      assert.equal(!refused.ok && refused.error.code, 'SERVER_BUSY');
      assert.ok(Date.now() - started < 4000, 'not a hang');
      // A relayed request cannot reach the room's node either: a clear error, no hang.
      const muted = await relayed.request('setMuted', { muted: true });
      assert.equal(!muted.ok && muted.error.code, 'SERVER_BUSY');

      await db.redis.start();
      // Relay messages may have been lost: the relayed client is made to reconnect.
      await reconnected;
      const back = await connect(edgeNode);
      const again = await waitFor(
        'a join for a new room to work again',
        async () => {
          const r = await back.request('join', {
            roomId: 'after-outage',
            nickname: 'n',
            rtpCapabilities: caps,
          });
          return r.ok ? r : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 500 },
      );
      assert.equal(again.data.peers.length, 0);
      // The room's claim is back in Redis (Redis restarted empty).
      await waitFor(
        'the claim to be renewed',
        async () => (await db.admin.get(`gt:room:${roomId}`)) !== null,
      );
    } finally {
      if (!(await db.redis.ping())) await db.redis.start();
      for (const s of people) s.close();
      await a.stop();
      await b.stop();
    }
  });
});

describe('cluster settings', () => {
  const start = async (env: Record<string, string>) => {
    const main = startMain({
      PORT: String(await freePort()),
      HTTP_HOST: '127.0.0.1',
      RTC_UDP_PORT: String(await freePort()),
      RTC_LISTEN_IP: '127.0.0.1',
      RTC_WORKERS: '1',
      ...env,
    });
    return { code: await exited(main.child, 20_000), err: main.err() };
  };

  test('a malformed REDIS_URL stops the start naming the setting (exit 2)', async () => {
    const { code, err } = await start({ REDIS_URL: 'http://:hunter2@redis:6379' });
    assert.equal(code, 2);
    assert.match(err, /REDIS_URL/);
    assert.doesNotMatch(err, /hunter2/, 'the password is never printed');
  });

  test('a Redis that refuses the password stops the start naming the setting (exit 2)', async () => {
    const url = new URL(db.redis.url);
    url.password = 'wrong-password';
    const { code, err } = await start({ REDIS_URL: url.toString() });
    assert.equal(code, 2);
    assert.match(err, /REDIS_URL.*(WRONGPASS|invalid)/s);
    assert.doesNotMatch(err, /wrong-password/);
  });

  test('a NODE_ID another live node uses stops the start (exit 2)', async () => {
    const a = await startTestServer(clusterEnv('twin'));
    try {
      const { code, err } = await start({
        REDIS_URL: db.redis.url,
        NODE_ID: 'twin',
        CLUSTER_LEASE_MS: '3000',
      });
      assert.equal(code, 2);
      assert.match(err, /NODE_ID/);
    } finally {
      await a.stop();
    }
  });
});
