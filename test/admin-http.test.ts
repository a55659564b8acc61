import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, mock, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseSetCookie, type SetCookie } from 'cookie';
import type { types } from 'mediasoup';
import { AdminAuth } from '../src/admin/AdminAuth.ts';
import { ensureClientBuilt, waitFor } from './support/browser.ts';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

const KEY = 'admin-http-test-key-0123';
const ORIGINS = ['https://app.example.com', 'http://lan.example:8080'];
const CLIENT_DIR = fileURLToPath(new URL('../dist/client', import.meta.url));
let ts: TestServer;
/** Behind a trusted proxy (loopback), with extra origins. */
let proxied: TestServer;
const clients: SignalingClient[] = [];

const admin = (query: string, init: RequestInit = {}, server = ts) =>
  fetch(`${server.url}/admin${query}`, init);
const bearer = (key = KEY) => ({ authorization: `Bearer ${key}` });

/** The session cookie a response set, parsed. */
function sessionCookie(response: Response): SetCookie | undefined {
  return response.headers
    .getSetCookie()
    .map((header) => parseSetCookie(header))
    .find((cookie) => cookie.name === 'ghosttalk_admin');
}

/** A GET with the path sent exactly as written (fetch would normalise `/./` and `//`). */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${ts.url}/`, { path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** One sample's value in /metrics (Prometheus text format), labels left out. */
async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${ts.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

async function joined(roomId: string, nickname: string, e2ee = false): Promise<SignalingClient> {
  const c = await SignalingClient.connect(ts.url);
  clients.push(c);
  const { routerRtpCapabilities } = await c.call('capabilities', {});
  await c.call('join', {
    roomId,
    nickname,
    rtpCapabilities: routerRtpCapabilities as types.RtpCapabilities,
    e2ee,
  });
  return c;
}

before(async () => {
  // The page tests need the built admin page (`npm test` builds first).
  ensureClientBuilt();
  ts = await startTestServer({ ADMIN_KEY: KEY });
  proxied = await startTestServer({
    ADMIN_KEY: KEY,
    TRUSTED_PROXIES: 'loopback',
    ALLOWED_ORIGINS: ORIGINS.join(','),
  });
});

after(async () => {
  for (const c of clients) c.close();
  await ts.stop();
  await proxied.stop();
});

describe('admin lockout (AdminAuth)', () => {
  // rate-limiter-flexible keeps time with Date.now() and setTimeout: both mocked.
  beforeEach(() => mock.timers.enable({ apis: ['Date', 'setTimeout'] }));
  afterEach(() => mock.timers.reset());

  const options = { key: KEY, maxFailures: 3, firstBlockSeconds: 60, maxBlockSeconds: 240 };
  /** Wrong keys until the address is blocked; returns the block's length in seconds. */
  async function lockOut(auth: AdminAuth, ip: string): Promise<number> {
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await auth.authenticate(ip, { key: `wrong-${i}` }), {
        ok: false,
        reason: 'wrong',
      });
    }
    const result = await auth.authenticate(ip, { key: 'wrong-again' });
    assert.equal(result.ok === false && result.reason, 'limited');
    return result.ok === false && result.reason === 'limited' ? result.retryAfterSeconds : 0;
  }

  test('blocks double with each lockout up to a cap, then the right key gets in', async () => {
    const auth = new AdminAuth(options);
    const ip = '198.51.100.7';
    const blocks: number[] = [];
    for (let i = 0; i < 4; i++) {
      const seconds = await lockOut(auth, ip);
      blocks.push(seconds);
      const during = await auth.authenticate(ip, { key: KEY });
      assert.equal(during.ok, false, 'even the right key waits out the block');
      mock.timers.tick(seconds * 1000 + 1);
    }
    assert.deepEqual(blocks, [60, 120, 240, 240]);
    assert.deepEqual(await auth.authenticate(ip, { key: KEY }), { ok: true, via: 'key' });
    // Success forgot the history: the next lockout is a short one again.
    assert.equal(await lockOut(auth, ip), 60);
  });

  test('the right key resets the count of wrong ones', async () => {
    const auth = new AdminAuth(options);
    const ip = '198.51.100.8';
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) {
        assert.equal((await auth.authenticate(ip, { key: 'nope-nope' })).ok, false);
      }
      assert.deepEqual(await auth.authenticate(ip, { key: KEY }), { ok: true, via: 'key' });
    }
  });

  test('addresses are counted in canonical form, IPv6 per /64', async () => {
    const auth = new AdminAuth(options);
    await lockOut(auth, '::ffff:203.0.113.9');
    const v4 = await auth.authenticate('203.0.113.9', { key: KEY });
    assert.equal(v4.ok === false && v4.reason, 'limited');
    await lockOut(auth, '2001:db8:0:0:0:0:0:1');
    const sameNet = await auth.authenticate('2001:db8::ffff', { key: KEY });
    assert.equal(sameNet.ok === false && sameNet.reason, 'limited');
    assert.equal((await auth.authenticate('2001:db8:0:1::1', { key: KEY })).ok, true);
  });

  test('a live session still works while its address is blocked', async () => {
    const auth = new AdminAuth(options);
    const session = auth.sessions.open();
    await lockOut(auth, '198.51.100.9');
    assert.deepEqual(await auth.authenticate('198.51.100.9', { session }), {
      ok: true,
      via: 'session',
    });
    assert.deepEqual(await auth.authenticate('198.51.100.9', { session: 'made-up' }), {
      ok: false,
      reason: 'missing',
    });
    mock.timers.tick(auth.sessions.ttlSeconds * 1000 + 1);
    assert.equal((await auth.authenticate('198.51.100.9', { session })).ok, false, 'expired');
  });
});

describe('admin HTTP API', () => {
  test('the key in the query or as a Bearer header opens stats', async () => {
    for (const response of [
      await admin(`?key=${KEY}&action=stats`),
      await admin('?action=stats', { headers: bearer() }),
    ]) {
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      assert.equal(sessionCookie(response), undefined, 'scripts get no cookie');
      const stats = (await response.json()) as Record<string, unknown>;
      assert.equal(stats.roomCount, 0);
      assert.equal(stats.peerCount, 0);
      assert.deepEqual(stats.rooms, []);
      assert.equal(typeof stats.uptimeSeconds, 'number');
      const worker = stats.worker as Record<string, unknown>;
      assert.equal(worker.alive, true);
      assert.deepEqual(worker.pids, [ts.worker().pid]);
      assert.equal(typeof (stats.process as Record<string, unknown>).rssBytes, 'number');
    }
  });

  test('stats say which rooms are end-to-end encrypted', async () => {
    const sealed = await joined('admin-sealed', 'Ann', true);
    const open = await joined('admin-open', 'Bob');
    const stats = (await (await admin('?action=stats', { headers: bearer() })).json()) as {
      rooms: { id: string; encrypted: boolean }[];
    };
    const flags = Object.fromEntries(stats.rooms.map((r) => [r.id, r.encrypted]));
    assert.deepEqual(flags, { 'admin-sealed': true, 'admin-open': false });
    await Promise.all([sealed.call('leave', {}), open.call('leave', {})]);
    await waitFor('the rooms to close', () => ts.server.rooms.size === 0);
  });

  test('a missing key gets 401, a wrong one 403, with no detail', async () => {
    const missing = await admin('?action=stats');
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal(await missing.text(), 'Unauthorized');
    for (const response of [
      await admin('?key=wrong-key-wrong-key&action=stats'),
      await admin('?action=stats', { headers: bearer(`${KEY}x`) }),
      await admin('?action=stats', { headers: bearer(KEY.slice(0, -1)) }),
    ]) {
      assert.equal(response.status, 403);
      assert.equal(await response.text(), 'Forbidden');
    }
    const noPage = await admin('?key=nope-nope-nope');
    assert.equal(noPage.status, 403);
    assert.equal(sessionCookie(noPage), undefined);
  });

  test('logs returns the recent lines, parsed', async () => {
    const response = await admin('?action=logs', { headers: bearer() });
    assert.equal(response.status, 200);
    const { lines } = (await response.json()) as { lines: Record<string, unknown>[] };
    assert.ok(lines.length >= 1 && lines.length <= 100);
    assert.ok(lines.some((l) => l.message === 'server listening'));
    for (const line of lines) {
      assert.equal(typeof line.timestamp, 'string');
      assert.equal(typeof line.level, 'string');
    }
  });

  test('ban and unban are POST only; GET gets 405 and changes nothing', async () => {
    const get = await admin('?action=ban&ip=198.51.100.7', { headers: bearer() });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    assert.equal(ts.server.bans.size, 0);
    const unbanGet = await admin('?action=unban&ip=198.51.100.7', { headers: bearer() });
    assert.equal(unbanGet.status, 405);

    const post = await admin('?action=ban&ip=198.51.100.7', { method: 'POST', headers: bearer() });
    assert.equal(post.status, 200);
    assert.deepEqual(await post.json(), { ok: true, ban: '198.51.100.7', disconnected: 0 });
    assert.ok(ts.server.bans.isBanned('198.51.100.7'));

    // The address may also come in a form body, as a browser form would send it.
    const unban = await admin('?action=unban', {
      method: 'POST',
      headers: { ...bearer(), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'ip=198.51.100.7',
    });
    assert.deepEqual(await unban.json(), { ok: true, removed: true });
    assert.equal(ts.server.bans.isBanned('198.51.100.7'), false);

    const wrongKeyBan = await admin('?action=ban&ip=198.51.100.8', {
      method: 'POST',
      headers: bearer('not-the-key-at-all'),
    });
    assert.equal(wrongKeyBan.status, 403);
    assert.equal(ts.server.bans.size, 0);
  });

  test('bad input: no ip, not an ip, too wide a range, unknown action, oversized body', async () => {
    const post = (query: string, init: RequestInit = {}) =>
      admin(query, { method: 'POST', ...init, headers: { ...bearer(), ...init.headers } });
    assert.equal((await post('?action=ban')).status, 400);
    const notIp = await post('?action=ban&ip=example.com');
    assert.equal(notIp.status, 400);
    assert.match(((await notIp.json()) as { error: string }).error, /not an IP/);
    assert.equal((await post('?action=ban&ip=10.0.0.0/4')).status, 400);
    assert.equal((await post('?action=frobnicate')).status, 400);
    const big = await post('?action=ban', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ip: 'x'.repeat(20_000) }),
    });
    assert.equal(big.status, 413);
    assert.equal(ts.server.bans.size, 0);
  });

  test('the page, opened with the key, hands out an HttpOnly SameSite=Strict session', async () => {
    const page = await admin(`?key=${KEY}`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>GhostTalk admin<\/title>/);
    const cookie = sessionCookie(page);
    assert.ok(cookie?.value && cookie.value.length >= 40, 'a random session id');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'strict');
    assert.equal(cookie.path, '/');
    assert.equal(cookie.secure, undefined, 'plain HTTP: no Secure');
    assert.ok((cookie.maxAge ?? 0) > 0);
    const headers = { cookie: `ghosttalk_admin=${cookie.value}` };

    // The cookie alone opens the page again (a reload, once the key left the URL)...
    const reload = await admin('', { headers });
    assert.equal(reload.status, 200);
    assert.equal(sessionCookie(reload), undefined, 'no new session for a session');
    // ...and the API, POST included.
    assert.equal((await admin('?action=stats', { headers })).status, 200);
    const post = await admin('?action=ban&ip=198.51.100.70', { method: 'POST', headers });
    assert.equal(post.status, 200);
    assert.ok(ts.server.bans.remove('198.51.100.70'));
    // A made-up or stale id is no key.
    const forged = await admin('?action=stats', { headers: { cookie: 'ghosttalk_admin=forged' } });
    assert.equal(forged.status, 401);
    assert.equal((await admin('', { headers: { cookie: 'ghosttalk_admin=' } })).status, 401);

    assert.equal((await admin('', { method: 'POST', headers: bearer() })).status, 405);
  });

  test('over HTTPS (a trusted proxy says so) the session cookie is Secure', async () => {
    const viaTls = await admin(
      `?key=${KEY}`,
      { headers: { 'x-forwarded-proto': 'https' } },
      proxied,
    );
    assert.equal(viaTls.status, 200);
    assert.equal(sessionCookie(viaTls)?.secure, true);
    const plain = await admin(`?key=${KEY}`, {}, proxied);
    assert.equal(sessionCookie(plain)?.secure, undefined);
    // An untrusted client cannot claim HTTPS (harmless, but the header is not believed).
    const spoofed = await admin(`?key=${KEY}`, { headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(sessionCookie(spoofed)?.secure, undefined);
  });

  test('no spelling of the hidden page path reaches the file', async () => {
    for (const path of [
      '/admin.html',
      '/%61dmin.html',
      '/admin%2Ehtml',
      '/admin%2ehtml',
      '/ADMIN.html',
      '/admin.HTML',
      '//admin.html',
      '/admin.html/',
      '/./admin.html',
      '/%2e/admin.html',
      '/assets/../admin.html',
      '/assets/%2e%2e/admin.html',
      '/assets%2f..%2fadmin.html',
      '/admin.htm',
      '/index.html',
    ]) {
      const { status, body } = await rawGet(path);
      assert.equal(status, 404, path);
      assert.equal(body, 'Not Found', path);
    }
    // What the pages need is still there.
    const adminHtml = readFileSync(join(CLIENT_DIR, 'admin.html'), 'utf8');
    const script = /src="(\/assets\/admin-[\w-]+\.js)"/.exec(adminHtml)?.[1];
    assert.ok(script, 'admin script in the built page');
    for (const path of ['/', '/r/some-room', script, '/favicon.svg']) {
      assert.equal((await rawGet(path)).status, 200, path);
    }
  });

  test('CSP: connect-src is self plus the allowed origins and their WebSocket twins', async () => {
    const directives = async (server: TestServer) => {
      const csp = (await fetch(`${server.url}/`)).headers.get('content-security-policy') ?? '';
      return new Map(
        csp.split(';').map((d) => {
          const [name = '', ...values] = d.trim().split(/\s+/);
          return [name, values.join(' ')];
        }),
      );
    };
    const plain = await directives(ts);
    assert.equal(plain.get('connect-src'), "'self'");
    assert.equal(plain.get('script-src'), "'self'");
    assert.equal(plain.get('media-src'), "'self' blob:");
    assert.equal(plain.get('style-src'), "'self'");
    assert.equal(plain.get('img-src'), "'self' data:");
    assert.equal(plain.get('frame-ancestors'), "'none'");
    assert.equal(plain.get('object-src'), "'none'");
    assert.equal(plain.has('upgrade-insecure-requests'), false);
    assert.equal(
      (await directives(proxied)).get('connect-src'),
      "'self' https://app.example.com wss://app.example.com http://lan.example:8080 ws://lan.example:8080",
    );
    const response = await fetch(`${ts.url}/`);
    assert.doesNotMatch(response.headers.get('content-security-policy') ?? '', /unsafe-/);
    assert.match(response.headers.get('permissions-policy') ?? '', /microphone=\(self\)/);
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(response.headers.get('x-powered-by'), null);
  });

  test('/metrics values follow joins, leaves, rooms and bans', async () => {
    const response = await fetch(`${ts.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await metric('ghosttalk_worker_up'), 1);
    assert.equal(await metric('ghosttalk_rooms'), 0);
    assert.equal(await metric('ghosttalk_peers'), 0);
    const joins = await metric('ghosttalk_peer_joins_total');
    const leaves = await metric('ghosttalk_peer_leaves_total');
    const created = await metric('ghosttalk_rooms_created_total');

    const a = await joined('metrics-room', 'Ann');
    await joined('metrics-room', 'Ben');
    await joined('other-room', 'Cat');
    assert.equal(await metric('ghosttalk_peers'), 3);
    assert.equal(await metric('ghosttalk_rooms'), 2);
    assert.equal(await metric('ghosttalk_peer_joins_total'), joins + 3);
    assert.equal(await metric('ghosttalk_rooms_created_total'), created + 2);

    a.close();
    await waitFor('a leave', async () => (await metric('ghosttalk_peers')) === 2);
    assert.equal(await metric('ghosttalk_peer_leaves_total'), leaves + 1);

    assert.equal(await metric('ghosttalk_bans'), 0);
    await admin('?action=ban&ip=198.51.100.0/24', { method: 'POST', headers: bearer() });
    assert.equal(await metric('ghosttalk_bans'), 1);
    await admin('?action=unban&ip=198.51.100.0/24', { method: 'POST', headers: bearer() });
    assert.equal(await metric('ghosttalk_bans'), 0);
    for (const c of clients) c.close();
    await waitFor('everyone gone', async () => (await metric('ghosttalk_peers')) === 0);
  });

  // Last: it locks 127.0.0.1 out of the admin API for this server.
  test('repeated wrong keys are rate-limited per IP, even the right key then', async () => {
    const session = sessionCookie(await admin(`?key=${KEY}`))?.value;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push(
        (await admin('?action=stats', { headers: bearer(`wrong-key-${i}-xxxx`) })).status,
      );
    }
    assert.ok(statuses.includes(403));
    assert.equal(statuses.at(-1), 429);
    const locked = await admin('?action=stats', { headers: bearer() });
    assert.equal(locked.status, 429);
    const retryAfter = Number(locked.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 60, `first block is short: ${retryAfter}`);
    // The operator's open console session is not locked out with the guesser.
    const console = await admin('?action=stats', {
      headers: { cookie: `ghosttalk_admin=${session}` },
    });
    assert.equal(console.status, 200);
  });
});
