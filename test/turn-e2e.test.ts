/**
 * TURN end to end with real components only: Debian's coturn on 127.0.0.1, the GhostTalk
 * server with TURN settings and ICE_TRANSPORT_POLICY=relay (so browsers may use nothing
 * but relay candidates), and three Chromium processes with fake microphones playing
 * different tones. Once with static credentials, once with TURN_SECRET (minted per peer);
 * then with a secret coturn does not know and with a relay that never answers, both of
 * which must end in a clear error on the page within a bounded time, not a silent room.
 * The shipped production coturn config is checked by reading it and by running it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { iceServersFor, mintTurnCredentials } from '../src/signaling/iceServers.ts';
import {
  describeSpectra,
  type ElementSpectrum,
  ensureClientBuilt,
  heardLevel,
  launchPeople,
  PEOPLE,
  type Person,
  remoteSpectra,
  TONES,
  waitFor,
} from './support/browser.ts';
import {
  type Coturn,
  type CoturnAuth,
  startCoturn,
  startCoturnFromExample,
} from './support/coturn.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLE = join(ROOT, 'config/turnserver.conf.example');
const UCLIENT = '/usr/bin/turnutils_uclient';

const TTL_SECONDS = 3600;
/** MEDIA_CONNECT_TIMEOUT_MS in client/src/media/transportLink.ts (a DOM module the Node tests do not import). */
const MEDIA_CONNECT_TIMEOUT_MS = 20_000;

// ---------------------------------------------------------------------------
// In the page (init script): every RTCPeerConnection with the configurations it was
// given (constructor and setConfiguration), so the test sees what the client passed on.

type IceServerSeen = { urls: string | string[]; username?: string; credential?: string };
type ConfigSeen = { iceServers?: IceServerSeen[]; iceTransportPolicy?: string };
type PcRecord = { configs: ConfigSeen[]; pc: { connectionState: string } };
type RecorderGlobals = {
  RTCPeerConnection: new (
    ...args: unknown[]
  ) => {
    setConfiguration(config: ConfigSeen): void;
  };
  __gtPcs?: PcRecord[];
};

function installPeerConnectionRecorder(): void {
  const g = globalThis as unknown as RecorderGlobals;
  const Native = g.RTCPeerConnection;
  const records: PcRecord[] = [];
  g.__gtPcs = records;
  const copy = (config: unknown) => JSON.parse(JSON.stringify(config ?? {})) as ConfigSeen;
  g.RTCPeerConnection = class extends Native {
    constructor(...args: unknown[]) {
      super(...args);
      records.push({
        configs: [copy(args[0])],
        pc: this as unknown as PcRecord['pc'],
      });
    }
    override setConfiguration(config: ConfigSeen): void {
      records.find((r) => r.pc === (this as unknown))?.configs.push(copy(config));
      super.setConfiguration(config);
    }
  };
}

type PcSummary = { state: string; configs: ConfigSeen[]; localCandidateType?: string };

/** Each live peer connection: its configurations and the selected pair's local candidate type. */
async function peerConnections(page: Page): Promise<PcSummary[]> {
  return page.evaluate(async () => {
    type Stat = Record<string, unknown>;
    type Pc = { connectionState: string; getStats(): Promise<Map<string, Stat>> };
    const records = (globalThis as unknown as { __gtPcs?: { configs: unknown[]; pc: Pc }[] })
      .__gtPcs;
    const out = [];
    for (const { configs, pc } of records ?? []) {
      if (pc.connectionState === 'closed') continue;
      const report = await pc.getStats();
      const all = [...report.values()];
      const transport = all.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
      const pair =
        (transport && report.get(transport.selectedCandidatePairId as string)) ??
        all.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
      const local = pair && report.get(pair.localCandidateId as string);
      out.push({
        state: pc.connectionState,
        configs: configs as ConfigSeen[],
        localCandidateType: local?.candidateType as string | undefined,
      });
    }
    return out;
  });
}

// ---------------------------------------------------------------------------

function newSecret(): string {
  return randomBytes(24).toString('base64url');
}

describe('TURN end to end: relay-only browsers through coturn', { timeout: 150_000 }, () => {
  let tmp: string;
  const people: Person[] = [];
  /** Signaling frames each person's page received (socket.io over WebSocket). */
  const frames = new Map<string, string[]>();
  let coturn: Coturn | undefined;
  let app: TestServer | undefined;

  before(
    async () => {
      ensureClientBuilt();
      tmp = await mkdtemp(join(tmpdir(), 'ghosttalk-turn-e2e-'));
      await launchPeople(PEOPLE, tmp, people);
      for (const p of people) {
        await p.page.addInitScript(installPeerConnectionRecorder);
        const received: string[] = [];
        frames.set(p.name, received);
        p.page.on('websocket', (ws) =>
          ws.on('framereceived', ({ payload }) => received.push(String(payload))),
        );
      }
    },
    { timeout: 60_000 },
  );

  /** Pages leave the old server before it stops, so nothing reconnects to a dead port. */
  async function stopScenario(): Promise<void> {
    await Promise.allSettled(people.map((p) => p.page.goto('about:blank')));
    await app?.stop().catch(() => undefined);
    await coturn?.stop().catch(() => undefined);
    app = undefined;
    coturn = undefined;
    for (const list of frames.values()) list.length = 0;
  }

  after(
    async () => {
      await stopScenario();
      await Promise.allSettled(people.map((p) => p.close()));
      if (tmp) await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    },
    { timeout: 30_000 },
  );

  async function startScenario(auth: CoturnAuth, env: (c: Coturn) => Record<string, string>) {
    await stopScenario();
    coturn = await startCoturn(auth);
    app = await startTestServer({ ICE_TRANSPORT_POLICY: 'relay', ...env(coturn) });
    return { coturn, app };
  }

  /** Joins through the UI; returns the peer id the page shows for itself. */
  async function joinRoom(p: Person, url: string): Promise<string> {
    await p.page.goto(url);
    await p.page.getByLabel('Nickname').fill(p.name);
    await p.page.getByRole('button', { name: 'Join', exact: true }).click();
    const self = p.page.getByRole('list', { name: 'Participants' }).getByRole('listitem').first();
    await self.getByText('(you)').waitFor();
    const id = await self.getAttribute('data-peer-id');
    assert.ok(id, `${p.name} has a peer id`);
    return id;
  }

  /**
   * Everyone joins one room, hears both others (tone analysis), and every connected peer
   * connection, as the network panel says too, runs over a relay candidate.
   */
  async function everyoneTalksThroughTheRelay(url: string): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    for (const p of people) ids.set(p.name, await joinRoom(p, url));

    for (const listener of people) {
      const others = people.filter((o) => o !== listener);
      let last: ElementSpectrum[] = [];
      await waitFor(
        `${listener.name} to hear ${others.map((o) => o.name).join(' and ')} through the relay`,
        async () => {
          last = await remoteSpectra(listener.page, TONES);
          return others.every(
            (o) => heardLevel(last, ids.get(o.name) as string, o.toneHz) !== undefined,
          );
        },
        { timeoutMs: 15_000, intervalMs: 200 },
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n  spectra: ${describeSpectra(last)}`);
      });
      console.log(`# ${listener.name} hears (relayed): ${describeSpectra(last)}`);
    }

    for (const p of people) {
      const stats = p.page.locator('.stats');
      await waitFor(`${p.name}'s network panel to show the relayed path`, async () => {
        return (await stats.getAttribute('data-candidate-type')) === 'relay';
      });
      assert.equal(await stats.getAttribute('data-path'), 'relay');
      await stats.getByText('Relayed (TURN)').waitFor();
      const pcs = await peerConnections(p.page);
      const connected = pcs.filter((pc) => pc.state === 'connected');
      assert.equal(connected.length, 2, `${p.name} sends and receives: ${JSON.stringify(pcs)}`);
      for (const pc of connected) {
        assert.equal(pc.localCandidateType, 'relay', `${p.name}'s selected pair is relayed`);
        assert.equal(pc.configs[0]?.iceTransportPolicy, 'relay');
      }
    }
    return ids;
  }

  /**
   * Ada clicks Join; the page must replace the room with the "Could not connect audio"
   * explanation within `withinMs`, not sit in a silent room. Returns the time it took.
   */
  async function joinExpectingMediaError(url: string, detail: RegExp, withinMs = 10_000) {
    const { page } = people[0] as Person;
    await page.goto(url);
    await page.getByLabel('Nickname').fill('Ada');
    const clicked = Date.now();
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await page
      .getByRole('heading', { name: 'Could not connect audio' })
      .waitFor({ timeout: withinMs });
    const ms = Date.now() - clicked;
    const alert = (await page.getByRole('alert').textContent()) ?? '';
    assert.match(alert, /relay \(TURN\) may be unreachable or refusing credentials/);
    assert.match(alert, detail);
    await page.getByRole('button', { name: 'Rejoin' }).waitFor();
    return ms;
  }

  test('the production coturn example uses REST secrets and cannot reach internal networks', () => {
    const text = readFileSync(EXAMPLE, 'utf8');
    const lines = text.split('\n').map((l) => l.trim());
    const active = lines.filter((l) => l && !l.startsWith('#'));
    for (const line of [
      'use-auth-secret',
      'fingerprint',
      'no-multicast-peers',
      'no-cli',
      'denied-peer-ip=0.0.0.0-0.255.255.255',
      'denied-peer-ip=10.0.0.0-10.255.255.255',
      'denied-peer-ip=100.64.0.0-100.127.255.255',
      'denied-peer-ip=127.0.0.0-127.255.255.255',
      'denied-peer-ip=169.254.0.0-169.254.255.255',
      'denied-peer-ip=172.16.0.0-172.31.255.255',
      'denied-peer-ip=192.168.0.0-192.168.255.255',
      'denied-peer-ip=::1',
      'denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      'denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    ]) {
      assert.ok(active.includes(line), `example has "${line}"`);
    }
    for (const prefix of ['static-auth-secret=', 'realm=', 'min-port=', 'max-port=']) {
      assert.ok(
        active.some((l) => l.startsWith(prefix)),
        `example sets ${prefix}`,
      );
    }
    assert.ok(!/allow-loopback-peers/.test(text), 'never allow-loopback-peers');
    assert.ok(!active.includes('lt-cred-mech'), 'no static users in the production example');
    assert.ok(!active.some((l) => l.startsWith('user=')), 'no static users');
    assert.ok(
      !active.some((l) => l.startsWith('cert=')),
      'TLS only once a real certificate exists',
    );
  });

  test('the production example, run by coturn, takes minted credentials and will not relay to loopback', {
    skip: existsSync(UCLIENT) ? false : `${UCLIENT} not installed`,
  }, async () => {
    const text = readFileSync(EXAMPLE, 'utf8');
    const secret = /^static-auth-secret=(.+)$/m.exec(text)?.[1];
    assert.ok(secret);
    const relay = await startCoturnFromExample(text);
    try {
      const { username, credential } = mintTurnCredentials(secret, 'probe-peer', 600);
      // Allocates a relay, then asks it to send to 127.0.0.1 (its own loopback).
      const output = await new Promise<string>((resolve) => {
        execFile(
          UCLIENT,
          // -n 1 -m 1: one message, one client; -e: the peer address to relay to.
          ['-u', username, '-w', credential, '-p', String(relay.port), '-n', '1', '-m', '1'].concat(
            ['-e', '127.0.0.1', '127.0.0.1'],
          ),
          { timeout: 10_000 },
          (_error, stdout, stderr) => resolve(`${stdout}${stderr}`),
        );
      });
      const log = await relay.waitForLog(/error 403: Forbidden IP/);
      assert.match(
        log,
        new RegExp(`user <${username}>: incoming packet ALLOCATE processed, success`),
      );
      assert.match(log, /CHANNEL_BIND processed, error 403: Forbidden IP/);
      assert.match(output, /403 \(Forbidden IP\)/);
    } finally {
      await relay.stop();
    }
  });

  test('static credentials: everyone hears everyone through coturn (UDP and TCP TURN offered)', async () => {
    const user = 'ghosttalk';
    const password = newSecret();
    const { coturn, app } = await startScenario({ kind: 'static', user, password }, (c) => ({
      TURN_SERVER: `${c.urls.udp},${c.urls.tcp}`,
      TURN_USER: user,
      TURN_PASS: password,
    }));
    const started = Date.now();
    await everyoneTalksThroughTheRelay(`${app.url}/r/turn-static`);
    console.log(`# static: three people joined and heard each other in ${Date.now() - started} ms`);

    for (const p of people) {
      const servers = (await peerConnections(p.page))[0]?.configs[0]?.iceServers ?? [];
      assert.deepEqual(servers, [
        { urls: [coturn.urls.udp, coturn.urls.tcp], username: user, credential: password },
      ]);
    }
    const log = await coturn.waitForLog(
      /user <ghosttalk>: incoming packet ALLOCATE processed, success/,
    );
    const allocations = log.match(/ALLOCATE processed, success/g)?.length ?? 0;
    // Two transports per person (send and receive), at least one allocation each.
    assert.ok(allocations >= 6, `coturn allocated ${allocations} relays`);
    assert.doesNotMatch(
      await readFile(join(app.dataDir, 'server.log'), 'utf8'),
      new RegExp(password),
    );
  });

  test('TURN_SECRET: per-peer minted credentials, refreshed on push, secret never leaves the server', async () => {
    const secret = newSecret();
    const { coturn, app } = await startScenario({ kind: 'secret', secret }, (c) => ({
      TURN_SERVER: c.urls.udp,
      TURN_SECRET: secret,
      TURN_TTL: String(TTL_SECONDS),
    }));
    const joinedAt = Math.floor(Date.now() / 1000);
    const started = Date.now();
    const ids = await everyoneTalksThroughTheRelay(`${app.url}/r/turn-secret`);
    console.log(`# secret: three people joined and heard each other in ${Date.now() - started} ms`);

    const log = await coturn.log();
    for (const p of people) {
      const peerId = ids.get(p.name) as string;
      const pcs = await peerConnections(p.page);
      for (const pc of pcs) {
        const server = pc.configs[0]?.iceServers?.[0];
        const match = /^(\d+):(.+)$/.exec(server?.username ?? '');
        assert.ok(match, `${p.name}'s TURN username is <expiry>:<peer id>: ${server?.username}`);
        assert.equal(match[2], peerId);
        const expiry = Number(match[1]);
        assert.ok(
          expiry >= joinedAt + TTL_SECONDS - 5 && expiry <= joinedAt + TTL_SECONDS + 120,
          `expiry ${expiry} is about now + TURN_TTL`,
        );
        assert.notEqual(server?.credential, secret);
        // coturn accepted exactly this username.
        assert.match(
          log,
          new RegExp(`user <${match[0]}>: incoming packet ALLOCATE processed, success`),
        );
      }
      // The join ack carried the minted pair, and no frame carried the secret.
      const received = frames.get(p.name) ?? [];
      assert.ok(
        received.some((f) => f.includes(`"username":"`) && f.includes(`:${peerId}"`)),
        `${p.name}'s join ack carries the minted username`,
      );
      for (const f of received) assert.ok(!f.includes(secret), 'no signaling frame has the secret');
      assert.ok(!(await p.page.content()).includes(secret), 'the page does not have the secret');
    }

    // The server's refresh push: the client hands fresh credentials to both transports.
    const ada = people[0] as Person;
    const adaId = ids.get('Ada') as string;
    const socket = [...app.server.io.sockets.sockets.values()].find((s) => s.data.peerId === adaId);
    assert.ok(socket, "Ada's socket on the server");
    const fresh = iceServersFor(
      { urls: [coturn.urls.udp], secret, ttlSeconds: TTL_SECONDS * 2 },
      adaId,
    );
    socket.emit('iceServers', { iceServers: fresh });
    const freshName = fresh[0]?.username as string;
    await waitFor('both of Ada’s transports to take the fresh credentials', async () => {
      const pcs = (await peerConnections(ada.page)).filter((pc) => pc.state === 'connected');
      return (
        pcs.length === 2 &&
        pcs.every((pc) => {
          const last = pc.configs.at(-1);
          return (
            last?.iceServers?.[0]?.username === freshName &&
            last.iceServers[0].credential === fresh[0]?.credential &&
            last.iceTransportPolicy === 'relay'
          );
        })
      );
    });

    const serverLog = await readFile(join(app.dataDir, 'server.log'), 'utf8');
    assert.ok(serverLog.length > 0);
    assert.ok(!serverLog.includes(secret), 'the server log does not have the secret');
  });

  test('a secret coturn does not know: allocation refused, the page says audio cannot connect', async () => {
    const { coturn, app } = await startScenario({ kind: 'secret', secret: newSecret() }, (c) => ({
      TURN_SERVER: c.urls.udp,
      TURN_SECRET: newSecret(),
    }));
    const ms = await joinExpectingMediaError(`${app.url}/r/turn-refused`, /Relay error: 401/);
    console.log(`# refused relay: the page said so ${ms} ms after Join`);
    // Gave up on the server too: the seat is free again.
    await waitFor('the server to drop the failed peer', () => app.server.rooms.peerCount === 0);

    const log = await coturn.waitForLog(/error 401/);
    assert.doesNotMatch(log, /ALLOCATE processed, success/);
    // Refused with credentials, not just the first unauthenticated challenge.
    assert.match(log, /check_stun_auth: Cannot find credentials of user <\d+:[0-9a-f-]+>/);
    assert.match(log, /user <\d+:[0-9a-f-]+>: incoming packet message processed, error 401/);
  });

  test('a relay that never answers: the page gives up after the connect deadline', async () => {
    await stopScenario();
    // A UDP port that swallows everything: what a firewall dropping TURN looks like.
    const blackHole = createSocket('udp4');
    let packets = 0;
    blackHole.on('message', () => packets++);
    await new Promise<void>((resolve) => blackHole.bind(0, '127.0.0.1', resolve));
    try {
      const port = blackHole.address().port;
      app = await startTestServer({
        ICE_TRANSPORT_POLICY: 'relay',
        TURN_SERVER: `turn:127.0.0.1:${port}?transport=udp`,
        TURN_SECRET: newSecret(),
      });
      const ms = await joinExpectingMediaError(
        `${app.url}/r/turn-silent`,
        /Could not connect audio/,
        MEDIA_CONNECT_TIMEOUT_MS + 10_000,
      );
      console.log(
        `# silent relay: ${packets} TURN packets unanswered; the page gave up ${ms} ms after Join`,
      );
      assert.ok(packets > 0, 'the browser did try the relay');
      assert.ok(ms < MEDIA_CONNECT_TIMEOUT_MS + 10_000);
    } finally {
      blackHole.close();
    }
  });
});
