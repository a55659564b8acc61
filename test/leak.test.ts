/**
 * Leak check: 1000 join/leave cycles through real signaling (a new socket.io client per
 * cycle, 20 at a time), ending every way a client can end: leave, disconnect, network
 * drop, drop and resume, drop while the join is still being answered. Afterwards the
 * worker holds no router or transport, the server no room or socket, and the Node heap
 * is back near where it started. This checks leaks, not speed: the bounds are generous.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { types } from 'mediasoup';
import { opusRtpParameters } from './support/fakeMedia.ts';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

const CYCLES = 1000;
const BATCH = 20;
const ROOMS = 7;
const HEAP_BOUND_MB = 30;

/** A full GC, with or without --expose-gc. */
const gc: () => void =
  (globalThis as { gc?: () => void }).gc ??
  (() => {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  })();

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await sleep(100);
    gc();
  }
  return process.memoryUsage().heapUsed;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** Polls `leftover` until it reports nothing left (''); fails with what is left. */
async function waitUntilEmpty(leftover: () => Promise<string>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await leftover();
    if (left === '') return;
    if (Date.now() > deadline) assert.fail(`still there after ${timeoutMs} ms: ${left}`);
    await sleep(50);
  }
}

type Ending = 'leave' | 'disconnect' | 'drop' | 'drop-resume' | 'vanish';

/** How cycle i ends, and whether it produces: a fixed mix over every 20 cycles. */
function plan(i: number): { ending: Ending; produce: boolean } {
  const slot = i % 20;
  const ending: Ending =
    slot < 7
      ? 'leave'
      : slot < 12
        ? 'disconnect'
        : slot < 17
          ? 'drop'
          : slot < 19
            ? 'drop-resume'
            : 'vanish';
  return { ending, produce: i % 3 === 0 };
}

describe('join/leave leak check', () => {
  let ts: TestServer;
  let caps: types.RtpCapabilities;
  const clients = new Set<SignalingClient>();

  before(async () => {
    ts = await startTestServer({
      RECONNECT_GRACE_MS: '50',
      ROOM_EMPTY_GRACE_MS: '0',
      ROOM_CAPACITY: '50',
    });
  });

  after(async () => {
    for (const c of clients) c.close();
    await ts?.stop();
  });

  async function connect(): Promise<SignalingClient> {
    const c = await SignalingClient.connect(ts.url);
    clients.add(c);
    return c;
  }

  function done(c: SignalingClient, how: 'close' | 'drop'): void {
    if (how === 'drop') c.socket.io.engine.close();
    else c.close();
    clients.delete(c);
  }

  async function cycle(i: number, counts: Record<string, number>): Promise<void> {
    const { ending, produce } = plan(i);
    const roomId = `leak-${i % ROOMS}`;
    const c = await connect();
    const join = { roomId, nickname: `P${i}`, rtpCapabilities: caps };
    if (ending === 'vanish') {
      // Gone while the server is still creating its transports.
      c.socket.emit('join', join as never, () => {});
      done(c, 'drop');
      counts.vanish = (counts.vanish ?? 0) + 1;
      return;
    }
    const me = await c.call('join', join);
    if (produce) {
      await c.call('produce', {
        transportId: me.sendTransport.id,
        kind: 'audio',
        rtpParameters: opusRtpParameters(1000 + i),
      });
      counts.produce = (counts.produce ?? 0) + 1;
    }
    if (me.consumers.length > 0) {
      // A consumer may close meanwhile (its producer left): NOT_FOUND is fine then.
      // Anything else, INTERNAL above all, is a server bug.
      const r = await c.request('resumeConsumers', { consumerIds: me.consumers.map((x) => x.id) });
      assert.ok(r.ok || r.error.code === 'NOT_FOUND', JSON.stringify(r));
      counts.consumed = (counts.consumed ?? 0) + me.consumers.length;
    }
    if (i % 4 === 0) await c.call('setMuted', { muted: true });
    counts[ending] = (counts[ending] ?? 0) + 1;
    switch (ending) {
      case 'leave':
        await c.call('leave', {});
        done(c, 'close');
        return;
      case 'disconnect':
        done(c, 'close');
        return;
      case 'drop':
        done(c, 'drop');
        return;
      case 'drop-resume': {
        done(c, 'drop');
        const back = await connect();
        const again = await back.call('join', {
          ...join,
          resume: { peerId: me.peerId, token: me.resumeToken },
        });
        if (again.resumed) counts.resumed = (counts.resumed ?? 0) + 1;
        await back.call('leave', {});
        done(back, 'close');
      }
    }
  }

  test(`${CYCLES} join/leave cycles leave nothing behind`, { timeout: 120_000 }, async () => {
    const started = Date.now();
    const probe = await connect();
    caps = (await probe.call('capabilities', {})).routerRtpCapabilities;
    done(probe, 'close');
    const counts: Record<string, number> = {};

    // Warm up (JIT, pools, rate-limiter maps) before the heap baseline.
    await Promise.all(Array.from({ length: BATCH }, (_, i) => cycle(i, {})));
    await sleep(300);
    const startHeap = await settledHeap();

    for (let first = 0; first < CYCLES; first += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, CYCLES - first) }, (_, k) => first + k);
      await Promise.all(batch.map((i) => cycle(i, counts)));
    }
    const cyclesMs = Date.now() - started;

    const workers = ts.server.workers.workers;
    const nsp = ts.server.io.of('/');
    await waitUntilEmpty(async () => {
      const left: string[] = [];
      for (const w of workers) {
        const { routerIds } = await w.worker.dump();
        const { webRtcTransportIds, localIceUsernameFragments } = await w.webRtcServer.dump();
        if (routerIds.length) left.push(`${routerIds.length} routers`);
        if (webRtcTransportIds.length) left.push(`${webRtcTransportIds.length} transports`);
        if (localIceUsernameFragments.length) {
          left.push(`${localIceUsernameFragments.length} ICE usernames`);
        }
      }
      if (ts.server.rooms.size) {
        const rooms = [...ts.server.rooms.values()];
        left.push(`rooms ${rooms.map((r) => `${r.id}:${r.peers.size}/${r.occupancy}`).join(' ')}`);
      }
      if (nsp.sockets.size) left.push(`${nsp.sockets.size} sockets`);
      return left.join(', ');
    }, 15_000);
    const endHeap = await settledHeap();
    const usage = await ts.worker().worker.getResourceUsage();

    console.log(`# ${CYCLES} cycles in ${cyclesMs} ms: ${JSON.stringify(counts)}`);
    console.log(
      `# heap ${mb(startHeap)} -> ${mb(endHeap)} (${mb(endHeap - startHeap)}); ` +
        `rss ${mb(process.memoryUsage().rss)}; worker maxrss ${(usage.ru_maxrss / 1024).toFixed(1)} MB; ` +
        `engine.io clients ${ts.server.io.engine.clientsCount}`,
    );
    console.log(`# worker consumer count now ${workers.map((w) => w.consumerCount).join(', ')}`);
    assert.equal(ts.worker().closed, false, 'worker alive');
    assert.ok(
      endHeap < startHeap + HEAP_BOUND_MB * 1024 * 1024,
      `heap grew from ${mb(startHeap)} to ${mb(endHeap)}`,
    );
  });
  // Found by this test: Room.produce() has other peers consume while one of them may be
  // leaving. mediasoup's transport.consume() resolves even when the transport closed
  // meanwhile, with a Consumer that is never closed, so MediaWorker.consumerCount (the
  // load that places new rooms) only ever grows.
  test("the worker's consumer count is back to 0", {
    timeout: 10_000,
  }, async () => {
    await waitUntilEmpty(async () => {
      const counts = ts.server.workers.workers.map((w) => w.consumerCount);
      return counts.some((n) => n !== 0) ? `consumer counts ${counts.join(', ')}` : '';
    }, 2000);
  });
});
