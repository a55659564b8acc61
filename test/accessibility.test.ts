/**
 * Accessibility in a real Chromium against a real server: axe-core finds no serious or
 * critical violation on the home, join, room (two people), "you left" and admin pages,
 * in the light and the dark colour scheme; and what the room draws in colour (who is
 * speaking, who is muted) is also in words: each participant row is named "Ada,
 * speaking" or "Bo, muted", and a polite live log announces joins, leaves and mute
 * changes (not speaking: see client/src/ui/announcer.ts). The second person joins over
 * signaling only, so one browser is enough.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { ensureClientBuilt, launchPerson, type Person, waitFor } from './support/browser.ts';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { writeSineWav } from './support/wav.ts';

/** Serious and critical violations, one line per element: what, where, why. */
async function violations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) =>
      v.nodes.map((n) => `${v.id} (${v.impact}) at ${n.target.join(' ')}: ${n.failureSummary}`),
    );
}

/** The page as it is now, in both colour schemes (contrast differs between them). */
async function audit(page: Page, what: string): Promise<void> {
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    assert.deepEqual(await violations(page), [], `${what}, ${colorScheme} scheme`);
  }
  await page.emulateMedia({ colorScheme: null });
}

describe('accessibility: axe-core on every page, room states in words', {
  timeout: 180_000,
}, () => {
  let ts: TestServer | undefined;
  let ada: Person | undefined;
  let bo: SignalingClient | undefined;
  let boId: string | undefined;
  const roomId = `a11y-${Date.now().toString(36)}`;

  const page = () => {
    assert.ok(ada, 'browser launched');
    return ada.page;
  };
  const list = () => page().getByRole('list', { name: 'Participants' });
  /**
   * The participant row whose accessible name is `name`, e.g. "Bo, muted". Chromium puts
   * a space around the visually hidden (absolutely positioned) state text when it
   * computes the name; a screen reader speaks both the same.
   */
  const row = (name: string) => {
    const pattern = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/,/g, '\\s*,');
    return list().getByRole('listitem', { name: new RegExp(`^${pattern}$`) });
  };
  const activity = () => page().getByRole('log', { name: 'Room activity' });
  const announced = (text: string) =>
    waitFor(`"${text}" in the live log`, async () =>
      (await activity().locator('p').allTextContents()).includes(text),
    );

  before(
    async () => {
      ensureClientBuilt();
      // The signaling-only person never connects media: keep the server from releasing them.
      ts = await startTestServer({ JOIN_TIMEOUT_MS: '600000' });
      const wav = await writeSineWav(join(ts.dataDir, 'mic.wav'), 500);
      ada = await launchPerson({ name: 'Ada', toneHz: 500, fakeMicWav: wav });
    },
    { timeout: 90_000 },
  );

  after(
    async () => {
      if (ada?.consoleErrors.length) {
        console.log(`# console errors: ${ada.consoleErrors.slice(-5).join(' | ')}`);
      }
      bo?.close();
      await ada?.close();
      await ts?.stop().catch(() => undefined);
    },
    { timeout: 60_000 },
  );

  test('home page', async () => {
    await page().goto(`${ts?.url}/`);
    await page().getByRole('button', { name: 'Start a new room' }).waitFor();
    await audit(page(), 'home page');
  });

  test('join page, also with a nickname error showing', async () => {
    await page().goto(`${ts?.url}/r/${roomId}`);
    await page().getByLabel('Nickname').waitFor();
    await audit(page(), 'join page');
    await page().getByLabel('Nickname').fill('\u200B');
    await page()
      .locator('.join-form')
      .getByRole('alert')
      .getByText('invisible characters')
      .waitFor();
    await audit(page(), 'join page with an error');
  });

  test('the "this browser cannot make voice calls" page', async () => {
    assert.ok(ada);
    const other = await ada.context.newPage();
    try {
      await other.addInitScript(() => {
        delete (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection;
      });
      await other.goto(`${ts?.url}/r/${roomId}`);
      await other.getByRole('heading', { name: 'This browser cannot make voice calls' }).waitFor();
      await audit(other, 'no-WebRTC page');
    } finally {
      await other.close();
    }
  });

  test('room with two people; rows are named with their state, joins are announced', async () => {
    assert.ok(ts);
    await page().getByLabel('Nickname').fill('Ada');
    await page().getByRole('button', { name: 'Join', exact: true }).click();
    await list().getByRole('listitem').first().getByText('(you)').waitFor();

    bo = await SignalingClient.connect(ts.url);
    const { routerRtpCapabilities } = await bo.call('capabilities', {});
    const joined = await bo.call('join', {
      roomId,
      nickname: 'Bo',
      rtpCapabilities: routerRtpCapabilities,
    });
    boId = joined.peerId;
    await row('Bo').waitFor();
    await announced('Bo joined');
    // The room's focus follows the view: the Join button is gone, the title has it.
    assert.equal(await page().evaluate('document.activeElement?.tagName'), 'H1');

    // Ada's fake microphone plays a tone: the server marks her speaking, the row says so.
    await row('Ada (you), speaking').waitFor();
    await audit(page(), 'room');
  });

  test('mute changes are in the row names and announced; speaking is not announced', async () => {
    assert.ok(bo);
    await bo.call('setMuted', { muted: true });
    const boRow = page().locator(`li[data-peer-id="${boId}"]`);
    await row('Bo, muted').waitFor();
    assert.equal(await boRow.getAttribute('data-muted'), 'true');
    await announced('Bo muted');
    await bo.call('setMuted', { muted: false });
    await row('Bo').waitFor();
    await announced('Bo unmuted');

    // M mutes without moving focus: the log is how a screen reader learns of it.
    await page().keyboard.press('m');
    await row('Ada (you), muted').waitFor();
    await announced('You are muted');
    await page().keyboard.press('m');
    await announced('Your microphone is on');

    const lines = await activity().locator('p').allTextContents();
    assert.ok(!lines.some((line) => /speaking/i.test(line)), `no speaking news: ${lines}`);
    assert.equal(await activity().getAttribute('aria-live'), 'polite');
  });

  test('admin console, with the room listed', async () => {
    assert.ok(ts && ada);
    const admin = await ada.context.newPage();
    try {
      await admin.goto(`${ts.url}/admin?key=${encodeURIComponent(ts.config.adminKey)}`);
      await waitFor('the console to go live', async () => {
        return (await admin.locator('#status').textContent()) === 'live';
      });
      await admin.locator('tr', { hasText: 'Bo' }).waitFor();
      await audit(admin, 'admin console');
    } finally {
      await admin.close();
    }
  });

  test('a leave is announced; the "you left" page', async () => {
    assert.ok(bo);
    await bo.call('leave', {});
    await announced('Bo left');
    await page().getByRole('button', { name: 'Hang up' }).click();
    await page().getByRole('heading', { name: 'You left the room' }).waitFor();
    await audit(page(), '"you left" page');
  });
});
