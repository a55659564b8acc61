/**
 * GhostTalk behind the Caddy of docker-compose.yml, end to end with the real caddy
 * binary: config/Caddyfile is imported unchanged behind this test's global options
 * (Caddy's own CA instead of Let's Encrypt, loopback ports, no admin endpoint), in front
 * of a real GhostTalk server with the compose file's HTTP_HOST and TRUSTED_PROXIES.
 * Clients connect from distinct loopback addresses, so what the server believes about
 * them, through Caddy's X-Forwarded-For, can be checked.
 */
import assert from 'node:assert/strict';
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { io, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import { parse as parseYaml } from 'yaml';
import {
  ensureClientBuilt,
  launchPerson,
  PEOPLE,
  type Person,
  TONES,
  waitFor,
  waitUntilHears,
} from './support/browser.ts';
import { freePort } from './support/ports.ts';
import type { ClientSocket } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { writeSineWav } from './support/wav.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY = 'caddy-proxy-admin-key-0123';

/** The ghosttalk service's environment in docker-compose.yml. */
const composeEnv = (
  parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: { ghosttalk: { environment: Record<string, string> } };
  }
).services.ghosttalk.environment;

type Caddy = {
  /** https://127.0.0.1:<port>, the site of config/Caddyfile. */
  url: string;
  port: number;
  httpPort: number;
  /** Caddy's root CA (PEM), which clients here verify the site's certificate with. */
  ca: string;
  child: ChildProcessByStdio<null, null, Readable>;
  dir: string;
  stderr: () => string;
};

async function startCaddy(upstreamPort: number): Promise<Caddy> {
  const dir = mkdtempSync(join(tmpdir(), 'ghosttalk-caddy-'));
  const port = await freePort();
  let httpPort = await freePort();
  while (httpPort === port) httpPort = await freePort();
  const config = join(dir, 'Caddyfile');
  writeFileSync(
    config,
    [
      '{',
      // No admin endpoint on :2019 (other runs may hold it), the system trust store left
      // alone, Caddy's own CA for every site as with `tls internal`, loopback ports only.
      '\tadmin off',
      '\tskip_install_trust',
      '\tlocal_certs',
      '\tdefault_bind 127.0.0.1',
      `\thttp_port ${httpPort}`,
      `\thttps_port ${port}`,
      '}',
      `import ${join(ROOT, 'config/Caddyfile')}`,
      '',
    ].join('\n'),
  );
  let stderr = '';
  const child = spawn('caddy', ['run', '--config', config, '--adapter', 'caddyfile'], {
    // Caddy keeps its CA, certificates and autosaved config under these: the test's dir.
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CONFIG_HOME: join(dir, 'config'),
      DOMAIN: '127.0.0.1',
      GHOSTTALK_PORT: String(upstreamPort),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const caddy: Caddy = {
    url: `https://127.0.0.1:${port}`,
    port,
    httpPort,
    ca: '',
    child,
    dir,
    stderr: () => stderr,
  };
  const caFile = join(dir, 'data/caddy/pki/authorities/local/root.crt');
  await waitFor(
    'Caddy to serve GhostTalk over HTTPS',
    async () => {
      if (child.exitCode !== null) return false;
      if (!existsSync(caFile)) return false;
      caddy.ca = readFileSync(caFile, 'utf8');
      return (await get(caddy, '/healthz')).status === 200;
    },
    { timeoutMs: 20_000 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${stderr}`);
  });
  return caddy;
}

async function stopCaddy(caddy: Caddy): Promise<void> {
  if (caddy.child.exitCode === null) {
    caddy.child.kill('SIGTERM');
    await once(caddy.child, 'exit');
  }
  rmSync(caddy.dir, { recursive: true, force: true });
}

type Reply = { status: number; headers: Record<string, unknown>; body: string };

/** One HTTPS request to Caddy from the loopback address `from`, Caddy's certificate verified. */
function get(
  caddy: Caddy,
  path: string,
  { method = 'GET', headers = {}, from = '127.0.0.1' } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const options = { method, headers, ca: caddy.ca, localAddress: from, agent: false };
    const req = httpsRequest(`${caddy.url}${path}`, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const sockets: ClientSocket[] = [];

/**
 * A socket.io client over wss through Caddy (or to `url`), its TCP connection from the
 * loopback address `from`. Resolves on connect or with the refusal's message.
 */
function connect(
  caddy: Caddy,
  from: string,
  { headers = {}, url = caddy.url } = {},
): Promise<{ socket: ClientSocket; error?: string }> {
  // engine.io-client hands localAddress on to ws, though its types do not list it.
  const options: Partial<ManagerOptions & SocketOptions> & { localAddress: string } = {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ca: caddy.ca,
    localAddress: from,
    extraHeaders: headers,
  };
  const socket: ClientSocket = io(url, options);
  sockets.push(socket);
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ socket }));
    socket.once('connect_error', (error) => resolve({ socket, error: error.message }));
  });
}

/** Joins `roomId` with the server's own capabilities (no media); resolves with the peer id. */
async function joinRoom(socket: ClientSocket, roomId: string, nickname: string): Promise<string> {
  const caps = await socket.timeout(5000).emitWithAck('capabilities', {});
  assert.ok(caps.ok, JSON.stringify(caps));
  const joined = await socket.timeout(5000).emitWithAck('join', {
    roomId,
    nickname,
    rtpCapabilities: caps.data.routerRtpCapabilities,
  });
  assert.ok(joined.ok, JSON.stringify(joined));
  return joined.data.peerId;
}

/** The `ip` of the "peer joined" line for `peerId` in the server's server.log. */
function loggedIp(ts: TestServer, peerId: string): Promise<string> {
  return waitFor(`a "peer joined" line for ${peerId} in server.log`, () => {
    for (const line of readFileSync(join(ts.dataDir, 'server.log'), 'utf8').split('\n')) {
      if (!line.includes(peerId)) continue;
      const entry = JSON.parse(line) as { message: string; peer?: string; ip?: string };
      if (entry.message === 'peer joined' && entry.peer === peerId) return entry.ip;
    }
    return undefined;
  });
}

describe('GhostTalk behind Caddy (config/Caddyfile, as in docker-compose.yml)', {
  timeout: 240_000,
}, () => {
  let ts: TestServer;
  let caddy: Caddy;
  const people: Person[] = [];

  before(async () => {
    ensureClientBuilt();
    assert.ok(composeEnv.TRUSTED_PROXIES && composeEnv.HTTP_HOST, 'compose sets both');
    ts = await startTestServer({
      ADMIN_KEY: KEY,
      HTTP_HOST: composeEnv.HTTP_HOST,
      TRUSTED_PROXIES: composeEnv.TRUSTED_PROXIES,
    });
    caddy = await startCaddy(ts.server.address.port);
  });

  after(
    async () => {
      for (const socket of sockets) socket.disconnect();
      await Promise.allSettled(people.map((p) => p.close()));
      if (caddy) await stopCaddy(caddy);
      await ts?.stop();
    },
    { timeout: 60_000 },
  );

  test('socket.io signaling runs over wss through Caddy; plain HTTP is redirected', async () => {
    const { socket, error } = await connect(caddy, '127.0.0.1');
    assert.equal(error, undefined, caddy.stderr());
    assert.equal(socket.io.engine.transport.name, 'websocket');
    const peerId = await joinRoom(socket, 'caddy-wss', 'Ada');
    assert.equal(ts.server.rooms.get('caddy-wss')?.peers.has(peerId), true);
    socket.disconnect();

    const redirect = await new Promise<{ status?: number; location?: string }>(
      (resolve, reject) => {
        httpRequest(`http://127.0.0.1:${caddy.httpPort}/r/caddy-wss`, { agent: false }, (res) => {
          res.resume();
          resolve({ status: res.statusCode, location: res.headers.location });
        })
          .on('error', reject)
          .end();
      },
    );
    assert.equal(redirect.status, 308);
    // To the same host and path on https (the port is left out: 443 in production).
    const location = new URL(redirect.location ?? '');
    assert.deepEqual(
      [location.protocol, location.hostname, location.pathname],
      ['https:', '127.0.0.1', '/r/caddy-wss'],
    );
  });

  test('client addresses reach GhostTalk through X-Forwarded-For: logs and bans', async () => {
    const seven = await connect(caddy, '127.0.0.7');
    assert.equal(seven.error, undefined);
    const sevenPeer = await joinRoom(seven.socket, 'caddy-xff', 'Seven');
    assert.equal(await loggedIp(ts, sevenPeer), '127.0.0.7');

    // The admin API through Caddy (from 127.0.0.1) bans 127.0.0.7: its client goes at once.
    const kicked = new Promise((resolve) => seven.socket.once('kicked', resolve));
    const gone = new Promise((resolve) => seven.socket.once('disconnect', resolve));
    const banned = await get(caddy, '/admin?action=ban&ip=127.0.0.7', {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}` },
    });
    assert.equal(banned.status, 200, banned.body);
    assert.deepEqual(JSON.parse(banned.body), { ok: true, ban: '127.0.0.7', disconnected: 1 });
    assert.deepEqual(await kicked, { reason: 'banned' });
    assert.equal(await gone, 'io server disconnect');

    // It cannot come back: not again, not claiming another address in X-Forwarded-For,
    // not straight to GhostTalk's port (only Caddy's 127.0.0.1 is believed as a proxy).
    const forged = { 'X-Forwarded-For': '198.51.100.7' };
    assert.equal((await connect(caddy, '127.0.0.7')).error, 'banned');
    assert.equal((await connect(caddy, '127.0.0.7', { headers: forged })).error, 'banned');
    const direct = await connect(caddy, '127.0.0.7', { headers: forged, url: ts.url });
    assert.equal(direct.error, 'banned');
    assert.equal((await get(caddy, '/', { from: '127.0.0.7' })).status, 403);

    // Someone else, at 127.0.0.8, still gets in, under their own address.
    const eight = await connect(caddy, '127.0.0.8');
    assert.equal(eight.error, undefined);
    const eightPeer = await joinRoom(eight.socket, 'caddy-xff', 'Eight');
    assert.equal(await loggedIp(ts, eightPeer), '127.0.0.8');
    assert.equal((await get(caddy, '/', { from: '127.0.0.8' })).status, 200);
  });

  test('Chromium on the Caddy URL hears a second person; media goes straight to the media port', {
    timeout: 180_000,
  }, async () => {
    const roomId = 'caddy-media';
    const specs = PEOPLE.slice(0, 2);
    const launched = await Promise.allSettled(
      specs.map(async ({ name, toneHz }) => {
        const fakeMicWav = await writeSineWav(join(ts.dataDir, `${name}-${toneHz}hz.wav`), toneHz);
        // Caddy's own CA is not in Chromium's trust store.
        return launchPerson({
          name,
          toneHz,
          fakeMicWav,
          extraArgs: ['--ignore-certificate-errors'],
        });
      }),
    );
    for (const result of launched) if (result.status === 'fulfilled') people.push(result.value);
    for (const result of launched) if (result.status === 'rejected') throw result.reason;

    const peerIds = new Map<string, string>();
    for (const person of people) {
      const { page } = person;
      await page.goto(`${caddy.url}/r/${roomId}`);
      await page.getByLabel('Nickname').fill(person.name);
      await page.getByRole('button', { name: 'Join', exact: true }).click();
      const self = page.getByRole('list', { name: 'Participants' }).getByRole('listitem').first();
      await self.getByText('(you)').waitFor();
      const id = await self.getAttribute('data-peer-id');
      assert.ok(id, `${person.name} has a peer id`);
      peerIds.set(person.name, id);
    }
    for (const listener of people) {
      const speakers = people
        .filter((p) => p !== listener)
        .map((p) => ({ name: p.name, toneHz: p.toneHz, peerId: peerIds.get(p.name) }));
      await waitUntilHears(listener, speakers, TONES, { timeoutMs: 20_000 }).catch(
        (error: Error) => {
          throw new Error(`${error.message}\n  console: ${listener.consoleErrors.join('; ')}`);
        },
      );
    }

    // The server's side of every transport: the media port, not Caddy's.
    const room = ts.server.rooms.get(roomId);
    assert.equal(room?.peers.size, 2);
    for (const peer of room.peers.values()) {
      for (const transport of [peer.sendTransport, peer.recvTransport]) {
        const tuple = transport.iceSelectedTuple;
        assert.ok(tuple, `${peer.nickname}: a selected ICE tuple`);
        assert.equal(tuple.localPort, ts.config.rtcUdpPort, JSON.stringify(tuple));
        assert.notEqual(tuple.remotePort, caddy.port);
        assert.equal(tuple.remoteIp, '127.0.0.1');
      }
    }
  });
});
