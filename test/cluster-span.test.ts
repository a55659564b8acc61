import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import * as mediasoup from 'mediasoup';
import { mediaCodecs } from '../src/media/mediaCodecs.ts';
import type { Room } from '../src/media/Room.ts';
import { redisForTests } from './support/redis.ts';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { waitFor } from './support/wait.ts';
import { WeriftClient } from './support/weriftClient.ts';

/**
 * Rooms spanning nodes, on loopback: three nodes in this process on one real
 * redis-server, real WebRTC clients (werift) sending RTP. With NODE_CONSUMER_BUDGET=2 a
 * room of four spreads over the three nodes (two people on the room's node, one on each
 * other); every packet sent reaches every other person; the pipes between the nodes are
 * exactly one per producer per other node, follow mutes, and are gone once everyone has
 * left. The room's capacity counts everyone, wherever they are; a resume finds its place
 * through any node; a Redis outage does not touch the media between the nodes. (Browsers on separate hosts, tones and a node killed: test/cluster.test.ts.)
 */
const PASSWORD = 'span-test-password';
const db = redisForTests(PASSWORD);

const spanEnv = (nodeId: string) => ({
  REDIS_URL: db.redis.url,
  NODE_ID: nodeId,
  CLUSTER_LEASE_MS: '3000',
  NODE_CONSUMER_BUDGET: '2',
  ROOM_CAPACITY: '5',
  // After Redis comes back, relayed clients are made to reconnect (to get the whole
  // state); werift clients do not, so their places go after this.
  RECONNECT_GRACE_MS: '3000',
});
const caps = mediasoup.ortc.generateRouterRtpCapabilities(mediaCodecs);

type Counts = { transports: number; consumers: number; producers: number };

/** Everyone talks all the time: one packet each per 20 ms. */
function talkAll(clients: readonly WeriftClient[]): NodeJS.Timeout {
  return setInterval(() => {
    for (const c of clients) if (!c.closed) c.sendRtp(Buffer.alloc(60, 1));
  }, 20);
}

async function pipes(node: TestServer): Promise<Counts> {
  const cluster = node.server.cluster;
  assert.ok(cluster, 'clustered');
  return cluster.spans.counts();
}

/** Consumers on the node's workers (WebRTC consumers and pipe consumers alike). */
function workerConsumers(node: TestServer): number {
  return node.server.workers.workers.reduce((sum, w) => sum + w.consumerCount, 0);
}

describe('a room that outgrows its node', { timeout: 120_000 }, () => {
  const nodes: TestServer[] = [];
  const clients: WeriftClient[] = [];
  const roomId = `span-${Date.now().toString(36)}`;
  let pacer: NodeJS.Timeout | undefined;

  const part = (node: TestServer): Room | undefined => node.server.rooms.get(roomId);
  const nodeOf = (client: WeriftClient) =>
    nodes.find((n) => part(n)?.peers.has(client.peerId)) as TestServer;

  before(async () => {
    for (const id of ['a', 'b', 'c']) nodes.push(await startTestServer(spanEnv(id)));
    await waitFor('every node to see the three', () =>
      nodes.every((n) => n.server.cluster?.nodes.length === 3),
    );
    pacer = talkAll(clients);
  });

  after(async () => {
    clearInterval(pacer);
    for (const c of clients) c.close({ abrupt: true });
    for (const node of nodes) await node.stop();
  });

  test('grows onto a second and a third node, and everyone hears everyone', async () => {
    const [a] = nodes as [TestServer];
    // All four come in through node a; where each one's media goes is the room's choice.
    for (const nickname of ['Ada', 'Bo', 'Cy', 'Dee']) {
      clients.push(await WeriftClient.create({ url: a.url, roomId, nickname }));
      // The next placement reads the consumers this join made.
      await waitFor(`${nickname}'s consumers to settle`, () =>
        clients.every((c) => c.consumers.size === clients.length - 1),
      );
    }
    const where = clients.map((c) => nodeOf(c).config.nodeId);
    const home = where[0];
    assert.equal(where[1], home, 'the second person stays on the room’s node (under budget)');
    assert.notEqual(where[2], home, 'the third goes to another node (the room’s node is full)');
    assert.ok(
      where[3] !== home && where[3] !== where[2],
      `the fourth goes to the third node (both others are past budget): ${where.join(' ')}`,
    );
    for (const listener of clients) {
      for (const talker of clients) {
        if (talker === listener) continue;
        await listener.waitForPackets(talker.peerId, 50, 10_000);
      }
    }
    // Each node lists all four, wherever they are.
    for (const node of nodes) {
      const room = part(node);
      assert.ok(room, `${node.config.nodeId} has part of the room`);
      assert.equal(room.peers.size + room.remoteMembers.size, 4);
    }
  });

  test('one pipe per producer per other node, never one per listener', async () => {
    const byNode = new Map(nodes.map((n) => [n, clients.filter((c) => nodeOf(c) === n).length]));
    for (const node of nodes) {
      const here = byNode.get(node) ?? 0;
      const elsewhere = clients.length - here;
      assert.deepEqual(
        await pipes(node),
        { transports: 2, consumers: here * 2, producers: elsewhere },
        `${node.config.nodeId} (${here} here): a transport to each other node, its talkers sent to each, the others' received once`,
      );
      // Each person here hears the three others; the pipe consumers come on top.
      assert.equal(workerConsumers(node), here * 3 + here * 2, `${node.config.nodeId} consumers`);
      // The same figures for operators, in /metrics.
      const metrics = await (await fetch(`${node.url}/metrics`)).text();
      const sample = (line: string) =>
        Number(metrics.match(new RegExp(`^${line} (\\S+)$`, 'm'))?.[1]);
      assert.deepEqual(
        [
          sample('ghosttalk_pipes\\{kind="transports"\\}'),
          sample('ghosttalk_pipes\\{kind="out"\\}'),
          sample('ghosttalk_pipes\\{kind="in"\\}'),
          sample('ghosttalk_consumers'),
          sample('ghosttalk_rooms_spanning_nodes'),
        ],
        [2, here * 2, elsewhere, here * 5, 1],
        `${node.config.nodeId} /metrics`,
      );
    }
  });

  test('a mute pauses the pipes, and everyone sees it', async () => {
    const cy = clients[2] as WeriftClient;
    const cyNode = nodeOf(cy);
    await cy.signaling.call('setMuted', { muted: true });
    for (const node of nodes) {
      if (node === cyNode) continue;
      const room = part(node) as Room;
      await waitFor(
        `${node.config.nodeId} to see Cy muted`,
        () => room.remoteMembers.get(cy.peerId)?.muted === true,
      );
      // Its listeners' consumers of Cy report the producer paused: the pipe followed.
      for (const peer of room.peers.values()) {
        const consumer = [...peer.consumers.values()].find((c) => c.producerId === cy.producerId);
        await waitFor(
          `${peer.nickname}'s consumer of Cy to be paused`,
          () => consumer?.producerPaused === true,
        );
      }
    }
    const before = clients[0]?.receivedFrom(cy.peerId) ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const muted = (clients[0]?.receivedFrom(cy.peerId) ?? 0) - before;
    assert.ok(muted <= 3, `nothing from Cy while muted (${muted} packets)`);
    await cy.signaling.call('setMuted', { muted: false });
    await (clients[0] as WeriftClient).waitForPackets(cy.peerId, before + muted + 25, 5_000);
  });

  test('a place on another node is resumed through any node; the capacity counts everyone', async () => {
    // The room's node is where its first person is: the first join claimed it for the
    // least loaded node, ties at random.
    const home = nodeOf(clients[0] as WeriftClient);
    const eve = await SignalingClient.connect(home.url);
    const first = await eve.call('join', { roomId, nickname: 'Eve', rtpCapabilities: caps });
    const eveNode = nodes.find((n) => part(n)?.peers.has(first.peerId)) as TestServer;
    assert.notEqual(eveNode, home, 'Eve is placed off the room’s full node');
    // A network drop, then the app resumes through another node: the token names Eve's.
    (eve.socket.io as unknown as { engine: { close(): void } }).engine.close();
    await waitFor('Eve’s place to be detached', () => part(eveNode)?.isDetached(first.peerId));
    eve.close();
    const through = nodes.find((n) => n !== eveNode && n !== home) as TestServer;
    const back = await SignalingClient.connect(through.url);
    const again = await back.call('join', {
      roomId,
      nickname: 'Eve',
      rtpCapabilities: caps,
      resume: { peerId: first.peerId, token: first.resumeToken },
    });
    assert.deepEqual(
      [again.resumed, again.peerId, again.peers.length],
      [true, first.peerId, 4],
      'the same place, with the four others',
    );
    // Five people on three nodes: a sixth is refused wherever it would go.
    const sixth = await SignalingClient.connect(through.url);
    const full = await sixth.request('join', { roomId, nickname: 'Fay', rtpCapabilities: caps });
    assert.equal(!full.ok && full.error.code, 'ROOM_FULL');
    // The room's node checks the encryption before placing anyone (`through` is not it).
    const keyed = await sixth.request('join', {
      roomId,
      nickname: 'Fay',
      rtpCapabilities: caps,
      e2ee: true,
    });
    assert.equal(!keyed.ok && keyed.error.code, 'ROOM_NOT_ENCRYPTED');
    sixth.close();
    await back.call('leave', {});
    back.close();
  });

  test('malformed messages between nodes are refused; calls for what is not there fail', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    const bId = b.config.nodeId;
    const listener = new Redis(db.redis.url);
    const replies: Record<string, unknown>[] = [];
    listener.on('message', (_channel, message) => {
      const parsed = JSON.parse(message) as Record<string, unknown>;
      if (parsed.t === 'reply') replies.push(parsed);
    });
    // Replies to calls made "as b" land on b's channel.
    await listener.subscribe(`gt:relay:${bId}`);
    const member = { id: 'ghost', nickname: 'Ghost', muted: false, producerId: null };
    const room = part(a) as Room;
    const listed = room.peers.size + room.remoteMembers.size;
    for (const junk of [
      { t: 'roster', from: bId, room: roomId, members: [{ ...member, nickname: 'x'.repeat(300) }] },
      { t: 'roster', from: bId, room: roomId, members: Array(1001).fill(member), hello: false },
      {
        t: 'call',
        from: bId,
        n: 1,
        call: { m: 'pipeOpen', room: roomId, end: { ip: 'evil', port: 1, srtp: {} } },
      },
      { t: 'pipePaused', from: bId, room: roomId, producerId: 'x', paused: 'yes' },
    ]) {
      await db.admin.publish(`gt:relay:${a.config.nodeId}`, JSON.stringify(junk));
    }
    // Well formed, but for a producer and a room that a does not have.
    for (const call of [
      { m: 'pipeConsume', room: roomId, producerId: 'no-such-producer' },
      { m: 'pipeConsume', room: 'no-such-room', producerId: 'p' },
    ]) {
      await db.admin.publish(
        `gt:relay:${a.config.nodeId}`,
        JSON.stringify({ t: 'call', from: bId, n: 7, call }),
      );
    }
    await waitFor('both calls to be answered', () => replies.length === 2);
    assert.deepEqual(
      replies.map((r) => [r.ok, typeof r.body]),
      [
        [false, 'string'],
        [false, 'string'],
      ],
    );
    assert.equal(room.peers.size + room.remoteMembers.size, listed, 'nobody added or dropped');
    assert.ok(!room.remoteMembers.has('ghost'));
    const talker = clients[0] as WeriftClient;
    const got = (clients[3] as WeriftClient).receivedFrom(talker.peerId);
    await (clients[3] as WeriftClient).waitForPackets(talker.peerId, got + 25, 5_000);
    listener.disconnect();
  });

  test('Redis away: the media between the nodes goes on, and the room is whole after', async () => {
    const counts = () => Promise.all(nodes.map((n) => pipes(n)));
    const before = await counts();
    const stoppedAt = clients.map((c) =>
      clients.map((t) => (t === c ? 0 : c.receivedFrom(t.peerId))),
    );
    await db.redis.stop();
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    // 4 s at 50 packets/s: nearly everything still arrived, across every pipe.
    for (const [i, listener] of clients.entries()) {
      for (const [j, talker] of clients.entries()) {
        if (talker === listener) continue;
        const got = listener.receivedFrom(talker.peerId) - (stoppedAt[i]?.[j] ?? 0);
        assert.ok(got >= 150, `${listener.joined.peerId} got ${got} packets from ${talker.peerId}`);
      }
    }
    await db.redis.start();
    // Past a lease after Redis is back, absence counts again: nobody was dropped.
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    assert.deepEqual(await counts(), before, 'the same pipes');
    for (const node of nodes) {
      const room = part(node) as Room;
      assert.equal(
        room.peers.size + room.remoteMembers.size,
        4,
        `${node.config.nodeId} lists four`,
      );
    }
  });

  test('when everyone has left, no pipe and no consumer is left on any node', async () => {
    for (const c of clients) await c.leave();
    await waitFor(
      'every node to let go of its pipes',
      async () => {
        for (const node of nodes) {
          const counts = await pipes(node);
          if (counts.transports + counts.consumers + counts.producers > 0) return false;
          if (workerConsumers(node) > 0) return false;
        }
        return true;
      },
      { timeoutMs: 15_000 },
    );
    await waitFor('the room to be gone everywhere', () => nodes.every((n) => !part(n)), {
      timeoutMs: 10_000,
    });
    await waitFor('no node listed for it in Redis', async () => {
      return (await db.admin.hlen(`gt:span:${roomId}`)) === 0;
    });
  });
});

describe('a newcomer on a part of the room that was empty', { timeout: 60_000 }, () => {
  const nodes: TestServer[] = [];
  const clients: WeriftClient[] = [];
  let pacer: NodeJS.Timeout | undefined;

  before(async () => {
    // Heartbeats every 5 s: whatever comes before the next one was not waited for.
    const env = (id: string) => ({
      ...spanEnv(id),
      NODE_CONSUMER_BUDGET: '1',
      CLUSTER_LEASE_MS: '15000',
    });
    for (const id of ['early-a', 'early-b']) nodes.push(await startTestServer(env(id)));
    await waitFor(
      'both nodes to see each other',
      () => nodes.every((n) => n.server.cluster?.nodes.length === 2),
      { timeoutMs: 12_000 },
    );
    pacer = talkAll(clients);
  });

  after(async () => {
    clearInterval(pacer);
    for (const c of clients) c.close({ abrupt: true });
    for (const node of nodes) await node.stop();
  });

  test('hears the other node’s talkers at once, not at the next heartbeat', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    const roomId = `early-${Date.now().toString(36)}`;
    const home = a.server.cluster?.nodeId;
    for (const nickname of ['Ada', 'Bo']) {
      clients.push(await WeriftClient.create({ url: a.url, roomId, nickname }));
    }
    const owner = nodes.find((n) => n.server.rooms.get(roomId)) as TestServer;
    await waitFor('Ada and Bo to hear each other', () =>
      clients.every((c) => c.consumers.size === 1),
    );
    const cy = await WeriftClient.create({ url: a.url, roomId, nickname: 'Cy' });
    clients.push(cy);
    const other = owner === a ? b : a;
    assert.ok(
      other.server.rooms.get(roomId)?.peers.has(cy.peerId),
      `Cy is on the other node (home ${home})`,
    );
    for (const talker of clients.slice(0, 2)) await cy.waitForPackets(talker.peerId, 1, 2_000);
  });
});
