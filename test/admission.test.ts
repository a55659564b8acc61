/**
 * Races the server must win: simultaneous joins against MAX_PEERS and MAX_ROOMS, and a
 * join racing a new producer's fan-out in a room that spans workers (one consumer per
 * listener and producer, ever).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import type { types } from 'mediasoup';
import type { ConsumerInfo } from '../src/protocol/protocol.ts';
import { opusRtpParameters } from './support/fakeMedia.ts';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

let ts: TestServer | undefined;
const clients: SignalingClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await ts?.stop();
  ts = undefined;
});

async function start(env: Record<string, string>) {
  ts = await startTestServer(env);
  const c = await client(ts);
  const caps = (await c.call('capabilities', {})).routerRtpCapabilities;
  return { server: ts, caps };
}

async function client(server: TestServer): Promise<SignalingClient> {
  const c = await SignalingClient.connect(server.url);
  clients.push(c);
  return c;
}

async function metric(server: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const match = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
  assert.ok(match, `${name} is exported`);
  return Number(match[1]);
}

describe('server-wide caps hold under simultaneous joins', () => {
  test('MAX_PEERS: of 8 joins at once, exactly 3 get in', async () => {
    const { server, caps } = await start({ MAX_PEERS: '3' });
    const sockets = await Promise.all(Array.from({ length: 8 }, () => client(server)));
    const answers = await Promise.all(
      sockets.map((c, i) =>
        c.request('join', { roomId: `cap-${i % 2}`, nickname: `P${i}`, rtpCapabilities: caps }),
      ),
    );
    const ok = answers.filter((a) => a.ok).length;
    const busy = answers.filter((a) => !a.ok && a.error.code === 'SERVER_BUSY').length;
    assert.equal(ok, 3);
    assert.equal(busy, 5);
    assert.equal(server.server.rooms.peerCount, 3);
    // /metrics and the cap count the same thing.
    assert.equal(await metric(server, 'ghosttalk_peers'), 3);
  });

  test('MAX_ROOMS: of 6 new rooms at once, exactly 2 are made', async () => {
    const { server, caps } = await start({ MAX_ROOMS: '2' });
    const sockets = await Promise.all(Array.from({ length: 6 }, () => client(server)));
    const answers = await Promise.all(
      sockets.map((c, i) =>
        c.request('join', { roomId: `room-${i}`, nickname: `P${i}`, rtpCapabilities: caps }),
      ),
    );
    assert.equal(answers.filter((a) => a.ok).length, 2);
    assert.equal(server.server.rooms.size, 2);
    assert.equal(await metric(server, 'ghosttalk_rooms'), 2);
    // A join into a room that exists still fits.
    const more = await client(server);
    const okRoom = answers.findIndex((a) => a.ok);
    await more.call('join', { roomId: `room-${okRoom}`, nickname: 'Late', rtpCapabilities: caps });
  });
});

describe('one consumer per listener and producer', () => {
  test('a join racing a producer being piped across workers never consumes it twice', async () => {
    // Budget 2: three people fill the first worker, later ones spill to the second.
    const { server, caps } = await start({ RTC_WORKERS: '2', WORKER_CONSUMER_BUDGET: '2' });
    const duplicates: string[] = [];
    for (let trial = 0; trial < 16; trial++) {
      const roomId = `race-${trial}`;
      const join = async (nickname: string) => {
        const c = await client(server);
        const data = await c.call('join', { roomId, nickname, rtpCapabilities: caps });
        return { c, data };
      };
      const talker = await join('T');
      await talker.c.call('produce', {
        transportId: talker.data.sendTransport.id,
        kind: 'audio',
        rtpParameters: opusRtpParameters(1000 + trial),
      });
      const early = [await join('L1'), await join('L2'), await join('A')];
      const a = early[2];
      assert.ok(a);
      const room = server.server.rooms.get(roomId);
      assert.ok(room);
      const second = room.routers[1];
      assert.ok(second, 'A spilled to a router on the second worker');
      assert.equal(room.peers.get(a.data.peerId)?.router, second);

      // A starts producing (its producer is piped to the first worker) while X joins the
      // second worker's router, at a slightly different moment each trial.
      const x = await client(server);
      const pushed: ConsumerInfo[] = [];
      x.socket.on('newConsumer', (info) => pushed.push(info));
      const produced = a.c.call('produce', {
        transportId: a.data.sendTransport.id,
        kind: 'audio',
        rtpParameters: opusRtpParameters(5000 + trial),
      });
      await new Promise((r) => setTimeout(r, trial % 4));
      const xJoin = await x.call('join', { roomId, nickname: 'X', rtpCapabilities: caps });
      const { producerId } = await produced;
      await new Promise((r) => setTimeout(r, 100));
      const told = [...xJoin.consumers, ...pushed].filter((c) => c.producerId === producerId);
      const onServer = [...(room.peers.get(xJoin.peerId)?.consumers.values() ?? [])].filter(
        (c: types.Consumer) => c.producerId === producerId,
      );
      if (told.length !== 1 || onServer.length !== 1) {
        duplicates.push(`trial ${trial}: told ${told.length}, on server ${onServer.length}`);
      }
      for (const c of [talker.c, ...early.map((e) => e.c), x]) c.close();
    }
    assert.deepEqual(duplicates, []);
  });
});
