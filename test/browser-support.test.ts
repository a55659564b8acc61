/**
 * Where the page cannot work, it says so in words, and what it cannot do on Safari/iOS
 * it does not pretend to. Real Chromium against a real server: a plain-http address
 * that is not localhost (a host name mapped to 127.0.0.1, since Chromium counts
 * http://127.0.0.1 as secure), a browser without RTCPeerConnection, microphones that
 * are refused, missing, busy or fail with a raw exception, and an "iOS-like" page
 * (no setSinkId, read-only volume, audio that will not play before a tap) in a call.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import {
  CHROMIUM_PATH,
  chromiumFlags,
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
import { writeSineWav } from './support/wav.ts';

/** Not localhost: Chromium resolves it to the test server through --host-resolver-rules. */
const INSECURE_HOST = 'ghosttalk.test';
const RAW_ERROR = 'Cannot read properties of undefined (reading x)';

type OpenedPage = { page: Page; console: string[]; close(): Promise<void> };

// In-page code: the root tsconfig has no DOM types, so these describe what it touches.
type MediaElement = { paused: boolean; srcObject: unknown; play(): Promise<void>; pause(): void };
type PageGlobals = {
  navigator: { mediaDevices: { getUserMedia: () => Promise<never> } };
  HTMLMediaElement: { prototype: MediaElement };
  RTCPeerConnection?: unknown;
  webkitRTCPeerConnection?: unknown;
};
/** Code run in the page before the app, with its (serialisable) argument. */
type InitScript = {
  script: (arg: Record<string, string>) => void;
  arg: Record<string, string>;
};
const paused = (element: unknown) => (element as MediaElement).paused;

describe('browser support: pages that cannot work say why, Safari/iOS limits', {
  timeout: 180_000,
}, () => {
  let ts: TestServer | undefined;
  let tmp: string | undefined;
  let browser: Browser | undefined;
  const people: Person[] = [];
  const roomId = `support-${Date.now().toString(36)}`;

  const url = (path: string) => `${ts?.url}${path}`;
  const person = (name: string): Person => {
    const found = people.find((p) => p.name === name);
    assert.ok(found, `no person ${name}`);
    return found;
  };

  /** A fresh context of the shared browser, with `init` run before the app's scripts. */
  async function open(address: string, init?: InitScript): Promise<OpenedPage> {
    assert.ok(browser);
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const console: string[] = [];
    page.on('console', (m) => console.push(m.text()));
    page.on('pageerror', (e) => console.push(e.message));
    if (init) await page.addInitScript(init.script, init.arg);
    await page.goto(address);
    return { page, console, close: () => context.close() };
  }

  /** Makes getUserMedia fail the way a browser does (a DOMException) or a bug does (a TypeError). */
  function failingMic(failure: {
    name: string;
    message: string;
    type: 'DOMException' | 'TypeError';
  }): InitScript {
    return {
      script: ({ name, message, type }) => {
        const g = globalThis as unknown as PageGlobals;
        g.navigator.mediaDevices.getUserMedia = () =>
          Promise.reject(
            type === 'TypeError' ? new TypeError(message) : new DOMException(message, name),
          );
      },
      arg: failure,
    };
  }

  async function pressJoin(page: Page, nickname: string): Promise<void> {
    await page.getByLabel('Nickname').fill(nickname);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
  }

  before(
    async () => {
      ensureClientBuilt();
      ts = await startTestServer();
      tmp = await mkdtemp(join(tmpdir(), 'ghosttalk-support-'));
      const wav = await writeSineWav(join(tmp, 'mic.wav'), 440);
      browser = await chromium.launch({
        executablePath: CHROMIUM_PATH,
        headless: true,
        args: [...chromiumFlags(wav), `--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`],
      });
    },
    { timeout: 60_000 },
  );

  after(
    async () => {
      await closePeople(people);
      await browser?.close().catch(() => undefined);
      await ts?.stop().catch(() => undefined);
      if (tmp) await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    },
    { timeout: 60_000 },
  );

  test('plain http on an address that is not localhost: explains HTTPS and the operator’s fix', async () => {
    const port = new URL(url('/')).port;
    for (const path of [`/r/${roomId}`, '/']) {
      const { page, close } = await open(`http://${INSECURE_HOST}:${port}${path}`);
      try {
        assert.equal(await page.evaluate('window.isSecureContext'), false, 'a non-secure page');
        await page.getByRole('heading', { name: 'This page cannot use your microphone' }).waitFor();
        const alert = (await page.getByRole('alert').textContent()) ?? '';
        assert.match(alert, /https:\/\//);
        assert.match(alert, /localhost/);
        assert.match(alert, new RegExp(`http://${INSECURE_HOST}:${port}`));
        const text = (await page.locator('#app').textContent()) ?? '';
        assert.match(text, /TLS_CERT and TLS_KEY/);
        assert.match(text, /reverse proxy such as Caddy/);
        assert.match(text, /README/);
        // Said instead of a Join button that could only fail.
        assert.equal(await page.getByLabel('Nickname').count(), 0);
      } finally {
        await close();
      }
    }
  });

  test('no RTCPeerConnection (old or in-app browsers): says to open the link in Chrome, Firefox or Safari', async () => {
    const { page, close } = await open(url(`/r/${roomId}`), {
      script: () => {
        const g = globalThis as unknown as PageGlobals;
        delete g.RTCPeerConnection;
        delete g.webkitRTCPeerConnection;
      },
      arg: {},
    });
    try {
      await page.getByRole('heading', { name: 'This browser cannot make voice calls' }).waitFor();
      assert.match((await page.getByRole('alert').textContent()) ?? '', /WebRTC/);
      const text = (await page.locator('#app').textContent()) ?? '';
      assert.match(text, /Open this link in Chrome, Firefox or Safari/);
      assert.match(text, new RegExp(`/r/${roomId}`), 'the link to copy');
      assert.equal(await page.getByLabel('Nickname').count(), 0);
    } finally {
      await close();
    }
  });

  test('an encrypted room in a browser without encoded transforms: a clear message, no join', async () => {
    const key = 'AAAAAAAAAAAAAAAAAAAAAA';
    const { page, close } = await open(url(`/r/${roomId}-sealed#${key}`), {
      script: () => {
        const g = globalThis as unknown as {
          RTCRtpScriptTransform?: unknown;
          RTCRtpSender: { prototype: { createEncodedStreams?: unknown } };
        };
        delete g.RTCRtpScriptTransform;
        delete g.RTCRtpSender.prototype.createEncodedStreams;
      },
      arg: {},
    });
    try {
      await page
        .getByRole('heading', { name: 'This browser cannot join this encrypted room' })
        .waitFor();
      const alert = (await page.getByRole('alert').textContent()) ?? '';
      assert.match(alert, /end-to-end encrypted/);
      assert.match(alert, /does not join/);
      // Never an unencrypted join instead: there is no Join button at all.
      assert.equal(await page.getByLabel('Nickname').count(), 0);
      assert.equal(ts?.server.rooms.get(`${roomId}-sealed`), undefined, 'no room was made');
    } finally {
      await close();
    }
  });

  const micFailures: [string, RegExp][] = [
    ['NotAllowedError', /Microphone access is blocked.*To allow it again.*set Microphone to Allow/],
    ['NotFoundError', /No microphone was found/],
    ['NotReadableError', /another app or browser tab may be using it/],
  ];
  for (const [name, expected] of micFailures) {
    test(`microphone ${name}: the join form says what to do`, async () => {
      const { page, console, close } = await open(
        url(`/r/${roomId}`),
        failingMic({ name, message: `browser text for ${name}`, type: 'DOMException' }),
      );
      try {
        await pressJoin(page, 'Ada');
        const error = page.locator('.join-form').getByRole('alert');
        await waitFor(`the ${name} message`, async () =>
          expected.test((await error.textContent()) ?? ''),
        );
        assert.ok(!((await page.locator('body').textContent()) ?? '').includes('browser text for'));
        assert.ok(
          console.some((line) => line.includes(`browser text for ${name}`)),
          'logged',
        );
        await page.getByRole('button', { name: 'Join', exact: true }).waitFor();
      } finally {
        await close();
      }
    });
  }

  test('a raw exception never reaches the page: a sentence does, the console gets the error', async () => {
    const { page, console, close } = await open(
      url(`/r/${roomId}`),
      failingMic({ name: 'TypeError', message: RAW_ERROR, type: 'TypeError' }),
    );
    try {
      await pressJoin(page, 'Ada');
      const error = page.locator('.join-form').getByRole('alert');
      await waitFor('a message', async () => ((await error.textContent()) ?? '') !== '');
      assert.equal(await error.textContent(), 'Something went wrong. Please try again.');
      assert.ok(!((await page.locator('body').textContent()) ?? '').includes(RAW_ERROR));
      assert.ok(
        console.some((line) => line.includes(RAW_ERROR)),
        'the error is in the console',
      );
    } finally {
      await close();
    }
  });

  test('an iOS-like browser (no setSinkId, read-only volume, no sound before a tap) gets a working room', async () => {
    assert.ok(ts);
    await launchPeople(PEOPLE.slice(0, 2), ts.dataDir, people);
    const ada = person('Ada');
    const bo = person('Bo');
    await ada.page.addInitScript(() => {
      const media = (globalThis as unknown as PageGlobals).HTMLMediaElement.prototype;
      // Safari has no output selection.
      delete (media as { setSinkId?: unknown }).setSinkId;
      // iOS: `volume` always reads 1 and ignores writes.
      Object.defineProperty(media, 'volume', {
        configurable: true,
        get: () => 1,
        set: () => undefined,
      });
      // Autoplay refused once, as iOS does for an element no gesture started.
      const play = media.play;
      let refused = false;
      media.play = function (this: MediaElement) {
        if (refused || !this.srcObject) return play.call(this);
        refused = true;
        this.pause();
        return Promise.reject(new DOMException('play() needs a user gesture', 'NotAllowedError'));
      };
    });
    for (const p of [ada, bo]) {
      await p.page.goto(url(`/r/${roomId}`));
      await pressJoin(p.page, p.name);
      await p.page.getByRole('list', { name: 'Participants' }).getByText('(you)').waitFor();
    }
    const boId = await waitFor('Ada to list Bo', () =>
      ada.page.locator('li.participant').nth(1).getAttribute('data-peer-id'),
    );
    const adaId = await bo.page.locator('li.participant').nth(1).getAttribute('data-peer-id');

    // No speaker picker and no volume slider where they could not work; Bo has both.
    await ada.page.getByLabel('Microphone').waitFor();
    assert.equal(await ada.page.getByLabel('Speaker').count(), 0, 'no speaker picker');
    assert.equal(await ada.page.getByLabel('Volume for Bo').count(), 0, 'no volume slider');
    await bo.page.getByLabel('Volume for Ada').waitFor();
    assert.equal(await bo.page.getByLabel('Speaker').count(), 1);

    // Bo's voice waits for a tap.
    const tap = ada.page.getByRole('button', { name: 'Tap to hear' });
    await tap.waitFor();
    const boAudio = ada.page.locator(`audio[data-peer-id="${boId}"]`);
    assert.equal(await boAudio.evaluate(paused), true);
    await tap.click();
    await tap.waitFor({ state: 'detached' });
    await waitFor('Bo’s audio to play', async () => !(await boAudio.evaluate(paused)));
    await waitUntilHears(
      ada,
      [{ name: 'Bo', toneHz: bo.toneHz, peerId: boId ?? undefined }],
      TONES,
      {
        timeoutMs: 15_000,
      },
    );
    await waitUntilHears(
      bo,
      [{ name: 'Ada', toneHz: ada.toneHz, peerId: adaId ?? undefined }],
      TONES,
      {
        timeoutMs: 15_000,
      },
    );
  });

  test('a microphone switch that fails with a raw exception says so in words; the call goes on', async () => {
    const ada = person('Ada');
    const picker = ada.page.getByLabel('Microphone');
    const current = await picker.inputValue();
    const choices = await picker
      .locator('option')
      .evaluateAll((options) => options.map((o) => (o as unknown as { value: string }).value));
    const other = choices.find((id) => id !== current);
    assert.ok(other, `a second fake microphone (${choices.length} listed)`);
    await ada.page.evaluate((message) => {
      const g = globalThis as unknown as PageGlobals;
      g.navigator.mediaDevices.getUserMedia = () => Promise.reject(new TypeError(message));
    }, RAW_ERROR);
    await picker.selectOption(other);
    const error = ada.page.locator('.devices').getByRole('alert');
    await waitFor('the switch error', async () => ((await error.textContent()) ?? '') !== '');
    assert.equal(await error.textContent(), 'Could not switch to that device. Please try again.');
    assert.ok(!((await ada.page.locator('body').textContent()) ?? '').includes(RAW_ERROR));
    assert.equal(await ada.page.locator('.room').getAttribute('data-state'), 'joined');
    const boId = await ada.page.locator('li.participant').nth(1).getAttribute('data-peer-id');
    const spectra = await remoteSpectra(ada.page, TONES);
    assert.ok(
      heardLevel(spectra, boId ?? undefined, person('Bo').toneHz) !== undefined,
      'still hears Bo',
    );
  });
});
