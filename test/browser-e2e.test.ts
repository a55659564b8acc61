/**
 * End to end with real components only: the GhostTalk server in-process (mediasoup,
 * socket.io, the built browser app) and three Chromium processes, each with its own
 * fake microphone playing a different sine tone. What each person hears is checked by
 * frequency analysis of the remote <audio> elements in their page.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/loadConfig.ts';
import { GhostTalkServer } from '../src/GhostTalkServer.ts';
import { closeLogger, createLogger, type Logger } from '../src/logging/createLogger.ts';
import {
  describeSpectra,
  type ElementSpectrum,
  ensureClientBuilt,
  heardLevel,
  isAbsent,
  joinToFirstAudioMs,
  launchPeople,
  PEOPLE,
  type Person,
  remoteSpectra,
  TONES,
  waitFor,
  waitUntilHears,
  waitUntilStopsHearing,
} from './support/browser.ts';
import { freePort } from './support/ports.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCREENSHOTS = join(ROOT, 'artifacts/screenshots');

const RECONNECT_GRACE_MS = 3_000;

describe('browser end to end: three people in one room', { timeout: 240_000 }, () => {
  let tmp: string;
  let logger: Logger | undefined;
  let server: GhostTalkServer | undefined;
  let baseUrl: string;
  const people: Person[] = [];
  const peerIds = new Map<string, string>(); // name -> peer id
  const roomId = `e2e-${Date.now().toString(36)}`;

  const person = (name: string): Person => {
    const found = people.find((p) => p.name === name);
    assert.ok(found, `no person ${name}`);
    return found;
  };

  before(
    async () => {
      ensureClientBuilt();
      tmp = await mkdtemp(join(tmpdir(), 'ghosttalk-e2e-'));
      logger = createLogger({ dataDir: tmp, level: 'info', console: false });
      const port = await freePort();
      let rtcPort = await freePort();
      while (rtcPort === port) rtcPort = await freePort();
      server = await GhostTalkServer.create({
        config: loadConfig([], {
          PORT: String(port),
          HTTP_HOST: '127.0.0.1',
          RTC_UDP_PORT: String(rtcPort),
          RTC_LISTEN_IP: '127.0.0.1',
          RTC_ANNOUNCED_ADDRESS: '127.0.0.1',
          ROOM_EMPTY_GRACE_MS: '500',
          RECONNECT_GRACE_MS: String(RECONNECT_GRACE_MS),
          DATA_DIR: tmp,
        }),
        logger,
      });
      baseUrl = `http://127.0.0.1:${port}`;
      await launchPeople(PEOPLE, tmp, people);
      await mkdir(SCREENSHOTS, { recursive: true });
      // The join page, before anyone joins (its Device loads on page load, as for a person).
      await Promise.all(people.map((p) => p.page.goto(`${baseUrl}/r/${roomId}`)));
      const first = person('Ada').page;
      await first.setViewportSize({ width: 360, height: 740 });
      await first.getByLabel('Nickname').waitFor();
      await first.screenshot({ path: join(SCREENSHOTS, 'join-phone.png'), fullPage: true });
      await first.setViewportSize({ width: 1280, height: 800 });
    },
    { timeout: 180_000 },
  );

  after(
    async () => {
      await Promise.allSettled(people.map((p) => p.close()));
      await server?.close().catch(() => undefined);
      if (logger) await closeLogger(logger).catch(() => undefined);
      if (tmp) await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    },
    { timeout: 60_000 },
  );

  test('the start page offers a new room', async () => {
    const page = person('Ada').page;
    const other = await page.context().newPage();
    try {
      await other.setViewportSize({ width: 360, height: 740 });
      await other.goto(`${baseUrl}/`);
      await other.screenshot({ path: join(SCREENSHOTS, 'home-phone.png'), fullPage: true });
      await other.getByRole('button', { name: 'Start a new room' }).click();
      // A new room is end-to-end encrypted: its 128-bit key is in the fragment.
      await other.waitForURL(/\/r\/[a-z0-9]{12}#[A-Za-z0-9_-]{22}$/);
      await other.getByLabel('Nickname').waitFor();
      await other.getByText('This room is end-to-end encrypted').waitFor();
    } finally {
      await other.close();
    }
  });

  test('everyone hears both others and not themselves', async () => {
    // One after another, as people arrive: the later joiners measure joining a live room.
    for (const { name } of PEOPLE) {
      const { page } = person(name);
      await page.getByLabel('Nickname').fill(name);
      await page.getByRole('button', { name: 'Join', exact: true }).click();
      const self = page.getByRole('list', { name: 'Participants' }).getByRole('listitem').first();
      await self.getByText('(you)').waitFor();
      const id = await self.getAttribute('data-peer-id');
      assert.ok(id, `${name} has a peer id`);
      peerIds.set(name, id);
      await waitFor(`${name}'s join to finish`, () =>
        page.locator('.stats').getAttribute('data-join-round-trips'),
      );
    }

    for (const p of people) {
      const list = p.page.getByRole('list', { name: 'Participants' });
      await waitFor(
        `${p.name} to list all three`,
        async () => (await list.getByRole('listitem').count()) === 3,
      );
      await assert.doesNotReject(list.getByRole('listitem').first().getByText(p.name).waitFor());
    }

    for (const p of people) {
      const others = people.filter((o) => o !== p);
      let last: ElementSpectrum[] = [];
      await waitFor(
        `${p.name} to hear ${others.map((o) => o.name).join(' and ')} but not ${p.name}`,
        async () => {
          last = await remoteSpectra(p.page, TONES);
          const levels = others.map((o) => heardLevel(last, peerIds.get(o.name), o.toneHz));
          if (last.length !== 2 || levels.some((db) => db === undefined)) return false;
          return isAbsent(last, p.toneHz, Math.min(...(levels as number[])));
        },
        { timeoutMs: 15_000, intervalMs: 200 },
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n  spectra: ${describeSpectra(last)}`);
      });
      console.log(`# ${p.name} (${p.toneHz} Hz) hears: ${describeSpectra(last)}`);
    }

    // The speaking ring and the network panel follow the audio.
    const ada = person('Ada').page;
    await waitFor('Ada to see Bo speaking', async () => {
      const row = ada.locator(`li[data-peer-id="${peerIds.get('Bo')}"]`);
      return (await row.getAttribute('data-speaking')) === 'true';
    });
    const stats = ada.locator('.stats');
    // Rates and loss need two samples, a second apart.
    await waitFor(
      'network stats',
      async () => (await stats.getAttribute('data-recv-kbps')) !== null,
      {
        timeoutMs: 5_000,
      },
    );
    assert.equal(await stats.getAttribute('data-path'), 'direct');
    // Chromium may learn its own loopback candidate as peer-reflexive: still direct.
    assert.match((await stats.getAttribute('data-candidate-type')) ?? '', /^(host|srflx|prflx)$/);
    console.log(
      `# Ada's network panel: rtt ${await stats.getAttribute('data-rtt-ms')} ms, loss ${await stats.getAttribute('data-loss-pct')} %, ` +
        `send ${await stats.getAttribute('data-send-kbps')} kbit/s, receive ${await stats.getAttribute('data-recv-kbps')} kbit/s`,
    );

    for (const p of people) {
      const ms = await joinToFirstAudioMs(p.page);
      const panel = p.page.locator('.stats');
      const requests = await panel.getAttribute('data-join-requests');
      const roundTrips = await panel.getAttribute('data-join-round-trips');
      const joinMs = await panel.getAttribute('data-join-ms');
      const note = p === people[0] ? ' (first in the room: waited for the next person)' : '';
      console.log(
        `# ${p.name}: join click to first received audio packet ${ms?.toFixed(0) ?? 'n/a'} ms${note}; ` +
          `join set up in ${joinMs} ms with ${requests} signaling requests in ${roundTrips} sequential round trips`,
      );
      // The join, then the connects pipelined with produce and resumeConsumers.
      assert.ok(
        Number(roundTrips) >= 1 && Number(roundTrips) <= 2,
        `${p.name}: ${roundTrips} round trips`,
      );
    }

    await ada.setViewportSize({ width: 360, height: 740 });
    await ada.screenshot({ path: join(SCREENSHOTS, 'room-phone.png'), fullPage: true });
    await ada.setViewportSize({ width: 1280, height: 800 });
    await ada.screenshot({ path: join(SCREENSHOTS, 'room-desktop.png'), fullPage: true });

    await ada.getByRole('button', { name: 'Copy invite link' }).click();
    await ada.getByText('Copied!').waitFor();
    assert.equal(await ada.evaluate('navigator.clipboard.readText()'), `${baseUrl}/r/${roomId}`);
  });

  test('muting silences that person for the others and shows a badge', async () => {
    const bo = person('Bo');
    const mute = bo.page.getByRole('button', { name: 'Mute' });
    await mute.click();
    assert.equal(await mute.getAttribute('aria-pressed'), 'true');
    await bo.page.setViewportSize({ width: 360, height: 740 });
    await bo.page.screenshot({ path: join(SCREENSHOTS, 'room-muted-phone.png'), fullPage: true });
    await bo.page.setViewportSize({ width: 1280, height: 800 });
    const boId = peerIds.get('Bo');
    for (const listener of [person('Ada'), person('Cy')]) {
      const row = listener.page.locator(`li[data-peer-id="${boId}"]`);
      await row.getByText('muted', { exact: true }).waitFor({ state: 'visible' });
      // Bo goes quiet while the other person is still heard.
      const other = people.find((p) => p !== bo && p !== listener) as Person;
      const heard = { name: other.name, toneHz: other.toneHz, peerId: peerIds.get(other.name) };
      await waitUntilStopsHearing(listener, bo, heard, TONES);
    }

    // Push-to-talk: holding Space while muted lets Bo talk; letting go mutes again.
    const ada = person('Ada').page;
    const boBadge = ada.locator(`li[data-peer-id="${boId}"]`).getByText('muted', { exact: true });
    await bo.page.keyboard.down('Space');
    await boBadge.waitFor({ state: 'hidden' });
    assert.equal(await mute.getAttribute('aria-pressed'), 'false');
    await bo.page.keyboard.up('Space');
    await boBadge.waitFor({ state: 'visible' });
    assert.equal(await mute.getAttribute('aria-pressed'), 'true');

    // M (keyboard) unmutes, and Bo is heard again.
    await bo.page.keyboard.press('m');
    assert.equal(await mute.getAttribute('aria-pressed'), 'false');
    await boBadge.waitFor({ state: 'hidden' });
    await waitFor(
      'Ada to hear Bo again',
      async () => heardLevel(await remoteSpectra(ada, TONES), boId, bo.toneHz) !== undefined,
      { timeoutMs: 10_000, intervalMs: 200 },
    );
  });

  /**
   * Cuts a person's signaling connection, either from the server's side or by taking
   * their browser offline (engine.io reacts to the `offline` event at once), and waits
   * until the page says it is reconnecting.
   */
  async function dropConnection(name: string, how: 'server closes' | 'browser offline') {
    const { page, context } = person(name);
    // The banner may show only briefly: record every text it shows.
    await page.evaluate(`
      window.__banners = [];
      new MutationObserver(() => {
        const text = document.querySelector('.banner')?.textContent;
        if (text) window.__banners.push(text);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    `);
    if (how === 'browser offline') {
      await context.setOffline(true);
    } else {
      assert.ok(server);
      const peerId = peerIds.get(name);
      const socket = [...server.io.sockets.sockets.values()].find((s) => s.data.peerId === peerId);
      assert.ok(socket, `${name}'s socket on the server`);
      socket.conn.close();
    }
    await waitFor('the reconnecting banner', async () => {
      const texts = (await page.evaluate('window.__banners')) as string[];
      return texts.some((t) => /^Connection lost\. Reconnecting… \(attempt \d+\)$/.test(t));
    });
  }

  async function everyoneHearsEveryone(): Promise<void> {
    for (const listener of people) {
      const others = people
        .filter((p) => p !== listener)
        .map((p) => ({ name: p.name, toneHz: p.toneHz, peerId: peerIds.get(p.name) }));
      await waitUntilHears(listener, others, TONES);
    }
  }

  test('a dropped connection takes its place back: same peer, same media', async () => {
    assert.ok(server);
    const room = server.rooms.get(roomId);
    assert.ok(room);
    const bo = person('Bo');
    const boId = peerIds.get('Bo') as string;
    const transportsBefore = (await room.router.dump()).transportIds.sort();

    await dropConnection('Bo', 'server closes');
    await waitFor('Bo to be back in', async () => {
      return (await bo.page.locator('.room').getAttribute('data-state')) === 'joined';
    });
    const self = bo.page.getByRole('list', { name: 'Participants' }).getByRole('listitem').first();
    assert.equal(await self.getAttribute('data-peer-id'), boId, 'Bo kept the same peer id');
    await waitFor('the server to see Bo attached again', () => room.isDetached(boId) === false);
    assert.deepEqual((await room.router.dump()).transportIds.sort(), transportsBefore);
    for (const name of ['Ada', 'Cy']) {
      const row = person(name).page.locator(`li[data-peer-id="${boId}"]`);
      assert.equal(await row.count(), 1, `${name} still lists Bo`);
    }
    await everyoneHearsEveryone();
  });

  test('after the grace period a dropped person joins afresh as a new peer', async () => {
    assert.ok(server);
    const room = server.rooms.get(roomId);
    assert.ok(room);
    const bo = person('Bo');
    const oldId = peerIds.get('Bo') as string;

    // Offline also keeps Bo from reconnecting until the server has given the place away.
    try {
      await dropConnection('Bo', 'browser offline');
      await waitFor('the server to drop Bo', () => !room.peers.has(oldId), {
        timeoutMs: RECONNECT_GRACE_MS + 5_000,
      });
      await person('Ada')
        .page.locator(`li[data-peer-id="${oldId}"]`)
        .waitFor({ state: 'detached' });
    } finally {
      await bo.context.setOffline(false);
    }

    const self = bo.page.getByRole('list', { name: 'Participants' }).getByRole('listitem').first();
    const newId = await waitFor(
      'Bo to rejoin as a new peer',
      async () => {
        const id = await self.getAttribute('data-peer-id');
        return id && id !== oldId && room.peers.has(id) ? id : undefined;
      },
      { timeoutMs: 15_000 },
    );
    peerIds.set('Bo', newId);
    await self.getByText('Bo', { exact: true }).waitFor();
    for (const name of ['Ada', 'Cy']) {
      const page = person(name).page;
      await page.locator(`li[data-peer-id="${newId}"]`).getByText('Bo', { exact: true }).waitFor();
    }
    await everyoneHearsEveryone();
  });

  test('hanging up removes the person for the others and on the server', async () => {
    assert.ok(server);
    const room = server.rooms.get(roomId);
    assert.ok(room, 'the room exists on the server');
    const cyId = peerIds.get('Cy') as string;
    const cyPeer = room.peers.get(cyId);
    assert.ok(cyPeer, 'Cy is a peer on the server');
    const cyProducerId = cyPeer.producer?.id;
    assert.ok(cyProducerId, 'Cy produces');
    const cyConsumerIds = [...cyPeer.consumers.keys()];
    assert.equal(cyConsumerIds.length, 2, 'Cy consumes Ada and Bo');
    const before = await room.router.dump();

    const cy = person('Cy').page;
    await cy.getByRole('button', { name: 'Hang up' }).click();
    await cy.getByRole('heading', { name: 'You left the room' }).waitFor();
    await cy.getByRole('button', { name: 'Rejoin' }).waitFor();
    await cy.setViewportSize({ width: 360, height: 740 });
    await cy.screenshot({ path: join(SCREENSHOTS, 'left-phone.png'), fullPage: true });

    for (const name of ['Ada', 'Bo']) {
      const list = person(name).page.getByRole('list', { name: 'Participants' });
      await list.locator(`li[data-peer-id="${cyId}"]`).waitFor({ state: 'detached' });
      assert.equal(await list.getByRole('listitem').count(), 2);
      assert.equal(await person(name).page.locator(`audio[data-peer-id="${cyId}"]`).count(), 0);
    }

    await waitFor('the server to drop Cy', () => !room.peers.has(cyId));
    const afterDump = await waitFor('Cy’s transports to close', async () => {
      const dump = await room.router.dump();
      return dump.transportIds.length === before.transportIds.length - 2 ? dump : undefined;
    });
    assert.equal(afterDump.transportIds.length, before.transportIds.length - 2);
    assert.ok(
      !afterDump.mapProducerIdConsumerIds.some((entry) => entry.key === cyProducerId),
      'Cy’s producer is gone',
    );
    const consumerIds = new Set(afterDump.mapConsumerIdProducerId.map((entry) => entry.key));
    for (const id of cyConsumerIds) assert.ok(!consumerIds.has(id), `Cy’s consumer ${id} is gone`);
    for (const entry of afterDump.mapConsumerIdProducerId) {
      assert.notEqual(entry.value, cyProducerId, 'nobody consumes Cy any more');
    }
    // Ada and Bo still have each other: two producers, one consumer each way.
    assert.equal(afterDump.mapProducerIdConsumerIds.length, 2);
    assert.equal(afterDump.mapConsumerIdProducerId.length, 2);

    // Rejoin brings Cy back, with the remembered nickname.
    await cy.getByRole('button', { name: 'Rejoin' }).click();
    const list = cy.getByRole('list', { name: 'Participants' });
    await waitFor(
      'Cy to be back with everyone',
      async () => (await list.getByRole('listitem').count()) === 3,
    );
    await list.getByRole('listitem').first().getByText('Cy', { exact: true }).waitFor();
    await person('Ada')
      .page.getByRole('list', { name: 'Participants' })
      .getByText('Cy', { exact: true })
      .waitFor();
  });
});
