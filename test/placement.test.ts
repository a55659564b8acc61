/**
 * Rooms over several mediasoup workers: new rooms spread by load (rooms, peers and
 * consumers, ties round-robin), the rejoin storm after a worker crash lands on the
 * replacement, and a room spanning two workers survives the death of its second one.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import type { types } from 'mediasoup';
import { opusRtpParameters } from './support/fakeMedia.ts';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { waitFor } from './support/wait.ts';

let ts: TestServer | undefined;
const clients: SignalingClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await ts?.stop();
  ts = undefined;
});

async function start(env: Record<string, string>): Promise<TestServer> {
  ts = await startTestServer(env);
  return ts;
}

async function client(server: TestServer): Promise<SignalingClient> {
  const c = await SignalingClient.connect(server.url);
  clients.push(c);
  return c;
}

async function capabilities(server: TestServer): Promise<types.RtpCapabilities> {
  const c = await client(server);
  return (await c.call('capabilities', {})).routerRtpCapabilities;
}

/** The pool index of the worker a router lives on (mediasoup's test-only accessor). */
function workerIndexOf(server: TestServer, router: types.Router): number {
  return server.server.workers.workers.findIndex((w) =>
    (w.worker as unknown as { routersForTesting: Set<types.Router> }).routersForTesting.has(router),
  );
}

/** How many of the rooms have their (first) router on each worker. */
function roomsPerWorker(server: TestServer, roomIds: string[]): number[] {
  const counts = server.server.workers.workers.map(() => 0);
  for (const id of roomIds) {
    const room = server.server.rooms.get(id);
    assert.ok(room, `room ${id} exists`);
    const index = workerIndexOf(server, room.router);
    assert.ok(index >= 0, `room ${id} is on a live worker`);
    counts[index] = (counts[index] ?? 0) + 1;
  }
  return counts;
}

describe('new rooms spread over workers', () => {
  for (const workers of [2, 3]) {
    test(`12 one-person rooms on ${workers} workers, joined at once`, async () => {
      const server = await start({ RTC_WORKERS: String(workers) });
      const caps = await capabilities(server);
      const ids = Array.from({ length: 12 }, (_, i) => `solo-${workers}-${i}`);
      await Promise.all(
        ids.map(async (roomId) => {
          const c = await client(server);
          await c.call('join', { roomId, nickname: 'Solo', rtpCapabilities: caps });
        }),
      );
      const even = Array.from({ length: workers }, () => 12 / workers);
      assert.deepEqual(roomsPerWorker(server, ids), even);
    });
  }

  test('one after another, too', async () => {
    const server = await start({ RTC_WORKERS: '2' });
    const caps = await capabilities(server);
    const ids = Array.from({ length: 6 }, (_, i) => `serial-${i}`);
    for (const roomId of ids) {
      const c = await client(server);
      await c.call('join', { roomId, nickname: 'Solo', rtpCapabilities: caps });
    }
    assert.deepEqual(roomsPerWorker(server, ids), [3, 3]);
  });

  test('the rejoin storm after a worker crash lands on its replacement', async () => {
    const server = await start({ RTC_WORKERS: '2' });
    const caps = await capabilities(server);
    const members = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const c = await client(server);
        const roomId = `storm-${i}`;
        await c.call('join', { roomId, nickname: 'Solo', rtpCapabilities: caps });
        return { c, roomId };
      }),
    );
    assert.deepEqual(
      roomsPerWorker(
        server,
        members.map((m) => m.roomId),
      ),
      [6, 6],
    );
    const victim = server.server.workers.workers[1];
    assert.ok(victim);
    const onVictim = members.filter((m) => {
      const room = server.server.rooms.get(m.roomId);
      return room !== undefined && workerIndexOf(server, room.router) === 1;
    });
    const resets = onVictim.map((m) => m.c.next('mediaReset', 5000));
    process.kill(victim.pid, 'SIGKILL');
    await Promise.all(resets);
    await waitFor('the replacement worker', () => server.server.workers.healthy);
    // Everyone who lost their media comes back at once, as the browser app does.
    await Promise.all(
      onVictim.map((m) =>
        m.c.call('join', { roomId: m.roomId, nickname: 'Solo', rtpCapabilities: caps }),
      ),
    );
    assert.deepEqual(
      roomsPerWorker(
        server,
        members.map((m) => m.roomId),
      ),
      [6, 6],
    );
  });
});

describe('a room spanning two workers', () => {
  test('the death of the worker behind its second router resets only the people on it', async () => {
    const server = await start({ RTC_WORKERS: '2', WORKER_CONSUMER_BUDGET: '2' });
    const caps = await capabilities(server);
    const join = async (nickname: string) => {
      const c = await client(server);
      const data = await c.call('join', { roomId: 'span', nickname, rtpCapabilities: caps });
      return { c, data };
    };
    const talker = await join('Talker');
    await talker.c.call('produce', {
      transportId: talker.data.sendTransport.id,
      kind: 'audio',
      rtpParameters: opusRtpParameters(4242),
    });
    const first = [await join('L1'), await join('L2')];
    // The first worker is at its budget: the next people get a router on the second.
    const spill = [await join('S1'), await join('S2')];
    const room = server.server.rooms.get('span');
    assert.ok(room);
    assert.equal(room.routers.length, 2, 'the room spans two workers');
    const second = room.routers[1];
    assert.ok(second);
    for (const s of spill) {
      assert.equal(room.peers.get(s.data.peerId)?.router, second, `${s.data.peerId} spilled`);
    }
    const victim = server.server.workers.workers[workerIndexOf(server, second)];
    assert.ok(
      victim && victim !== server.server.workers.workers[workerIndexOf(server, room.router)],
    );

    let stayersReset = false;
    for (const m of [talker, ...first]) {
      m.c.socket.on('mediaReset', () => {
        stayersReset = true;
      });
    }
    const left = new Set<string>();
    talker.c.socket.on('peerLeft', ({ peerId }) => left.add(peerId));
    const resets = spill.map((s) => s.c.next('mediaReset', 5000));
    process.kill(victim.pid, 'SIGKILL');
    await Promise.all(resets);
    await waitFor('the others to see the reset people leave', () =>
      spill.every((s) => left.has(s.data.peerId)),
    );
    assert.equal(room.closed, false, 'the room goes on');
    assert.equal(room.routers.length, 1, 'the dead router is gone from the room');
    assert.deepEqual(
      [...room.peers.keys()].sort(),
      [talker.data.peerId, ...first.map((m) => m.data.peerId)].sort(),
    );
    for (const m of first) {
      assert.equal(
        room.peers.get(m.data.peerId)?.consumers.size,
        1,
        'the listeners on the first worker still hear the talker',
      );
    }
    assert.equal(stayersReset, false, 'nobody on the surviving worker was reset');
    // The reset people rejoin and hear the talker again.
    await waitFor('the replacement worker', () => server.server.workers.healthy);
    for (const s of spill) {
      const again = await s.c.call('join', {
        roomId: 'span',
        nickname: 'S',
        rtpCapabilities: caps,
      });
      assert.equal(again.consumers.length, 1);
    }
  });
});
