import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Socket } from 'socket.io-client';
import { loadConfig } from '../src/config/loadConfig.ts';
import { RECONNECT_BACKOFF } from '../src/protocol/limits.ts';
import { connectAs as connectTo } from './support/forwardedSocket.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

/**
 * Floods from one address while others carry on. Every socket comes from 127.0.0.1, so
 * the server trusts loopback as a proxy and each simulated client names its address in
 * X-Forwarded-For, as it would behind a reverse proxy.
 */
let ts: TestServer;
const sockets: Socket[] = [];

const connectAs = (ip: string) => connectTo(ts.url, ip, sockets);

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

describe('IPv6 and IPv4-mapped clients', () => {
  test('addresses in one /64 share the connection budget; another /64 has its own', async () => {
    const sameHost = ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2:ffff::1'];
    const results = [];
    for (let i = 0; i < 11; i++) results.push(await connectAs(sameHost[i % 3] as string));
    assert.deepEqual(
      results.map((r) => r.error ?? 'ok'),
      [...Array(10).fill('ok'), 'too many connections from your address, wait a minute'],
    );
    assert.equal((await connectAs('2001:db8:1:3::a')).error, undefined);
  });

  test('an IPv4-mapped IPv6 address counts as the IPv4 address', async () => {
    const results = [];
    for (let i = 0; i < 11; i++) {
      results.push(await connectAs(i % 2 ? '::ffff:203.0.113.9' : '203.0.113.9'));
    }
    assert.equal(results.filter((r) => !r.error).length, 10);
    assert.match(results[10]?.error ?? '', /too many connections/);
  });

  test('addresses in one /64 share the join and room-creation budgets', async () => {
    // Another /64 holds a room open, so joining it creates nothing.
    const holder = (await connectAs('2001:db8:7:2::a')).socket;
    assert.equal((await join(holder, 'v6-held')).ok, true);
    const a = (await connectAs('2001:db8:7:1::a')).socket;
    const b = (await connectAs('2001:db8:7:1::b')).socket;
    const joinAndLeave = async (socket: Socket, room: string) => {
      const result = await join(socket, room);
      await new Promise((resolve) => socket.emit('leave', {}, resolve));
      return result.ok || result.error?.code;
    };
    // 3 new rooms and 5 joins per minute, for the whole /64.
    assert.deepEqual(
      [
        await joinAndLeave(a, 'v6-1'),
        await joinAndLeave(b, 'v6-2'),
        await joinAndLeave(a, 'v6-3'),
        await joinAndLeave(b, 'v6-4'),
        await joinAndLeave(b, 'v6-held'),
        await joinAndLeave(a, 'v6-held'),
      ],
      [true, true, true, 'RATE_LIMITED', true, 'RATE_LIMITED'],
    );
    const other = (await connectAs('2001:db8:7:3::a')).socket;
    assert.equal(await joinAndLeave(other, 'v6-new'), true);
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
