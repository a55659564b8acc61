import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { types } from 'mediasoup';
import { io, type Socket } from 'socket.io-client';
import { BanFileError, BanList, parseBan } from '../src/admin/BanList.ts';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

const KEY = 'bans-test-admin-key-0123';
const dirs: string[] = [];
const servers: TestServer[] = [];
const clients: SignalingClient[] = [];
const clientSockets: Socket[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ghosttalk-bans-'));
  dirs.push(dir);
  return dir;
}

async function server(env: Record<string, string> = {}): Promise<TestServer> {
  const ts = await startTestServer({ ADMIN_KEY: KEY, ...env });
  servers.push(ts);
  return ts;
}

async function client(ts: TestServer): Promise<SignalingClient> {
  const c = await SignalingClient.connect(ts.url);
  clients.push(c);
  return c;
}

function ban(ts: TestServer, ip: string, action = 'ban'): Promise<Response> {
  return fetch(`${ts.url}/admin?action=${action}&ip=${encodeURIComponent(ip)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}` },
  });
}

/** Resolves with the connect_error message, or 'connected'. */
function tryConnect(url: string, headers: Record<string, string> = {}): Promise<string> {
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: headers,
  });
  return new Promise((resolve) => {
    socket.once('connect', () => {
      socket.disconnect();
      resolve('connected');
    });
    socket.once('connect_error', (error) => {
      socket.disconnect();
      resolve(error.message);
    });
  });
}

/** A connected socket (main or `/admin` namespace) claiming `address` via X-Forwarded-For. */
async function connectedFrom(url: string, address: string, auth = {}): Promise<Socket> {
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth,
    extraHeaders: { 'x-forwarded-for': address },
  });
  clientSockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return socket;
}

const disconnected = (socket: Socket) =>
  new Promise<string>((resolve) => socket.once('disconnect', resolve));

after(async () => {
  for (const s of clientSockets) s.disconnect();
  for (const c of clients) c.close();
  for (const ts of servers) await ts.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('ban list parsing', () => {
  test('addresses and ranges in canonical form; nonsense refused', () => {
    assert.equal(parseBan(' 203.0.113.7 ').text, '203.0.113.7');
    assert.equal(parseBan('::ffff:203.0.113.7').text, '203.0.113.7');
    assert.equal(parseBan('2001:DB8::1').text, '2001:db8::1');
    assert.equal(parseBan('198.51.100.0/24').text, '198.51.100.0/24');
    assert.equal(parseBan('198.51.100.9/32').text, '198.51.100.9');
    assert.equal(parseBan('2001:db8::/48').text, '2001:db8::/48');
    for (const bad of [
      '',
      'example.com',
      '1.2.3.4/33',
      '1.2.3.4/x',
      '1.2.3.4/8/8',
      '0.0.0.0/0',
      '::/0',
    ]) {
      assert.throws(() => parseBan(bad), bad);
    }
  });

  test('the predecessor formats load: plain array, map, object with bans', () => {
    const dir = tempDir();
    const file = join(dir, 'banned_ips.json');
    for (const content of [
      '["203.0.113.7", "10.1.0.0/16"]',
      '{"203.0.113.7": true, "10.1.0.0/16": true}',
      '{"bans": [{"ip": "203.0.113.7"}, "10.1.0.0/16"]}',
    ]) {
      writeFileSync(file, content);
      const list = BanList.load(file);
      assert.deepEqual(list.list(), ['203.0.113.7', '10.1.0.0/16'], content);
      assert.ok(list.isBanned('10.1.200.3'));
      assert.ok(list.isBanned('::ffff:203.0.113.7'));
      assert.equal(list.isBanned('10.2.0.1'), false);
    }
    assert.deepEqual(BanList.load(join(dir, 'missing.json')).list(), []);
  });

  test('changes are written atomically as a JSON array, no temp file left', () => {
    const dir = tempDir();
    const file = join(dir, 'banned_ips.json');
    const list = BanList.load(file);
    list.add('203.0.113.7');
    list.add('2001:db8::/32');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), ['203.0.113.7', '2001:db8::/32']);
    assert.ok(list.remove('203.0.113.7'));
    assert.equal(list.remove('203.0.113.7'), false);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), ['2001:db8::/32']);
    assert.deepEqual(readdirSync(dir), ['banned_ips.json']);
  });

  test('a corrupt or invalid file refuses to load and is left untouched', async () => {
    for (const content of ['["203.0.113.7", ', '[42]', '["not-an-ip"]', '"text"']) {
      const dir = tempDir();
      const file = join(dir, 'banned_ips.json');
      writeFileSync(file, content);
      assert.throws(
        () => BanList.load(file),
        (error: Error) => {
          assert.ok(error instanceof BanFileError);
          assert.ok(error.message.includes(file), error.message);
          return true;
        },
      );
      // The server refuses to start, before any worker or port is taken.
      await assert.rejects(startTestServer({ ADMIN_KEY: KEY, DATA_DIR: dir }), BanFileError);
      assert.equal(readFileSync(file, 'utf8'), content);
    }
  });
});

describe('bans on a live server', () => {
  test('a ban persists across a restart on the same DATA_DIR', async () => {
    const dataDir = tempDir();
    const first = await server({ DATA_DIR: dataDir });
    assert.equal((await ban(first, '203.0.113.0/24')).status, 200);
    await first.stop();
    servers.splice(servers.indexOf(first), 1);
    const second = await server({ DATA_DIR: dataDir });
    assert.ok(second.server.bans.isBanned('203.0.113.50'));
    assert.deepEqual(second.server.bans.list(), ['203.0.113.0/24']);
    assert.equal((await ban(second, '203.0.113.0/24', 'unban')).status, 200);
    assert.deepEqual(JSON.parse(readFileSync(join(dataDir, 'banned_ips.json'), 'utf8')), []);
  });

  test('banning 127.0.0.1 kicks a joined client within a second and frees its seat', async () => {
    const ts = await server();
    const c = await client(ts);
    const { routerRtpCapabilities } = await c.call('capabilities', {});
    const joined = await c.call('join', {
      roomId: 'ban-room',
      nickname: 'Mallory',
      rtpCapabilities: routerRtpCapabilities as types.RtpCapabilities,
    });
    const room = ts.server.rooms.get('ban-room');
    assert.equal(room?.peers.size, 1);
    const kicked = c.next('kicked', 1000);
    const disconnected = new Promise<string>((resolve) => c.socket.once('disconnect', resolve));
    const started = Date.now();
    const response = await ban(ts, '127.0.0.1');
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { ok: true, ban: '127.0.0.1', disconnected: 1 });
    assert.deepEqual(await kicked, { reason: 'banned' });
    assert.equal(await disconnected, 'io server disconnect');
    assert.ok(Date.now() - started < 1000);
    assert.equal(room?.peers.has(joined.peerId), false);

    // New connections and HTTP requests from the address are refused too.
    assert.equal(await tryConnect(ts.url), 'banned');
    assert.equal((await fetch(`${ts.url}/`)).status, 403);
    assert.equal((await fetch(`${ts.url}/healthz`)).status, 200, 'liveness stays open');
    // The operator is banned as well now; lift the ban from the list directly.
    assert.ok(ts.server.bans.remove('127.0.0.1'));
    assert.equal(await tryConnect(ts.url), 'connected');
  });

  test('a CIDR range covers every address inside it', async () => {
    const ts = await server();
    ts.server.bans.add('127.0.0.0/8');
    assert.equal(await tryConnect(ts.url), 'banned');
    assert.equal((await fetch(`${ts.url}/`)).status, 403);
    ts.server.bans.remove('127.0.0.0/8');
    ts.server.bans.add('127.0.1.0/24');
    assert.equal(await tryConnect(ts.url), 'connected');
    assert.equal((await fetch(`${ts.url}/healthz`)).status, 200);
  });
});

describe('bans in canonical form', () => {
  test('an IPv6 ban in any spelling is one ban, lifted by any spelling', async () => {
    const ts = await server({ TRUSTED_PROXIES: 'loopback' });
    const peer = await connectedFrom(ts.url, '2001:db8::1');
    const gone = disconnected(peer);
    const banned = await ban(ts, '2001:db8:0:0::1');
    assert.deepEqual(await banned.json(), { ok: true, ban: '2001:db8::1', disconnected: 1 });
    assert.equal(await gone, 'io server disconnect');
    assert.equal(await tryConnect(ts.url, { 'x-forwarded-for': '2001:DB8:0::1' }), 'banned');
    // Banning it again in another spelling adds nothing.
    await ban(ts, '2001:0db8::0:1');
    assert.deepEqual(ts.server.bans.list(), ['2001:db8::1']);
    const lifted = await ban(ts, '2001:db8::1', 'unban');
    assert.deepEqual(await lifted.json(), { ok: true, removed: true });
    assert.equal(ts.server.bans.size, 0);
    assert.equal(await tryConnect(ts.url, { 'x-forwarded-for': '2001:db8::1' }), 'connected');
    // And the other way round: banned short, lifted long.
    await ban(ts, '2001:db8::5');
    const long = await ban(ts, '2001:DB8:0:0:0:0:0:5', 'unban');
    assert.deepEqual(await long.json(), { ok: true, removed: true });
    assert.equal(ts.server.bans.size, 0);

    // From the console too: banned as 2001:db8:0:0::1, unbanned as 2001:db8::1.
    const consoleSocket = await connectedFrom(`${ts.url}/admin`, '198.51.100.1', { key: KEY });
    const emit = (event: string, ip: string) =>
      consoleSocket.timeout(2000).emitWithAck(event, { ip }) as Promise<Record<string, unknown>>;
    assert.deepEqual(await emit('ban', '2001:db8:0:0::1'), {
      ok: true,
      data: { ban: '2001:db8::1', disconnected: 0 },
    });
    assert.deepEqual(await emit('unban', '2001:db8::1'), { ok: true, data: { removed: true } });
    // An IPv4-mapped address is its IPv4 address.
    assert.deepEqual(await emit('ban', '::ffff:203.0.113.9'), {
      ok: true,
      data: { ban: '203.0.113.9', disconnected: 0 },
    });
    assert.equal(await tryConnect(ts.url, { 'x-forwarded-for': '203.0.113.9' }), 'banned');
    assert.deepEqual(await emit('unban', '203.0.113.9'), { ok: true, data: { removed: true } });
    assert.equal(ts.server.bans.size, 0);
  });

  test('a ban also disconnects admin consoles from that address, and only those', async () => {
    const ts = await server({ TRUSTED_PROXIES: 'loopback' });
    const inside = await connectedFrom(`${ts.url}/admin`, '203.0.113.20', { key: KEY });
    const outside = await connectedFrom(`${ts.url}/admin`, '198.51.100.20', { key: KEY });
    const gone = disconnected(inside);
    const response = await ban(ts, '203.0.113.0/24');
    assert.deepEqual(await response.json(), { ok: true, ban: '203.0.113.0/24', disconnected: 1 });
    assert.equal(await gone, 'io server disconnect');
    assert.equal(outside.connected, true);
    // And it cannot come back.
    const again = io(`${ts.url}/admin`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: { key: KEY },
      extraHeaders: { 'x-forwarded-for': '203.0.113.20' },
    });
    clientSockets.push(again);
    const refused = await new Promise<string>((resolve) => {
      again.once('connect', () => resolve('connected'));
      again.once('connect_error', (error) => resolve(error.message));
    });
    assert.notEqual(refused, 'connected');
  });
});

describe('client IP behind proxies', () => {
  const spoofed = { 'x-forwarded-for': '203.0.113.66' };

  test('X-Forwarded-For is ignored when the proxy is not trusted', async () => {
    const ts = await server();
    ts.server.bans.add('203.0.113.66');
    // The banned address in the header does not get a direct client banned...
    assert.equal((await fetch(`${ts.url}/healthz`, { headers: spoofed })).status, 200);
    assert.notEqual((await fetch(`${ts.url}/`, { headers: spoofed })).status, 403);
    assert.equal(await tryConnect(ts.url, spoofed), 'connected');
    // ...and a banned direct client cannot escape by claiming another address.
    ts.server.bans.add('127.0.0.1');
    assert.equal(
      (await fetch(`${ts.url}/`, { headers: { 'x-forwarded-for': '198.51.100.1' } })).status,
      403,
    );
    assert.equal(await tryConnect(ts.url, { 'x-forwarded-for': '198.51.100.1' }), 'banned');
  });

  test('a trusted proxy (loopback) passes the client address on, for HTTP and socket.io', async () => {
    const ts = await server({ TRUSTED_PROXIES: 'loopback' });
    ts.server.bans.add('203.0.113.66');
    assert.equal((await fetch(`${ts.url}/`, { headers: spoofed })).status, 403);
    assert.equal(await tryConnect(ts.url, spoofed), 'banned');
    // Only the right-most untrusted hop counts: a client-written left entry does not.
    const chained = { 'x-forwarded-for': '203.0.113.66, 198.51.100.1' };
    assert.equal(await tryConnect(ts.url, chained), 'connected');
    const c = await SignalingClient.connect(ts.url);
    clients.push(c);
    // The resolved address is what the session keeps.
    const sockets = [...ts.server.io.of('/').sockets.values()];
    assert.ok(sockets.every((s) => s.data.ip === '127.0.0.1'));
  });
});
