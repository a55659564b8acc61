/**
 * The browser app where the field is rough, with real components only (the server
 * in-process, two Chromium people with fake-microphone tones): a malformed room link,
 * nicknames that would render blank or spoof, a join page whose socket the server
 * closed while the person was typing, and a microphone the server turned off.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { GhostTalkSocket } from '../src/signaling/ioTypes.ts';
import {
  closePeople,
  ensureClientBuilt,
  heardLevel,
  launchPeople,
  PEOPLE,
  type Person,
  remoteSpectra,
  TONES,
  waitFor,
  waitUntilHears,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

/** Short, so that a join page sits past it while the test types nicknames. */
const SOCKET_IDLE_MS = 1_500;

describe('browser app: bad links, bad nicknames, idle sockets, a refused microphone', {
  timeout: 150_000,
}, () => {
  let ts: TestServer | undefined;
  const people: Person[] = [];
  const peerIds = new Map<string, string>(); // name -> peer id
  const roomId = `hardening-${Date.now().toString(36)}`;
  /** Every signaling socket the server accepted, newest last. */
  const sockets: GhostTalkSocket[] = [];

  const server = () => {
    assert.ok(ts, 'server started');
    return ts.server;
  };
  const person = (name: string): Person => {
    const found = people.find((p) => p.name === name);
    assert.ok(found, `no person ${name}`);
    return found;
  };
  const speaker = (name: string) => ({
    name,
    toneHz: person(name).toneHz,
    peerId: peerIds.get(name),
  });

  /** Loads the room's join page and returns the socket it opened on the server. */
  async function openJoinPage(p: Person): Promise<GhostTalkSocket> {
    const known = sockets.length;
    await p.page.goto(`${ts?.url}/r/${roomId}`);
    await p.page.getByLabel('Nickname').waitFor();
    return waitFor(`${p.name}'s page to connect`, () => sockets[known]);
  }

  async function join(p: Person): Promise<void> {
    await p.page.getByLabel('Nickname').fill(p.name);
    await p.page.getByRole('button', { name: 'Join', exact: true }).click();
    const self = p.page.getByRole('list', { name: 'Participants' }).getByRole('listitem').first();
    await self.getByText('(you)').waitFor();
    const id = await self.getAttribute('data-peer-id');
    assert.ok(id, `${p.name} has a peer id`);
    peerIds.set(p.name, id);
  }

  before(
    async () => {
      ensureClientBuilt();
      ts = await startTestServer({ SOCKET_IDLE_MS: String(SOCKET_IDLE_MS) });
      ts.server.io.on('connection', (socket) => sockets.push(socket));
      await launchPeople(PEOPLE.slice(0, 2), ts.dataDir, people);
    },
    { timeout: 90_000 },
  );

  after(
    async () => {
      await closePeople(people);
      await ts?.stop().catch(() => undefined);
    },
    { timeout: 60_000 },
  );

  test('a malformed room link says what is wrong, without a page error', async () => {
    const { page, consoleErrors } = person('Ada');
    const errorsBefore = consoleErrors.length;
    await page.goto(`${ts?.url}/r/%E0`);
    await page.getByRole('heading', { name: 'This room link is not valid' }).waitFor();
    await page
      .getByRole('alert')
      .getByText(/Check the link you were sent/)
      .waitFor();

    // The same link pasted on the start page.
    await page.goto(`${ts?.url}/`);
    await page.getByLabel('Room link or code').fill(`${ts?.url}/r/%E0`);
    await page.getByRole('button', { name: 'Go to room' }).click();
    await page.getByText('That is not a room code').waitFor();
    assert.deepEqual(consoleErrors.slice(errorsBefore), []);
  });

  test('the join form says why a nickname is refused, before anything is sent', async () => {
    const { page } = person('Ada');
    await openJoinPage(person('Ada'));
    const field = page.getByLabel('Nickname');
    const error = page.locator('.join-form .error');
    const cases: [string, RegExp][] = [
      ['\u202Eevil', /invisible characters/],
      ['\u200B\u200B', /invisible characters/],
      ['a\u0301\u0301\u0301\u0301\u0301', /more than 4 accents or marks/],
      ['\u2800', /at least one visible/],
    ];
    for (const [nickname, reason] of cases) {
      await field.fill(nickname);
      // While typing: the message is there before Join is pressed.
      await waitFor(`the reason for ${JSON.stringify(nickname)}`, async () =>
        reason.test((await error.textContent()) ?? ''),
      );
      assert.equal(await field.getAttribute('aria-invalid'), 'true');
    }
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    assert.match((await error.textContent()) ?? '', /at least one visible/);
    assert.equal(server().rooms.get(roomId), undefined, 'no join reached the server');

    await field.fill('Ada 👩‍👩‍👧');
    await waitFor('the message to clear', async () => (await error.textContent()) === '');
    assert.equal(await field.getAttribute('aria-invalid'), 'false');
  });

  test('Join after the server closed the idle join page: reconnects, joins, audio flows', async () => {
    const ada = person('Ada');
    const bo = person('Bo');
    // Ada's page has sat on the form since the last test: wait until the server closed it.
    const adaSocket = sockets.at(-1);
    assert.ok(adaSocket && adaSocket.data.roomId === undefined);
    await waitFor('the server to close Ada’s idle socket', () => adaSocket.disconnected, {
      timeoutMs: SOCKET_IDLE_MS + 5_000,
    });
    await join(ada);

    // Bo too, after idling past the limit on a fresh page.
    const boSocket = await openJoinPage(bo);
    await waitFor('the server to close Bo’s idle socket', () => boSocket.disconnected, {
      timeoutMs: SOCKET_IDLE_MS + 5_000,
    });
    await join(bo);
    await waitUntilHears(ada, [speaker('Bo')], TONES, { timeoutMs: 15_000 });
    await waitUntilHears(bo, [speaker('Ada')], TONES, { timeoutMs: 15_000 });
  });

  test('the server turns off a microphone: the person is told, stops sending, stays in', async () => {
    const ada = person('Ada');
    const bo = person('Bo');
    const boId = peerIds.get('Bo');
    const socket = sockets.find((s) => s.connected && s.data.peerId === boId);
    assert.ok(socket, 'Bo’s socket on the server');
    const reason = 'Your microphone sent far more than speech needs.';
    socket.emit('producerClosed', { reason });

    const banner = bo.page.locator('.banner', { hasText: reason });
    await banner.waitFor();
    assert.match((await banner.textContent()) ?? '', /turned off your microphone/);
    await waitFor('Ada to stop hearing Bo', async () => {
      const spectra = await remoteSpectra(ada.page, TONES);
      return heardLevel(spectra, boId, bo.toneHz) === undefined;
    });
    // The rest of the call goes on: Bo is in the room and still hears Ada.
    assert.equal(await bo.page.locator('.room').getAttribute('data-state'), 'joined');
    await waitUntilHears(bo, [speaker('Ada')], TONES);
    await ada.page.locator(`li[data-peer-id="${boId}"]`).waitFor();
  });
});
