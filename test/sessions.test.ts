/**
 * Who holds a place in a room, and for how long: the newest connection owns a place, the
 * join timeout and the reconnect grace are separate deadlines, and a bug of ours is
 * answered INTERNAL (and logged), never blamed on the client.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { types } from 'mediasoup';
import type { Room } from '../src/media/Room.ts';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { waitFor } from './support/wait.ts';

let ts: TestServer;
let caps: types.RtpCapabilities;
const clients: SignalingClient[] = [];

async function client(): Promise<SignalingClient> {
  const c = await SignalingClient.connect(ts.url);
  clients.push(c);
  return c;
}

async function joined(roomId: string, nickname: string) {
  const c = await client();
  const data = await c.call('join', { roomId, nickname, rtpCapabilities: caps });
  return { c, data };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function room(id: string): Room {
  const found = ts.server.rooms.get(id);
  assert.ok(found, `room ${id} exists`);
  return found;
}

before(async () => {
  ts = await startTestServer({ RECONNECT_GRACE_MS: '800', JOIN_TIMEOUT_MS: '1500' });
  const c = await client();
  caps = (await c.call('capabilities', {})).routerRtpCapabilities;
});

after(async () => {
  for (const c of clients) c.close();
  await ts.stop();
});

describe('a place belongs to the newest connection', () => {
  test('the old socket of a network switch closing later touches nothing', async () => {
    const a = await joined('switch', 'Ann');
    const b = await joined('switch', 'Bob');
    let bobSawLeave = false;
    b.c.socket.on('peerLeft', () => {
      bobSawLeave = true;
    });
    // Wi-Fi to LTE: the client resumes on a new socket while the old one is still open
    // as far as the server knows (it would only notice at ping timeout).
    const lte = await client();
    const back = await lte.call('join', {
      roomId: 'switch',
      nickname: 'Ann',
      rtpCapabilities: caps,
      resume: { peerId: a.data.peerId, token: a.data.resumeToken },
    });
    assert.equal(back.resumed, true);
    // Now the half-open socket finally goes, as a network drop (not a deliberate close).
    a.c.socket.io.engine.close();
    await sleep(100);
    assert.equal(room('switch').isDetached(a.data.peerId), false, 'the place is not detached');
    // Events reach the new connection...
    const muted = lte.next('peerMuted');
    await b.c.call('setMuted', { muted: true });
    assert.equal((await muted).peerId, b.data.peerId);
    // ...and requests on it work.
    await lte.call('setMuted', { muted: true });
    // Past the reconnect grace the place is still there, and nobody saw Ann leave.
    await sleep(1200);
    assert.ok(room('switch').peers.has(a.data.peerId), 'Ann is still in the room');
    assert.equal(bobSawLeave, false);
  });

  test('the displaced connection can no longer act for the place', async () => {
    const a = await joined('displaced', 'Ann');
    const other = await client();
    await other.call('join', {
      roomId: 'displaced',
      nickname: 'Ann',
      rtpCapabilities: caps,
      resume: { peerId: a.data.peerId, token: a.data.resumeToken },
    });
    await waitFor('the old socket to be closed', () => !a.c.socket.connected);
    assert.ok(room('displaced').peers.has(a.data.peerId));
  });
});

describe('join timeout and reconnect grace are separate deadlines', () => {
  test('a drop and resume before media ever connected does not cancel the join timeout', async () => {
    const a = await joined('never-connects', 'Ann');
    await sleep(200);
    a.c.socket.io.engine.close(); // drop: the grace timer starts
    await waitFor('the place to be detached', () =>
      room('never-connects').isDetached(a.data.peerId),
    );
    const back = await client();
    const kicked = back.next('kicked', 4000);
    const again = await back.call('join', {
      roomId: 'never-connects',
      nickname: 'Ann',
      rtpCapabilities: caps,
      resume: { peerId: a.data.peerId, token: a.data.resumeToken },
    });
    assert.equal(again.resumed, true);
    // No media ever connects: the join timeout (1.5 s from the first join) still applies.
    assert.match((await kicked).reason, /did not come up in time/);
    await waitFor('the seat to be released', () => !ts.server.rooms.get('never-connects'));
  });

  test('a dropped place is still removed after the grace period', async () => {
    const a = await joined('grace', 'Ann');
    const b = await joined('grace', 'Bob');
    const left = b.c.next('peerLeft', 3000);
    a.c.socket.io.engine.close();
    assert.equal((await left).peerId, a.data.peerId);
  });
});

describe('our own bugs are ours', () => {
  test('an unexpected TypeError is INTERNAL to the client, logged with its stack and counted', async () => {
    const a = await joined('bug', 'Ann');
    const target = room('bug');
    const errorsBefore = await errorCount();
    // A failure we can cause: a bug of ours (a TypeError deep in a handler).
    const original = target.setMuted;
    target.setMuted = async () => {
      const broken = undefined as unknown as { muted: boolean };
      broken.muted = true;
    };
    try {
      const response = await a.c.request('setMuted', { muted: true });
      assert.equal(response.ok, false);
      assert.ok(!response.ok);
      assert.equal(response.error.code, 'INTERNAL');
      assert.equal(response.error.message, 'internal error', 'no internals leak to the client');
    } finally {
      target.setMuted = original;
    }
    await waitFor('the log line', () => logLines().some((l) => l.message === 'request failed'));
    const line = logLines().find((l) => l.message === 'request failed');
    assert.equal(line?.level, 'error');
    assert.equal(line?.event, 'setMuted');
    assert.match(String(line?.stack), /TypeError/);
    assert.equal(await errorCount(), errorsBefore + 1);
    // Validation failures stay the client's.
    const bad = await a.c.request('setMuted', { muted: 'yes' });
    assert.ok(!bad.ok);
    assert.equal(bad.error.code, 'BAD_REQUEST');
  });
});

function logLines(): Array<Record<string, unknown>> {
  return readFileSync(join(ts.dataDir, 'server.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function errorCount(): Promise<number> {
  const text = await (await fetch(`${ts.url}/metrics`)).text();
  const match = /^ghosttalk_errors_total (\d+)/m.exec(text);
  assert.ok(match, 'ghosttalk_errors_total is exported');
  return Number(match[1]);
}
