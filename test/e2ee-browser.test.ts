/**
 * End-to-end encrypted rooms with real parts only: the GhostTalk server in-process and
 * Chromium people with fake-microphone tones.
 * - Three people open `/r/<id>#<key>`, hear each other's tones, and see the same safety
 *   code; the key never reaches the server (no request, header, socket payload or log
 *   line has it, and no Referer a fragment).
 * - A tap on the server (a PlainTransport consumer decoded by libopus) hears a person's
 *   tone in an unencrypted room and not in the encrypted one.
 * - The link without its key: the page says it is incomplete and joins nobody. With a
 *   wrong key: it joins, hears nothing (never noise), and both sides are told.
 * - Mute, and a signaling drop (same place back), keep working encrypted. Worker crash
 *   and ICE restarts in encrypted rooms: resilience-browser.test.ts, which uses one.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newRoomKey, safetyCode } from '../client/src/e2ee/roomKey.ts';
import {
  closePeople,
  describeSpectra,
  type ElementSpectrum,
  ensureClientBuilt,
  heardLevel,
  isAbsent,
  launchPeople,
  type Person,
  remoteSpectra,
  waitFor,
  waitUntilHears,
  waitUntilStopsHearing,
} from './support/browser.ts';
import { type OpusTap, tapProducer } from './support/opusTap.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

const SPECS = [
  { name: 'Ada', toneHz: 500 },
  { name: 'Bo', toneHz: 700 },
  { name: 'Cy', toneHz: 1100 },
  { name: 'Dee', toneHz: 1300 },
] as const;
const TONES = SPECS.map((s) => s.toneHz);

describe('end-to-end encrypted rooms in Chromium', { timeout: 300_000 }, () => {
  let ts: TestServer | undefined;
  const people: Person[] = [];
  const peerIds = new Map<string, string>();
  const roomId = `sealed-${Date.now().toString(36)}`;
  const key = newRoomKey();
  /** Everything the server was sent: request lines and headers, handshakes, socket events. */
  const received: string[] = [];

  const server = () => {
    assert.ok(ts, 'server started');
    return ts;
  };
  const person = (name: string) => people.find((p) => p.name === name) as Person;
  const members = () => people.filter((p) => p.name !== 'Dee');
  const speakersFor = (listener: Person) =>
    members()
      .filter((p) => p !== listener)
      .map((p) => ({ name: p.name, toneHz: p.toneHz, peerId: peerIds.get(p.name) }));

  async function selfId(p: Person): Promise<string> {
    return waitFor(`${p.name} in the room`, async () => {
      const state = await p.page.locator('.room').getAttribute('data-state', { timeout: 1_000 });
      if (state !== 'joined') return undefined;
      const self = p.page.getByRole('list', { name: 'Participants' }).getByRole('listitem');
      return (await self.first().getAttribute('data-peer-id')) ?? undefined;
    });
  }

  async function enter(p: Person, url: string): Promise<void> {
    await p.page.goto(url);
    await p.page.getByLabel('Nickname').fill(p.name);
    await p.page.getByRole('button', { name: 'Join', exact: true }).click();
  }

  async function everyoneHearsEveryone(timeoutMs = 15_000): Promise<void> {
    for (const p of members()) await waitUntilHears(p, speakersFor(p), TONES, { timeoutMs });
  }

  async function tap(room: string, name: string): Promise<OpusTap> {
    const r = server().server.rooms.get(room);
    assert.ok(r, `room ${room}`);
    const producer = await waitFor(
      `${name}'s producer in ${room}`,
      () => r.peers.get(peerIds.get(name) ?? '')?.producer,
    );
    const t = await tapProducer(r.router, producer.id);
    // About two seconds of audio.
    await waitFor(`packets of ${name} at the tap`, () => t.packets >= 100, { timeoutMs: 10_000 });
    return t;
  }

  before(
    async () => {
      ensureClientBuilt();
      ts = await startTestServer({ RECONNECT_GRACE_MS: '5000' });
      const { httpServer, io } = ts.server;
      httpServer.on('request', (req) => {
        received.push(`${req.method} ${req.url} ${JSON.stringify(req.headers)}`);
      });
      io.on('connection', (socket) => {
        const { url, headers, query, auth } = socket.handshake;
        received.push(`handshake ${url} ${JSON.stringify({ headers, query, auth })}`);
        socket.onAny((event, ...args) => received.push(`${event} ${JSON.stringify(args)}`));
      });
      await launchPeople(SPECS, ts.dataDir, people);
    },
    { timeout: 120_000 },
  );

  after(
    async () => {
      await closePeople(people);
      await ts?.stop().catch(() => undefined);
    },
    { timeout: 60_000 },
  );

  test('three people with the link hear each other and see the same safety code', async () => {
    const link = `${server().url}/r/${roomId}#${key}`;
    for (const p of members()) {
      await enter(p, link);
      peerIds.set(p.name, await selfId(p));
    }
    await everyoneHearsEveryone();
    assert.equal(server().server.rooms.get(roomId)?.encrypted, true, 'the server knows only this');
    const code = await safetyCode(key);
    for (const p of members()) {
      const shown = await p.page.locator('.safety-code').textContent();
      assert.equal(shown, code, `${p.name}'s page shows the key's safety code`);
    }
  });

  test('the server cannot hear it: a tap decodes the tone in a plain room only', async () => {
    const dee = person('Dee');
    const plainRoom = `${roomId}-plain`;
    await enter(dee, `${server().url}/r/${plainRoom}`);
    peerIds.set('Dee', await selfId(dee));
    const [plain, sealed] = [await tap(plainRoom, 'Dee'), await tap(roomId, 'Ada')];
    const plainShare = plain.toneShare(1300);
    const sealedShare = sealed.toneShare(500);
    const summary = `tone share at the tap: plain room ${plainShare.toFixed(3)} (${plain.undecodable}/${plain.packets} undecodable), encrypted room ${sealedShare.toFixed(3)} (${sealed.undecodable}/${sealed.packets} undecodable)`;
    console.log(`# [e2ee] ${summary}`);
    assert.ok(plainShare > 0.3, `the tap hears Dee's tone in the plain room: ${summary}`);
    assert.ok(sealedShare < 0.05, `the tap does not hear Ada's tone: ${summary}`);
    await Promise.all([plain.close(), sealed.close()]);
    await dee.page.getByRole('button', { name: 'Hang up' }).click();
  });

  test('without its key the link is incomplete; with a wrong key nobody is heard', async () => {
    const dee = person('Dee');
    await enter(dee, `${server().url}/r/${roomId}`);
    await dee.page.getByText('This link is incomplete', { exact: false }).waitFor();
    assert.equal(server().server.rooms.get(roomId)?.peers.size, 3, 'nobody joined');
    // A damaged key is caught before anything is sent.
    await dee.page.goto(`${server().url}/r/${roomId}#${key.slice(0, 10)}`);
    await dee.page.getByRole('heading', { name: 'This link is incomplete' }).waitFor();
    // A well-formed but wrong key joins (the server cannot tell), and hears nothing.
    const wrong = newRoomKey();
    await enter(dee, `${server().url}/r/${roomId}#${wrong}`);
    const deeId = await selfId(dee);
    peerIds.set('Dee', deeId);
    const otherCode = await dee.page.locator('.safety-code').textContent();
    assert.notEqual(otherCode, await safetyCode(key), 'a different safety code');
    await dee.page.getByText('cannot be decrypted', { exact: false }).first().waitFor();
    const ada = person('Ada');
    await ada.page.getByText('Dee’s audio cannot be decrypted', { exact: false }).waitFor();
    let last: ElementSpectrum[] = [];
    const heard = await waitUntilHears(ada, speakersFor(ada), TONES);
    const reference = Math.min(
      ...speakersFor(ada).map((s) => heardLevel(heard, s.peerId, s.toneHz) ?? 0),
    );
    last = await remoteSpectra(dee.page, TONES);
    for (const s of members()) {
      assert.ok(
        isAbsent(last, s.toneHz, reference),
        `Dee does not hear ${s.name} (nor noise at the tone): ${describeSpectra(last)}`,
      );
    }
    last = await remoteSpectra(ada.page, TONES);
    assert.ok(isAbsent(last, 1300, reference), `Ada does not hear Dee: ${describeSpectra(last)}`);
    await dee.page.getByRole('button', { name: 'Hang up' }).click();
    await waitFor('Dee gone', () => server().server.rooms.get(roomId)?.peers.size === 3);
  });

  test('mute and a dropped signaling connection work encrypted', async () => {
    const bo = person('Bo');
    const mute = bo.page.getByRole('button', { name: 'Mute' });
    await mute.click();
    for (const listener of members().filter((p) => p !== bo)) {
      const other = members().find((p) => p !== bo && p !== listener) as Person;
      const heard = { name: other.name, toneHz: other.toneHz, peerId: peerIds.get(other.name) };
      await waitUntilStopsHearing(listener, bo, heard, TONES);
    }
    await mute.click();
    await everyoneHearsEveryone();
    const boId = peerIds.get('Bo');
    const socket = [...server().server.io.sockets.sockets.values()].find(
      (s) => s.data.peerId === boId,
    );
    assert.ok(socket, "Bo's socket");
    socket.conn.close();
    await waitFor('Bo back in the same place', async () => {
      const back = [...server().server.io.sockets.sockets.values()].find(
        (s) => s.data.peerId === boId && s !== socket,
      );
      return back !== undefined;
    });
    await everyoneHearsEveryone();
  });

  test('Chromium without RTCRtpScriptTransform encrypts through createEncodedStreams', async () => {
    const dee = person('Dee');
    // From now on Dee's pages see a browser with insertable streams only (older Chromium).
    await dee.page.addInitScript(() => {
      delete (globalThis as { RTCRtpScriptTransform?: unknown }).RTCRtpScriptTransform;
    });
    await enter(dee, `${server().url}/r/${roomId}#${key}`);
    peerIds.set('Dee', await selfId(dee));
    assert.equal(await dee.page.evaluate(() => 'RTCRtpScriptTransform' in globalThis), false);
    const everyone = people;
    for (const p of everyone) {
      const others = everyone
        .filter((o) => o !== p)
        .map((o) => ({ name: o.name, toneHz: o.toneHz, peerId: peerIds.get(o.name) }));
      await waitUntilHears(p, others, TONES, { timeoutMs: 15_000 });
    }
    await dee.page.getByRole('button', { name: 'Hang up' }).click();
  });

  test('the key is in no request, header, socket message or log line of the server', async () => {
    assert.ok(received.length > 10, 'requests were recorded');
    const leaks = received.filter((line) => line.includes(key));
    assert.deepEqual(leaks, [], 'the key reached the server');
    const referers = received.flatMap((line) => /"referer":"([^"]*)"/.exec(line)?.[1] ?? []);
    assert.ok(
      referers.every((r) => !r.includes('#')),
      `no Referer carries a fragment: ${referers.join(' ')}`,
    );
    const log = readFileSync(join(server().dataDir, 'server.log'), 'utf8');
    assert.ok(log.includes(roomId), 'the log does mention the room');
    assert.ok(!log.includes(key), 'the log never has the key');
  });
});
