import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { types } from 'mediasoup';
import { type Browser, chromium } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import type {
  AdminClientToServerEvents,
  AdminHello,
  AdminServerToClientEvents,
} from '../src/protocol/adminProtocol.ts';
import { CHROMIUM_PATH, ensureClientBuilt, waitFor } from './support/browser.ts';
import { type ClientSocket, SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

const KEY = 'console-test-admin-key-01';
type AdminSocket = Socket<AdminServerToClientEvents, AdminClientToServerEvents>;

let ts: TestServer;
const sockets: { disconnect: () => unknown }[] = [];

function adminSocket(
  auth: Record<string, unknown>,
  headers: Record<string, string> = {},
): AdminSocket {
  const socket: AdminSocket = io(`${ts.url}/admin`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth,
    extraHeaders: headers,
  });
  sockets.push(socket);
  return socket;
}

function connectError(socket: AdminSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('connected with a bad key')));
    socket.once('connect_error', (error) => resolve(error.message));
  });
}

async function authenticated(): Promise<{ socket: AdminSocket; hello: AdminHello }> {
  const socket = adminSocket({ key: KEY });
  const hello = await new Promise<AdminHello>((resolve, reject) => {
    socket.once('hello', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, hello };
}

function nextEvent<E extends keyof AdminServerToClientEvents>(
  socket: AdminSocket,
  event: E,
  timeoutMs = 4000,
  filter: (arg: Parameters<AdminServerToClientEvents[E]>[0]) => boolean = () => true,
): Promise<Parameters<AdminServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} in ${timeoutMs} ms`)), timeoutMs);
    const s = socket as unknown as {
      on: (e: string, l: (a: never) => void) => void;
      off: (e: string, l: (a: never) => void) => void;
    };
    const listener = (arg: Parameters<AdminServerToClientEvents[E]>[0]) => {
      if (!filter(arg)) return;
      clearTimeout(timer);
      s.off(event, listener as (a: never) => void);
      resolve(arg);
    };
    s.on(event, listener as (a: never) => void);
  });
}

/** The session cookie `/admin?key=` hands out, as a Cookie header. */
async function sessionCookie(): Promise<string> {
  const response = await fetch(`${ts.url}/admin?key=${KEY}`);
  assert.equal(response.status, 200);
  const header = response.headers.getSetCookie().find((c) => c.startsWith('ghosttalk_admin='));
  assert.ok(header, 'a session cookie');
  return header.split(';')[0] as string;
}

/** A joined peer that comes (through the trusted loopback proxy) from `address`. */
async function joinedFrom(address: string, roomId: string, nickname: string) {
  const socket: ClientSocket = io(ts.url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    extraHeaders: { 'x-forwarded-for': address },
  });
  sockets.push(socket);
  const call = async (name: string, payload: unknown) => {
    const emit = socket.timeout(5000).emitWithAck as unknown as (
      name: string,
      payload: unknown,
    ) => Promise<{ ok: boolean; data: Record<string, unknown> }>;
    const response = await emit.call(socket, name, payload);
    assert.ok(response.ok, `${name} failed`);
    return response.data;
  };
  const { routerRtpCapabilities } = await call('capabilities', {});
  await call('join', { roomId, nickname, rtpCapabilities: routerRtpCapabilities });
  return socket;
}

async function joinedClient(roomId: string, nickname: string) {
  const c = await SignalingClient.connect(ts.url);
  sockets.push(c.socket);
  const { routerRtpCapabilities } = await c.call('capabilities', {});
  const data = await c.call('join', {
    roomId,
    nickname,
    rtpCapabilities: routerRtpCapabilities as types.RtpCapabilities,
  });
  return { c, data };
}

let browser: Browser | undefined;

before(async () => {
  ensureClientBuilt();
  // Loopback is a trusted proxy, so a test client can come from any address.
  ts = await startTestServer({ ADMIN_KEY: KEY, TRUSTED_PROXIES: 'loopback' });
});

after(async () => {
  await browser?.close();
  for (const s of sockets) s.disconnect();
  await ts.stop();
});

describe('admin console namespace', () => {
  test('refuses a missing or wrong key in the handshake', async () => {
    assert.equal(await connectError(adminSocket({})), 'unauthorized');
    assert.equal(await connectError(adminSocket({ key: 'wrong-wrong-wrong' })), 'unauthorized');
    assert.equal(await connectError(adminSocket({ key: 42 })), 'unauthorized');
  });

  test('the session cookie of the admin page opens the console; a forged one does not', async () => {
    const socket = adminSocket({}, { cookie: await sessionCookie() });
    const hello = await new Promise<AdminHello>((resolve, reject) => {
      socket.once('hello', resolve);
      socket.once('connect_error', reject);
    });
    assert.ok(Array.isArray(hello.rooms));
    const forged = adminSocket(
      {},
      { cookie: 'ghosttalk_admin=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    );
    assert.equal(await connectError(forged), 'unauthorized');
  });

  test('refuses a browser page from another origin', async () => {
    const socket = adminSocket({ key: KEY }, { origin: 'https://evil.example' });
    assert.match(await connectError(socket), /websocket error|origin/i);
    const same = adminSocket({ key: KEY }, { origin: ts.url });
    await new Promise<void>((resolve, reject) => {
      same.once('connect', resolve);
      same.once('connect_error', reject);
    });
  });

  test('greets with rooms, bans, stats history and recent logs', async () => {
    const { hello } = await authenticated();
    assert.deepEqual(hello.rooms, []);
    assert.deepEqual(hello.bans, []);
    assert.ok(Array.isArray(hello.stats));
    assert.ok(hello.logs.some((line) => JSON.parse(line).message === 'server listening'));
  });

  test('streams a join with the peer’s details, then its leave', async () => {
    const { socket } = await authenticated();
    const joinedEvent = nextEvent(socket, 'peerJoined', 4000, (e) => e.peer.nickname === 'Alice');
    const roomsEvent = nextEvent(socket, 'rooms', 4000, (rooms) =>
      rooms.some((r) => r.id === 'watched'),
    );
    const { c, data } = await joinedClient('watched', 'Alice');
    const event = await joinedEvent;
    assert.equal(event.roomId, 'watched');
    assert.equal(event.peer.id, data.peerId);
    assert.equal(event.peer.ip, '127.0.0.1');
    assert.equal(event.peer.muted, false);
    assert.ok(Math.abs(event.peer.joinedAt - Date.now()) < 10_000);
    assert.equal(typeof event.peer.connection.iceState, 'string');
    const rooms = await roomsEvent;
    assert.equal(rooms.find((r) => r.id === 'watched')?.peers.length, 1);

    const left = nextEvent(socket, 'peerLeft', 4000, (e) => e.peerId === data.peerId);
    c.close();
    assert.deepEqual(await left, { roomId: 'watched', peerId: data.peerId, nickname: 'Alice' });
  });

  test('kick disconnects the peer’s socket with a reason', async () => {
    const { socket } = await authenticated();
    const { c, data } = await joinedClient('kick-room', 'Bob');
    const kicked = c.next('kicked', 2000);
    const ack = await socket.timeout(2000).emitWithAck('kick', { peerId: data.peerId });
    assert.deepEqual(ack, { ok: true, data: { kicked: true } });
    assert.deepEqual(await kicked, { reason: 'removed by an operator' });
    assert.equal(ts.server.rooms.get('kick-room')?.peers.has(data.peerId) ?? false, false);
    const again = await socket.timeout(2000).emitWithAck('kick', { peerId: data.peerId });
    assert.deepEqual(again, { ok: true, data: { kicked: false } });
  });

  test('ban and unban from the console, with the list pushed to every admin', async () => {
    const { socket } = await authenticated();
    const pushed = nextEvent(socket, 'bans');
    const ack = await socket.timeout(2000).emitWithAck('ban', { ip: '192.0.2.0/24' });
    assert.deepEqual(ack, { ok: true, data: { ban: '192.0.2.0/24', disconnected: 0 } });
    assert.deepEqual(await pushed, ['192.0.2.0/24']);
    const bad = await socket.timeout(2000).emitWithAck('ban', { ip: 'nonsense' });
    assert.equal(bad.ok, false);
    const unban = await socket.timeout(2000).emitWithAck('unban', { ip: '192.0.2.0/24' });
    assert.deepEqual(unban, { ok: true, data: { removed: true } });
    assert.equal(ts.server.bans.size, 0);
  });

  test('pushes stats samples and new log lines', async () => {
    const { socket } = await authenticated();
    const sample = await nextEvent(socket, 'stats', 5000);
    assert.equal(sample.workerAlive, true);
    assert.equal(typeof sample.processRssBytes, 'number');
    assert.equal(typeof sample.peers, 'number');
    const line = nextEvent(socket, 'log', 3000, (l) => l.includes('admin banned address'));
    await socket.timeout(2000).emitWithAck('ban', { ip: '192.0.2.77' });
    const entry = JSON.parse(await line) as Record<string, unknown>;
    assert.equal(entry.ban, '192.0.2.77');
    assert.deepEqual(entry.admin, { via: 'console', ip: '127.0.0.1' });
    await socket.timeout(2000).emitWithAck('unban', { ip: '192.0.2.77' });
  });

  test('in Chromium: the key leaves the address bar, the console runs on the cookie, Ban IP is canonical', async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu'],
    });
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const status = page.locator('#status');

    await page.goto(`${ts.url}/admin?key=${KEY}`);
    await waitFor('the console to go live', async () => (await status.textContent()) === 'live');
    assert.equal(page.url(), `${ts.url}/admin`, 'no key in the address bar');
    assert.equal(await page.evaluate('document.cookie'), '', 'HttpOnly: no script sees it');
    const [cookie, ...others] = await context.cookies();
    assert.equal(others.length, 0);
    assert.equal(cookie?.name, 'ghosttalk_admin');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.secure, false);

    // A reload (no key any more) gets the page and the live console by the cookie alone.
    await page.reload();
    await waitFor('live after reload', async () => (await status.textContent()) === 'live');
    assert.equal(page.url(), `${ts.url}/admin`);

    // A peer from 2001:db8:0:0::1 is listed, and banned, as 2001:db8::1.
    const peer = await joinedFrom('2001:db8:0:0::1', 'ui-ban', 'Eve');
    const kicked = new Promise((resolve) => peer.once('kicked', resolve));
    const row = page.locator('tr', { hasText: 'Eve' });
    await row.waitFor();
    assert.equal(await row.locator('td').nth(1).textContent(), '2001:db8::1');
    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByRole('button', { name: 'Ban IP' }).click();
    assert.deepEqual(await kicked, { reason: 'banned' });
    await page.locator('#bans li', { hasText: '2001:db8::1' }).waitFor();
    assert.deepEqual(ts.server.bans.list(), ['2001:db8::1']);
    await page.locator('#bans li').getByRole('button', { name: 'Unban' }).click();
    await page.locator('#bans li', { hasText: 'Nobody is banned.' }).waitFor();
    assert.equal(ts.server.bans.size, 0);
    assert.deepEqual(errors, [], 'no CSP or script errors');
    await context.close();
  });
});
