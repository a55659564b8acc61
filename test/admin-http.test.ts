import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from './support/testServer.ts';

const KEY = 'admin-http-test-key-0123';
let ts: TestServer;

const admin = (query: string, init: RequestInit = {}) => fetch(`${ts.url}/admin${query}`, init);
const bearer = (key = KEY) => ({ authorization: `Bearer ${key}` });

before(async () => {
  ts = await startTestServer({ ADMIN_KEY: KEY });
});

after(async () => {
  await ts.stop();
});

describe('admin HTTP API', () => {
  test('the key in the query or as a Bearer header opens stats', async () => {
    for (const response of [
      await admin(`?key=${KEY}&action=stats`),
      await admin('?action=stats', { headers: bearer() }),
    ]) {
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('cache-control'), 'no-store');
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

  test('the admin page needs the key and is not reachable as a plain file', async () => {
    const page = await admin(`?key=${KEY}`);
    // 200 with the built page, 503 when `npm run build` has not run.
    assert.ok(page.status === 200 || page.status === 503, String(page.status));
    if (page.status === 200) assert.match(await page.text(), /<html/i);
    assert.equal((await fetch(`${ts.url}/admin.html`)).status, 404);
    const post = await admin('', { method: 'POST', headers: bearer() });
    assert.equal(post.status, 405);
  });

  test('security headers: strict CSP, Permissions-Policy, no referrer', async () => {
    const response = await fetch(`${ts.url}/`);
    const csp = response.headers.get('content-security-policy') ?? '';
    for (const directive of [
      "script-src 'self'",
      "connect-src 'self' ws: wss:",
      "media-src 'self' blob:",
      "style-src 'self'",
      "img-src 'self' data:",
      "frame-ancestors 'none'",
    ]) {
      assert.ok(csp.includes(directive), `${directive} in ${csp}`);
    }
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|upgrade-insecure-requests/);
    assert.match(response.headers.get('permissions-policy') ?? '', /microphone=\(self\)/);
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(response.headers.get('x-powered-by'), null);
  });

  test('/metrics speaks Prometheus text with the GhostTalk series', async () => {
    const response = await fetch(`${ts.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await response.text();
    for (const name of [
      'ghosttalk_rooms 0',
      'ghosttalk_peers 0',
      'ghosttalk_peer_joins_total',
      'ghosttalk_peer_leaves_total',
      'ghosttalk_worker_cpu_percent',
      'ghosttalk_worker_up 1',
      'ghosttalk_bans 0',
      'ghosttalk_errors_total',
    ]) {
      assert.ok(text.includes(name), `${name} in /metrics`);
    }
  });

  // Last: it locks 127.0.0.1 out of the admin API for this server.
  test('repeated wrong keys are rate-limited per IP, even the right key then', async () => {
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
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
  });
});
