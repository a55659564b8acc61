import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Socket } from 'socket.io-client';
import { connectAs as connectTo } from './support/forwardedSocket.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { waitFor } from './support/wait.ts';

/**
 * Open signaling sockets are bounded: one address holds a few at once, and a socket
 * that is not in a room is closed. Clients name their address in X-Forwarded-For (the
 * server trusts loopback as a proxy), as in flood.test.ts.
 */
const IDLE_MS = 400;
const CAP = 3;
let ts: TestServer;
const sockets: Socket[] = [];

const connectAs = (ip: string) => connectTo(ts.url, ip, sockets);

function join(socket: Socket, roomId: string): Promise<{ ok: boolean }> {
  return new Promise((resolve) => {
    socket.emit('capabilities', {}, (caps: { data: { routerRtpCapabilities: unknown } }) => {
      socket.emit(
        'join',
        { roomId, nickname: 'n', rtpCapabilities: caps.data.routerRtpCapabilities },
        resolve,
      );
    });
  });
}

/** The server's close, or a failure well after the idle time. */
function disconnected(socket: Socket): Promise<{ reason: string; at: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server kept the socket')), IDLE_MS * 5);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve({ reason, at: Date.now() });
    });
  });
}

const serverSockets = () => ts.server.io.of('/').sockets.size;

before(async () => {
  ts = await startTestServer({
    TRUSTED_PROXIES: 'loopback',
    SOCKET_IDLE_MS: String(IDLE_MS),
    MAX_SOCKETS_PER_IP: String(CAP),
  });
});

after(async () => {
  for (const socket of sockets) socket.disconnect();
  await ts.stop();
});

describe('idle sockets', () => {
  test('a socket that never joins is closed by the server after SOCKET_IDLE_MS', async () => {
    const started = Date.now();
    const { socket, error } = await connectAs('198.51.100.1');
    assert.equal(error, undefined);
    const { reason, at } = await disconnected(socket);
    assert.equal(reason, 'io server disconnect');
    assert.ok(at - started >= IDLE_MS - 50, `closed after ${at - started} ms`);
  });

  test('a socket in a room stays; after it leaves, the idle clock starts again', async () => {
    const { socket } = await connectAs('198.51.100.2');
    assert.equal((await join(socket, 'stay')).ok, true);
    await sleep(IDLE_MS * 2.5);
    assert.equal(socket.connected, true);

    const gone = disconnected(socket);
    await new Promise((resolve) => socket.emit('leave', {}, resolve));
    const left = Date.now();
    const { reason, at } = await gone;
    assert.equal(reason, 'io server disconnect');
    assert.ok(at - left >= IDLE_MS - 50, `closed ${at - left} ms after leaving`);
  });
});

describe('open sockets per address', () => {
  test('the socket past MAX_SOCKETS_PER_IP is refused; one closing makes room for one', async () => {
    // In rooms, so the idle clock cannot close them during the test.
    const held: Socket[] = [];
    for (const ip of ['2001:db8:5:5::1', '2001:db8:5:5::2', '2001:db8:5:5::3']) {
      const { socket, error } = await connectAs(ip);
      assert.equal(error, undefined);
      assert.equal((await join(socket, 'cap')).ok, true);
      held.push(socket);
    }
    // Same /64: the same budget. Refused attempts take no slot.
    for (const ip of ['2001:db8:5:5::4', '2001:db8:5:5::1']) {
      assert.equal(
        (await connectAs(ip)).error,
        'too many open connections from your address; close other tabs',
      );
    }
    assert.equal((await connectAs('2001:db8:5:6::1')).error, undefined);

    const before = serverSockets();
    held[0]?.disconnect();
    await waitFor('the server to see the close', () => serverSockets() === before - 1);
    const again = await connectAs('2001:db8:5:5::9');
    assert.equal(again.error, undefined);
    assert.equal((await join(again.socket, 'cap')).ok, true);
    assert.match((await connectAs('2001:db8:5:5::a')).error ?? '', /too many open connections/);
  });

  test('a connection flood from one address leaves a bounded number of sockets, then none', async () => {
    await waitFor('earlier tests to be cleaned up', () => serverSockets() <= CAP + 2);
    const before = serverSockets();
    const results = await Promise.all(Array.from({ length: 50 }, () => connectAs('203.0.113.77')));
    assert.equal(results.filter((r) => !r.error).length, CAP);
    assert.ok(serverSockets() <= before + CAP, `${serverSockets()} sockets`);
    // The idle ones are closed, and their slots are free again.
    await waitFor('idle sockets to be closed', () =>
      results.every((r) => !r.socket.connected && !r.socket.active),
    );
    const next = await Promise.all(Array.from({ length: CAP }, () => connectAs('203.0.113.77')));
    assert.deepEqual(
      next.map((r) => r.error),
      Array(CAP).fill(undefined),
    );
  });
});
