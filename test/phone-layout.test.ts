/**
 * The layout on phones, tablets and desktops, measured in a real Chromium: a full room
 * (10 people, names of the maximum length, wide letters, one long word) must not
 * scroll sideways, squeeze names, overlap them with the volume sliders or shrink a
 * control below a 44 px touch target. One real browser is in the room; the other nine
 * join through signaling only (the page lists them from peerJoined events).
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { NICKNAME_MAX_CHARS } from '../src/protocol/limits.ts';
import { ensureClientBuilt, launchPerson, type Person, waitFor } from './support/browser.ts';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { writeSineWav } from './support/wav.ts';

const SCREENSHOTS = join(fileURLToPath(new URL('..', import.meta.url)), 'artifacts/screenshots');

/** Small phone, common phone, tablet, laptop: each portrait and landscape. */
const VIEWPORTS = [
  { width: 320, height: 568 },
  { width: 568, height: 320 },
  { width: 390, height: 844 },
  { width: 844, height: 390 },
  { width: 768, height: 1024 },
  { width: 1024, height: 768 },
  { width: 1280, height: 800 },
  { width: 800, height: 1280 },
] as const;

const MIN_TARGET_PX = 44;
/** A name column narrower than this squeezes names, even if an ellipsis keeps them to two lines. */
const MIN_NAME_WIDTH_PX = 120;
/** A volume slider narrower than this is hard to set on a touch screen. */
const MIN_SLIDER_WIDTH_PX = 120;

const graphemes = (s: string) => [
  ...new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(s),
];
const maxLength = (s: string) =>
  graphemes(s.repeat(NICKNAME_MAX_CHARS))
    .slice(0, NICKNAME_MAX_CHARS)
    .map((g) => g.segment)
    .join('');

/** The browser's own name, muted: "(you)" and the badge must fit beside or below it. */
const SELF = maxLength('W');
/** The rest of the room; the first is the name from the bug report, MUTED shows its badge. */
const OTHERS = [
  'Bob the long-named builder',
  maxLength('M'),
  'Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch'.slice(0, NICKNAME_MAX_CHARS),
  'Wolfgang Amadeus Mozart the Wise',
  maxLength('Ｗ'),
  maxLength('漢字'),
  'عبد الرحمن بن محمد بن عبد العزيز',
  maxLength('🦄'),
  'Al',
];
const MUTED = new Set([OTHERS[1]]);

type Box = { left: number; top: number; right: number; bottom: number };
type Measured = {
  scrollWidth: number;
  innerWidth: number;
  /** Visible buttons, inputs, selects and button-styled links. */
  controls: { what: string; width: number; height: number }[];
  rows: {
    name: string;
    title: string;
    lines: number;
    clipped: boolean;
    /** The width of the column holding the name, "(you)" and the badge. */
    nameWidth: number;
    sliderWidth?: number;
  }[];
  /** Pairs of row parts or controls whose boxes intersect (neither inside the other). */
  overlaps: string[];
};

/** Runs in the page. The root tsconfig has no DOM types: the few objects used are described. */
function measure(): Measured {
  type El = {
    tagName: string;
    className: string;
    textContent: string | null;
    title: string;
    clientWidth: number;
    clientHeight: number;
    scrollWidth: number;
    scrollHeight: number;
    getAttribute(name: string): string | null;
    getBoundingClientRect(): Box & { width: number; height: number };
    getClientRects(): Iterable<Box>;
    querySelector(selector: string): El | null;
    querySelectorAll(selector: string): Iterable<El>;
    contains(other: El): boolean;
    checkVisibility(): boolean;
  };
  const g = globalThis as unknown as {
    innerWidth: number;
    document: { scrollingElement: El; querySelectorAll(selector: string): Iterable<El> };
    getComputedStyle(el: El): { lineHeight: string; fontSize: string };
  };
  const all = (selector: string) =>
    [...g.document.querySelectorAll(selector)].filter((el) => el.checkVisibility());
  const describe = (el: El) => {
    const label =
      el.getAttribute('aria-label') ?? (el.textContent?.trim() || el.getAttribute('id'));
    const type = el.getAttribute('type');
    const tag = `${el.tagName.toLowerCase()}${type ? `[type=${type}]` : ''}`;
    return `${tag}${el.className ? `.${el.className}` : ''} "${[...(label ?? '')].slice(0, 40).join('')}"`;
  };

  const controls = all('button, input, select, textarea, a.button-link').map((el) => {
    const { width, height } = el.getBoundingClientRect();
    return { what: describe(el), width, height };
  });

  const rows = all('li.participant').map((row) => {
    const name = row.querySelector('.name') as El;
    const style = g.getComputedStyle(name);
    const lineHeight =
      Number.parseFloat(style.lineHeight) || 1.2 * Number.parseFloat(style.fontSize);
    const box = name.getBoundingClientRect();
    const slider = row.querySelector('input[type="range"]');
    return {
      name: name.textContent ?? '',
      title: name.title,
      // An inline box's height is (lines - 1) line heights plus one font height: rounds right.
      lines: Math.round(box.height / lineHeight),
      clipped: name.scrollHeight > name.clientHeight + 1 || name.scrollWidth > name.clientWidth + 1,
      nameWidth: (row.querySelector('.who') as El).getBoundingClientRect().width,
      sliderWidth: slider?.getBoundingClientRect().width,
    };
  });

  // Per line fragment, so that a name wrapping round the slider is caught exactly.
  const parts = [
    ...all('.participant .avatar, .participant .name, .participant .you, .participant .badge'),
    ...all('.participant .volume, .participant .volume-value'),
    ...all('button, input, select, textarea, a.button-link'),
  ];
  const overlaps: string[] = [];
  const intersect = (a: Box, b: Box) =>
    a.left < b.right - 0.5 &&
    b.left < a.right - 0.5 &&
    a.top < b.bottom - 0.5 &&
    b.top < a.bottom - 0.5;
  for (const [i, a] of parts.entries()) {
    for (const b of parts.slice(i + 1)) {
      if (a.contains(b) || b.contains(a)) continue;
      const hit = [...a.getClientRects()].some((ra) =>
        [...b.getClientRects()].some((rb) => intersect(ra, rb)),
      );
      if (hit) overlaps.push(`${describe(a)} × ${describe(b)}`);
    }
  }

  return {
    scrollWidth: g.document.scrollingElement.scrollWidth,
    innerWidth: g.innerWidth,
    controls,
    rows,
    overlaps,
  };
}

/** After a resize: two frames, so the new layout is laid out and painted. */
async function measureAt(page: Page, viewport: { width: number; height: number }) {
  await page.setViewportSize(viewport);
  await page.evaluate(
    () =>
      new Promise((resolve) => {
        const g = globalThis as unknown as { requestAnimationFrame(fn: () => void): void };
        g.requestAnimationFrame(() => g.requestAnimationFrame(() => resolve(undefined)));
      }),
  );
  return page.evaluate(measure);
}

/** Everything wrong with one measured page, as sentences (an empty list passes). */
function problems(m: Measured): string[] {
  const found: string[] = [];
  if (m.scrollWidth > m.innerWidth) {
    found.push(`the page scrolls sideways: scrollWidth ${m.scrollWidth} > ${m.innerWidth}`);
  }
  for (const c of m.controls) {
    if (c.height < MIN_TARGET_PX || c.width < MIN_TARGET_PX) {
      found.push(`${c.what} is ${c.width.toFixed(0)}×${c.height.toFixed(0)} px`);
    }
  }
  for (const overlap of m.overlaps) found.push(`overlap: ${overlap}`);
  for (const row of m.rows) {
    if (row.lines > 2) found.push(`"${row.name}" takes ${row.lines} lines`);
    if (row.nameWidth < MIN_NAME_WIDTH_PX) {
      found.push(`"${row.name}" is squeezed into ${row.nameWidth.toFixed(0)} px`);
    }
    if (row.clipped && row.title !== row.name) found.push(`"${row.name}" is cut without a title`);
    if (row.sliderWidth !== undefined && row.sliderWidth < MIN_SLIDER_WIDTH_PX) {
      found.push(`the slider for "${row.name}" is ${row.sliderWidth.toFixed(0)} px wide`);
    }
  }
  return found;
}

describe('layout from a 320 px phone to a desktop, with a full room', { timeout: 180_000 }, () => {
  let ts: TestServer | undefined;
  let browser: Person | undefined;
  const clients: SignalingClient[] = [];
  /** The longest room code there is: it shows in the join page and the room header. */
  const roomId = `layout-${Date.now().toString(36)}-`.padEnd(64, 'w');
  const page = () => {
    assert.ok(browser, 'browser launched');
    return browser.page;
  };

  before(
    async () => {
      for (const name of [SELF, ...OTHERS]) {
        assert.ok(graphemes(name).length <= NICKNAME_MAX_CHARS, `${name} is a valid length`);
      }
      ensureClientBuilt();
      // Signaling-only peers never connect media: keep the server from releasing them.
      ts = await startTestServer({ JOIN_TIMEOUT_MS: '600000' });
      const wav = await writeSineWav(join(ts.dataDir, 'mic.wav'), 500);
      browser = await launchPerson({ name: 'Layout', toneHz: 500, fakeMicWav: wav });
      await mkdir(SCREENSHOTS, { recursive: true });
    },
    { timeout: 90_000 },
  );

  after(
    async () => {
      if (browser?.consoleErrors.length) {
        console.log(`# console errors: ${browser.consoleErrors.slice(-5).join(' | ')}`);
      }
      for (const c of clients) c.close();
      await browser?.close();
      await ts?.stop().catch(() => undefined);
    },
    { timeout: 60_000 },
  );

  test('the home page fits a 320 px phone', async () => {
    await page().goto(`${ts?.url}/`);
    await page().getByRole('button', { name: 'Start a new room' }).waitFor();
    const m = await measureAt(page(), VIEWPORTS[0]);
    await page().screenshot({ path: join(SCREENSHOTS, 'layout-home-320x568.png'), fullPage: true });
    assert.deepEqual(problems(m), []);
  });

  test('the join page fits a 320 px phone, with the longest nickname typed', async () => {
    await page().goto(`${ts?.url}/r/${roomId}`);
    await page().getByLabel('Nickname').fill(SELF);
    const m = await measureAt(page(), VIEWPORTS[0]);
    await page().screenshot({ path: join(SCREENSHOTS, 'layout-join-320x568.png'), fullPage: true });
    assert.deepEqual(problems(m), []);
  });

  test('ten people join: the browser and nine over signaling', async () => {
    await page().getByRole('button', { name: 'Join', exact: true }).click();
    const list = page().getByRole('list', { name: 'Participants' });
    await list.getByRole('listitem').first().getByText('(you)').waitFor();
    await page().getByRole('button', { name: 'Mute' }).click();

    const connect = async () => {
      assert.ok(ts);
      const c = await SignalingClient.connect(ts.url);
      clients.push(c);
      return c;
    };
    const first = await connect();
    const { routerRtpCapabilities } = await first.call('capabilities', {});
    for (const [i, nickname] of OTHERS.entries()) {
      const c = i === 0 ? first : await connect();
      await c.call('join', { roomId, nickname, rtpCapabilities: routerRtpCapabilities });
      if (MUTED.has(nickname)) await c.call('setMuted', { muted: true });
    }

    await waitFor('the page to list all ten, the muted ones badged', async () => {
      const names = await list.locator('.name').allTextContents();
      const badges = await list.locator('.muted-badge:visible').count();
      return names.length === 10 && badges === MUTED.size + 1;
    });
    const names = await list.locator('.name').allTextContents();
    assert.deepEqual([...names].sort(), [SELF, ...OTHERS].sort());
  });

  for (const viewport of VIEWPORTS) {
    const where = `${viewport.width}×${viewport.height}`;
    test(`the full room at ${where}`, async () => {
      const m = await measureAt(page(), viewport);
      await page().screenshot({
        path: join(SCREENSHOTS, `layout-room-${viewport.width}x${viewport.height}.png`),
        fullPage: true,
      });
      assert.equal(m.rows.length, 10);
      assert.deepEqual(problems(m), [], where);
      const clipped = m.rows.filter((r) => r.clipped).length;
      console.log(`# ${where}: ${clipped} of 10 names ellipsised (full name in the title)`);
    });
  }

  test('a volume slider answers a tap at the edge of its 44 px box, not only on its track', async () => {
    await page().setViewportSize({ width: 390, height: 844 });
    const row = page().locator('li.participant', { hasText: OTHERS[0] as string });
    const slider = row.getByRole('slider');
    const box = await slider.boundingBox();
    assert.ok(box && box.height >= MIN_TARGET_PX, `slider box ${JSON.stringify(box)}`);
    await page().mouse.click(box.x + box.width / 4, box.y + 2);
    const value = Number(await slider.inputValue());
    assert.ok(value > 10 && value < 40, `a tap a quarter along sets about 25 %, got ${value}`);
    assert.equal(await row.locator('output').textContent(), `${value} %`);
  });
});
