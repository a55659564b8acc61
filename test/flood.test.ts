import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { loadConfig } from '../src/config/loadConfig.ts';
import { RECONNECT_BACKOFF } from '../src/protocol/limits.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

/**
 * Floods from one address while others carry on. Every socket comes from 127.0.0.1, so
 * the server trusts loopback as a proxy and each simulated client names its address in
 * X-Forwarded-For, as it would behind a reverse proxy.
 */
let ts: TestServer;
const sockets: Socket[] = [];

function connectAs(ip: string): Promise<{ socket: Socket; error?: string }> {
  const socket = io(ts.url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: { 'X-Forwarded-For': ip },
  });
  sockets.push(socket);
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ socket }));
    socket.once('connect_error', (error) => resolve({ socket, error: error.message }));
  });
}

function join(socket: Socket, roomId: string) {
  return new Promise<{ ok: boolean; error?: { code: string } }>((resolve) => {
    socket.emit('capabilities', {}, (caps: { data: { routerRtpCapabilities: unknown } }) => {
      socket.emit(
        'join',
        { roomId, nickname: 'n', rtpCapabilities: caps.data.routerRtpCapabilities },
        resolve,
      );
    });
  });
}

before(async () => {
  ts = await startTestServer({
    TRUSTED_PROXIES: 'loopback',
    CONNECTIONS_PER_MINUTE: '10',
    JOINS_PER_MINUTE: '5',
    ROOM_CREATIONS_PER_MINUTE: '3',
  });
});

after(async () => {
  for (const socket of sockets) socket.disconnect();
  await ts.stop();
});

describe('per-address limits', () => {
  test('a connection flood from one address is cut off; another address still joins', async () => {
    const results = await Promise.all(Array.from({ length: 40 }, () => connectAs('203.0.113.5')));
    const accepted = results.filter((r) => !r.error).length;
    const refused = results.filter((r) => r.error?.includes('too many connections'));
    assert.equal(accepted, 10);
    assert.equal(refused.length, 30);

    const { socket, error } = await connectAs('198.51.100.7');
    assert.equal(error, undefined);
    assert.equal((await join(socket, 'calm')).ok, true);
  });

  test('a join flood and a room-creation flood from one address are refused with RATE_LIMITED', async () => {
    const { socket } = await connectAs('192.0.2.44');
    const rooms = ['r1', 'r2', 'r3', 'r4'];
    const created = [];
    for (const room of rooms) {
      created.push(await join(socket, room));
      // One join per socket: leave to join the next room.
      await new Promise((resolve) => socket.emit('leave', {}, resolve));
    }
    assert.deepEqual(
      created.map((r) => r.ok || r.error?.code),
      [true, true, true, 'RATE_LIMITED'],
    );
    const joins = [];
    for (let i = 0; i < 3; i++) {
      joins.push(await join(socket, 'r1'));
      await new Promise((resolve) => socket.emit('leave', {}, resolve));
    }
    // 4 joins above (the refused creation counted too) + 1 = the budget of 5.
    assert.deepEqual(
      joins.map((r) => r.ok || r.error?.code),
      [true, 'RATE_LIMITED', 'RATE_LIMITED'],
    );
    const other = await connectAs('192.0.2.45');
    assert.equal((await join(other.socket, 'r1')).ok, true);
  });
});

test("the browser's reconnect backoff always fits the default per-address budgets", () => {
  const defaults = loadConfig([], { RTC_ANNOUNCED_ADDRESS: '127.0.0.1' });
  // socket.io's backoff at its fastest: each delay is the exponential step less the
  // full jitter, capped at the maximum. A client that drops at once after every
  // reconnect, for a whole minute, makes this many connections (each with one join).
  const { reconnectionDelay, reconnectionDelayMax, randomizationFactor } = RECONNECT_BACKOFF;
  let elapsed = 0;
  let attempts = 0;
  for (let n = 0; elapsed < 60_000; n++) {
    const step = reconnectionDelay * 2 ** n;
    elapsed += Math.min(step * (1 - randomizationFactor), reconnectionDelayMax);
    attempts += 1;
  }
  assert.ok(attempts <= defaults.connectionsPerMinute, `${attempts} connections a minute`);
  assert.ok(attempts <= defaults.joinsPerMinute, `${attempts} joins a minute`);
});
