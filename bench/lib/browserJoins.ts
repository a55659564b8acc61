/**
 * Browser phase: real Chromium (Debian's, through playwright-core), one process with a
 * fresh profile per person, fake microphones playing tones (as the browser tests do),
 * in an unencrypted room and an end-to-end encrypted room at once, two residents in each.
 *
 *   1. Join time: from the Join click to the first DECODED audio of every resident (the
 *      people in the room before the click), one at a time and in bursts of pages
 *      clicking at once, the two rooms alternating (ABBA) so both see the same machine.
 *      Decoded audio is inbound-rtp `totalSamplesReceived - concealedSamples` > 0 for
 *      the stream of that resident, polled every 20 ms in the page: a packet that does
 *      not decrypt is dropped before the decoder, so the jitter buffer conceals and only
 *      concealed samples grow (the first RTP packet is recorded too, for comparison).
 *      Signaling round trips per join are the app's own count, from the page's stats
 *      panel (data-join-round-trips, shown as "Joined in … (n signaling round trips)").
 *   2. Client CPU per encrypted frame: the E2EE worker's own counters (time in the
 *      cipher calls / frames), read from the stats panel's data-e2ee-* attributes, and
 *      the worker thread's CPU from /proc (its "DedicatedWorker" thread), plus the whole
 *      Chromium's CPU per person, encrypted room vs plain room.
 *   3. The size and bitrate encryption adds per stream: outbound-rtp bytesSent /
 *      packetsSent of the same tone in both rooms, and the worker's bytesOut - bytesIn.
 *
 * 2 and 3 come from one steady window with the residents only (everyone talking).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { FRAME_OVERHEAD_BYTES } from '../../client/src/e2ee/frameCipher.ts';
import { newRoomKey } from '../../client/src/e2ee/roomKey.ts';
import { ensureClientBuilt, launchPerson, type Person } from '../../test/support/browser.ts';
import { waitFor } from '../../test/support/wait.ts';
import { writeSineWav } from '../../test/support/wav.ts';
import type { Child } from './ipc.ts';
import { findRootProcesses, sampleTreeCpu, type TreeCpuSample, treeCpuDelta } from './procCpu.ts';
import type { ServerUsage } from './serverChild.ts';
import { round, type Summary, summarize } from './stats.ts';

export type Mode = 'plain' | 'encrypted';
const MODES: readonly Mode[] = ['plain', 'encrypted'];

/** The residents of each room, the same tones in both rooms (so their Opus is alike). */
const RESIDENT_TONES = [500, 700] as const;
const JOINER_TONES = [1100, 1300, 1700, 1900, 2300] as const;
/** A join not heard by then counts as failed. */
const JOIN_TIMEOUT_MS = 20_000;
/** After the page loads and before the click: its socket connects, as for someone reading the form. */
const SETTLE_MS = 300;
const JOIN_BUTTON = 'form.join-form button[type="submit"]';
const HANG_UP_BUTTON = 'button.hangup';
/** Worker threads of Chromium's renderer: the E2EE worker is the page's only one. */
const WORKER_THREAD = /^DedicatedWorker/;
/** Threads that could be WebCrypto's own (operations run off the calling thread). */
const CRYPTO_THREAD = /crypto/i;

export type BrowserJoinSample = {
  mode: Mode;
  kind: 'sequential' | 'burst';
  /** Click to the first decoded audio of the last resident heard; null: not heard in time. */
  decodedMs: number | null;
  /** Click to the first RTP packet of the last resident's stream. */
  firstPacketMs: number | null;
  /** The app's own join time (click to sending and receiving set up), from the panel. */
  appJoinMs: number | null;
  roundTrips: number | null;
  requests: number | null;
};

type ModeJoins = {
  /** Every join of the mode (one at a time and in bursts). */
  all: Summary;
  sequential: Summary;
  burst: Summary;
  firstPacketMs: Summary;
  appJoinMs: Summary;
  failed: number;
  roundTrips: { min: number; max: number } | null;
  requests: { min: number; max: number } | null;
};

export type BrowserJoinsResult = {
  browser: string;
  /** Which encoded-transform API the page used: RTCRtpScriptTransform or createEncodedStreams. */
  e2eeApi: string;
  residentsPerRoom: number;
  burstSize: number;
  bursts: number;
  decodedSignal: string;
  joinMs: Record<Mode, ModeJoins>;
  /** Encrypted minus plain, all joins. */
  encryptedExtraMs: { p50: number; p95: number };
  /**
   * The signal checked: a page with a wrong key in the encrypted room receives the
   * residents' packets, but decodes none of them (its worker drops every frame).
   */
  wrongKey: {
    packets: number;
    decodedSamples: number;
    jitterBufferEmitted: number;
    decryptFailed: number;
  };
  /** Spread of the Join clicks within a burst (wall clock across processes), largest. */
  burstClickSpreadMs: number;
  windowMs: number;
  crypto: {
    /** The worker's time in each encrypt / decrypt call, per frame. */
    encryptUsPerFrame: number | null;
    decryptUsPerFrame: number | null;
    frames: { encrypt: number; decrypt: number };
    failed: { encrypt: number; decrypt: number };
    timerNote: string;
    /** The E2EE worker's thread, per encrypted person, as % of one core and per frame. */
    workerThread: { pctOfCore: number; usPerFrame: number } | null;
    /** A thread of WebCrypto's own, if one is busier in the encrypted room. */
    cryptoThread: { name: string; pctOfCore: number; usPerFrame: number } | null;
    /**
     * One AES-GCM encrypt of an 80-byte frame through crypto.subtle on a page's main
     * thread, µs: back to back (the thread pool awake) and paced like audio (one call every
     * 20 ms, each waking it), to tell the cipher's cost from waiting for the thread.
     */
    webCryptoCallUs: { backToBack: number; paced: number };
    /** A whole Chromium per person (every process), % of one core. */
    chromiumPctPerPerson: { plain: number; encrypted: number; added: number } | null;
    /** The added Chromium CPU per frame encrypted or decrypted. */
    chromiumAddedUsPerFrame: number | null;
    /** CPU ms per second per person by thread name, threads busier in the encrypted room first. */
    threadsMsPerSecond: { name: string; plain: number; encrypted: number }[];
  };
  size: {
    frameOverheadBytes: number;
    /** The worker's counters: encrypt bytesOut - bytesIn, decrypt bytesIn - bytesOut, per frame. */
    workerAddedBytesPerFrame: { encrypt: number | null; decrypt: number | null };
    /** outbound-rtp bytesSent / packetsSent (payload, no headers). */
    bytesPerPacket: { plain: number; encrypted: number; added: number };
    packetsPerSecond: { plain: number; encrypted: number };
    /** outbound-rtp payload bit rate per speaker. */
    payloadKbps: { plain: number; encrypted: number; added: number };
    /** With RTP headers (headerBytesSent); not SRTP's tag, UDP or IP. */
    rtpKbps: { plain: number; encrypted: number };
    /** FRAME_OVERHEAD_BYTES at the packet rate measured. */
    expectedAddedKbps: number;
  };
  samples: BrowserJoinSample[];
};

type Launched = { person: Person; root: number | undefined };
type Resident = Launched & { peerId: string };
type Room = { mode: Mode; id: string; link: string; residents: Resident[] };

export async function measureBrowserJoins(options: {
  server: Child;
  url: string;
  /** Joins one at a time, per mode. */
  sequential: number;
  /** Bursts per mode, of `burstSize` pages clicking Join at once. */
  bursts: number;
  burstSize: number;
  /** The steady window for CPU and sizes (a multiple of the 2 s tone loop is best). */
  windowMs: number;
  log: (line: string) => void;
}): Promise<BrowserJoinsResult> {
  const { server, url, log } = options;
  ensureClientBuilt();
  const dir = await mkdtemp(join(tmpdir(), 'ghosttalk-bench-browser-'));
  const launched: Launched[] = [];
  try {
    const stamp = Date.now().toString(36);
    const specs = [
      ...MODES.flatMap((mode) =>
        RESIDENT_TONES.map((toneHz, i) => ({ name: `${mode}-${'AB'[i]}`, toneHz })),
      ),
      ...Array.from({ length: options.burstSize }, (_, i) => ({
        name: `joiner-${i + 1}`,
        toneHz: JOINER_TONES[i % JOINER_TONES.length] as number,
      })),
    ];
    const started = performance.now();
    const results = await Promise.allSettled(specs.map((spec) => launch(spec, dir)));
    for (const r of results) if (r.status === 'fulfilled') launched.push(r.value);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const byName = (name: string) => launched.find((l) => l.person.name === name) as Launched;
    log(
      `  ${launched.length} Chromium processes up in ${Math.round(performance.now() - started)} ms`,
    );

    // Both rooms fill at once: A of each, then B of each.
    const rooms: Room[] = MODES.map((mode) => {
      const id = `bench-${mode}-${stamp}`;
      const link = mode === 'encrypted' ? `${url}/r/${id}#${newRoomKey()}` : `${url}/r/${id}`;
      return { mode, id, link, residents: [] };
    });
    for (const letter of ['A', 'B']) {
      await Promise.all(
        rooms.map(async (room) => {
          const l = byName(`${room.mode}-${letter}`);
          await enter(l.person.page, l.person.name, room.link);
          room.residents.push({ ...l, peerId: await selfId(l.person.page) });
        }),
      );
    }
    const residentsTotal = rooms.reduce((n, r) => n + r.residents.length, 0);
    for (const room of rooms) {
      for (const r of room.residents) {
        const others = room.residents.filter((o) => o !== r).map((o) => o.peerId);
        await waitFor(
          `${r.person.name} to decode the other resident`,
          async () => {
            const heard = await receiving(r.person.page);
            return others.every((id) => (heard[id]?.decodedSamples ?? 0) > 0);
          },
          { timeoutMs: 15_000, intervalMs: 100 },
        );
      }
    }
    const page = launched[0]?.person.page as Page;
    const browser = await page.evaluate(
      () => (globalThis as unknown as { navigator: { userAgent: string } }).navigator.userAgent,
    );
    const encryptedPage = rooms[1]?.residents[0]?.person.page as Page;
    const e2eeApi = await encryptedPage.evaluate(() =>
      'RTCRtpScriptTransform' in globalThis ? 'RTCRtpScriptTransform' : 'createEncodedStreams',
    );
    log(`  ${browser.match(/(Headless)?Chrome\/[\d.]+/)?.[0] ?? browser}; E2EE through ${e2eeApi}`);

    // --- 2 and 3: the steady window, residents only -------------------------------
    await sleep(1000);
    const steady = await steadyWindow(rooms, options.windowMs);
    log(
      `  per frame (worker's counters): encrypt ${steady.crypto.encryptUsPerFrame} µs, decrypt ` +
        `${steady.crypto.decryptUsPerFrame} µs; worker thread ${steady.crypto.workerThread?.pctOfCore ?? '?'} % ` +
        `of a core per person (${steady.crypto.workerThread?.usPerFrame ?? '?'} µs per frame); Chromium per ` +
        `person plain ${steady.crypto.chromiumPctPerPerson?.plain ?? '?'} % vs encrypted ` +
        `${steady.crypto.chromiumPctPerPerson?.encrypted ?? '?'} %`,
    );
    const joinerPage = launched.find((l) => l.person.name === 'joiner-1')?.person.page as Page;
    await joinerPage.goto(rooms[0]?.link as string);
    steady.crypto.webCryptoCallUs = await joinerPage.evaluate(webCryptoCalls);
    await joinerPage.goto('about:blank');
    log(
      `  one crypto.subtle AES-GCM encrypt: ${steady.crypto.webCryptoCallUs.backToBack} µs back to back, ` +
        `${steady.crypto.webCryptoCallUs.paced} µs paced at 20 ms`,
    );
    const s = steady.size;
    log(
      `  size: ${s.bytesPerPacket.plain} -> ${s.bytesPerPacket.encrypted} bytes per packet ` +
        `(+${s.bytesPerPacket.added}; worker +${s.workerAddedBytesPerFrame.encrypt} per frame), ` +
        `${s.payloadKbps.plain} -> ${s.payloadKbps.encrypted} kbit/s payload per speaker ` +
        `(+${s.payloadKbps.added}; expected +${s.expectedAddedKbps} at ${s.packetsPerSecond.encrypted} packets/s)`,
    );

    // --- 1: joins, the modes alternating -------------------------------------------
    const joiners = launched
      .filter((l) => l.person.name.startsWith('joiner-'))
      .map((l) => l.person);
    const samples: BrowserJoinSample[] = [];
    let clickSpread = 0;
    const order = (i: number) => (i % 2 === 0 ? MODES : [...MODES].reverse());
    const run = async (batch: Person[], room: Room, kind: BrowserJoinSample['kind']) => {
      const out = await timedJoins(batch, room, kind, server, residentsTotal);
      clickSpread = Math.max(clickSpread, out.clickSpreadMs);
      for (const sample of out.samples) {
        samples.push(sample);
        if (sample.decodedMs === null) log(`  ${room.mode} ${kind} join not heard in time`);
      }
    };
    for (let i = 0; i < options.sequential; i++) {
      for (const mode of order(i)) {
        const joiner = joiners[i % joiners.length] as Person;
        await run([joiner], rooms.find((r) => r.mode === mode) as Room, 'sequential');
      }
    }
    for (let i = 0; i < options.bursts; i++) {
      for (const mode of order(i)) {
        await run(joiners, rooms.find((r) => r.mode === mode) as Room, 'burst');
      }
    }
    const encryptedRoom = rooms.find((r) => r.mode === 'encrypted') as Room;
    const wrongKey = await wrongKeyCheck(
      joiners[0] as Person,
      encryptedRoom,
      server,
      residentsTotal,
    );
    log(
      `  a wrong key: ${wrongKey.packets} packets received, ${wrongKey.decodedSamples} samples decoded, ` +
        `${wrongKey.decryptFailed} frames dropped by the worker`,
    );
    const joinMs = Object.fromEntries(
      MODES.map((mode) => [mode, modeJoins(samples.filter((x) => x.mode === mode))]),
    ) as Record<Mode, ModeJoins>;
    for (const mode of MODES) {
      const j = joinMs[mode];
      log(
        `  ${mode}: join -> decoded audio from both residents p50 ${j.all.p50} ms, p95 ${j.all.p95}, ` +
          `max ${j.all.max} (n=${j.all.n}, ${j.failed} failed); one at a time p50 ${j.sequential.p50}, ` +
          `bursts of ${options.burstSize} p50 ${j.burst.p50} / max ${j.burst.max}; first RTP packet ` +
          `p50 ${j.firstPacketMs.p50}; ${j.roundTrips?.max ?? '?'} round trips (${j.requests?.max ?? '?'} requests)`,
      );
    }
    return {
      browser,
      e2eeApi,
      residentsPerRoom: RESIDENT_TONES.length,
      burstSize: options.burstSize,
      bursts: options.bursts,
      decodedSignal:
        "inbound-rtp totalSamplesReceived - concealedSamples > 0 on the stream of each person already in the room (matched by track to the app's <audio data-peer-id>), getStats polled every 20 ms from the Join click; the time is when the last of them is first decoded",
      joinMs,
      wrongKey,
      encryptedExtraMs: {
        p50: round(joinMs.encrypted.all.p50 - joinMs.plain.all.p50, 0),
        p95: round(joinMs.encrypted.all.p95 - joinMs.plain.all.p95, 0),
      },
      burstClickSpreadMs: Math.round(clickSpread),
      windowMs: options.windowMs,
      ...steady,
      samples,
    };
  } finally {
    await Promise.allSettled(launched.map((l) => l.person.close()));
    await rm(dir, { recursive: true, force: true });
  }
}

async function launch(spec: { name: string; toneHz: number }, dir: string): Promise<Launched> {
  const fakeMicWav = await writeSineWav(
    join(dir, `${spec.name}-${spec.toneHz}hz.wav`),
    spec.toneHz,
  );
  const person = await launchPerson({ ...spec, fakeMicWav });
  try {
    await person.page.addInitScript(installDecodeProbe);
    // The browser process is the one with this person's microphone file on its command line.
    const [root] = findRootProcesses(`--use-file-for-fake-audio-capture=${fakeMicWav}`);
    return { person, root };
  } catch (error) {
    await person.close();
    throw error;
  }
}

async function enter(page: Page, nickname: string, link: string): Promise<void> {
  await page.goto(link);
  await page.getByLabel('Nickname').fill(nickname);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
}

async function selfId(page: Page): Promise<string> {
  return waitFor('the page in its room', async () => {
    const state = await page.locator('.room').getAttribute('data-state', { timeout: 1_000 });
    if (state !== 'joined') return undefined;
    const self = page.getByRole('list', { name: 'Participants' }).getByRole('listitem');
    return (await self.first().getAttribute('data-peer-id')) ?? undefined;
  });
}

/**
 * One join of each page of `batch` into `room`, their clicks at once; then they hang up
 * and the room is back to its residents before this returns.
 */
async function timedJoins(
  batch: Person[],
  room: Room,
  kind: BrowserJoinSample['kind'],
  server: Child,
  residentsTotal: number,
): Promise<{ samples: BrowserJoinSample[]; clickSpreadMs: number }> {
  const expect = room.residents.map((r) => r.peerId);
  await Promise.all(
    batch.map(async (p) => {
      await p.page.goto(room.link);
      await p.page.getByLabel('Nickname').fill(p.name);
      await p.page.evaluate((ids) => {
        const probe = (globalThis as unknown as DecodeGlobals).__gtDecode;
        if (probe) probe.expect = ids;
      }, expect);
    }),
  );
  // Every page clicks Join at the same wall-clock instant (Date.now() is shared).
  const when = Date.now() + SETTLE_MS;
  await Promise.all(
    batch.map((p) => p.page.evaluate(clickLater, { selector: JOIN_BUTTON, at: when })),
  );
  const probes = await Promise.all(
    batch.map(async (p) => {
      await p.page.waitForFunction(
        () => (globalThis as unknown as DecodeGlobals).__gtDecode?.done === true,
        undefined,
        { polling: 100, timeout: JOIN_TIMEOUT_MS + 5_000 },
      );
      return p.page.evaluate(() => (globalThis as unknown as DecodeGlobals).__gtDecode);
    }),
  );
  const metrics = await Promise.all(batch.map((p) => joinMetrics(p.page)));
  await leave(batch, server, residentsTotal);
  const clicks = probes.map((p) => p?.clickEpochMs).filter((t) => t !== undefined);
  const samples = probes.map((probe, i): BrowserJoinSample => {
    const m = metrics[i];
    const last = (at: Record<string, number> | undefined) => {
      if (!probe || probe.clickAt === undefined || probe.timedOut || !at) return null;
      const times = expect.map((id) => at[id]);
      if (times.some((t) => t === undefined)) return null;
      return round(Math.max(...(times as number[])) - probe.clickAt, 0);
    };
    return {
      mode: room.mode,
      kind,
      decodedMs: last(probe?.firstDecodedAt),
      firstPacketMs: last(probe?.firstPacketAt),
      appJoinMs: m?.ms ?? null,
      roundTrips: m?.roundTrips ?? null,
      requests: m?.requests ?? null,
    };
  });
  return {
    samples,
    clickSpreadMs: clicks.length > 1 ? Math.max(...clicks) - Math.min(...clicks) : 0,
  };
}

/** The pages hang up; returns once the server holds the residents only. */
async function leave(batch: Person[], server: Child, residentsTotal: number): Promise<void> {
  await Promise.all(
    batch.map((p) =>
      p.page.evaluate(clickLater, { selector: HANG_UP_BUTTON, at: 0 }).catch(() => undefined),
    ),
  );
  const backToResidents = (timeoutMs: number) =>
    waitFor(
      'the joiners to leave',
      async () => (await server.call<ServerUsage>('usage', { gc: false })).peers === residentsTotal,
      { timeoutMs, intervalMs: 100 },
    );
  // Away from the room's URL: the next visit of the same link with its fragment loads
  // afresh (the same URL would only scroll to the fragment). A page that could not hang
  // up leaves as it unloads, or at the end of the server's reconnect grace.
  const away = () => Promise.all(batch.map((p) => p.page.goto('about:blank')));
  try {
    await backToResidents(10_000);
    await away();
  } catch {
    await away();
    await backToResidents(60_000);
  }
}

/** A page with the encrypted room's link but another key: packets arrive, nothing decodes. */
async function wrongKeyCheck(
  joiner: Person,
  room: Room,
  server: Child,
  residentsTotal: number,
): Promise<BrowserJoinsResult['wrongKey']> {
  const path = room.link.split('#')[0] as string;
  await enter(joiner.page, joiner.name, `${path}#${newRoomKey()}`);
  const ids = room.residents.map((r) => r.peerId);
  // A second and a half of everyone's packets (and the worker's report of its drops).
  const heard = await waitFor(
    'packets with a wrong key',
    async () => {
      const now = await receiving(joiner.page);
      return ids.every((id) => (now[id]?.packets ?? 0) >= 75) && now;
    },
    { timeoutMs: 15_000, intervalMs: 200 },
  );
  const panel = await panelData(joiner.page);
  await leave([joiner], server, residentsTotal);
  const total = (f: (r: Received) => number) =>
    ids.reduce((n, id) => n + (heard[id] ? f(heard[id]) : 0), 0);
  return {
    packets: total((r) => r.packets),
    decodedSamples: total((r) => r.decodedSamples),
    jitterBufferEmitted: total((r) => r.jitterBufferEmitted),
    decryptFailed: Number(panel.e2eeDecryptFailed ?? 0),
  };
}

/** The app's join metrics from the stats panel (Call's 'joined' event, StatsPanel.showJoin). */
async function joinMetrics(
  page: Page,
): Promise<{ ms: number; requests: number; roundTrips: number } | undefined> {
  const panel = page.locator('.stats');
  try {
    await waitFor(
      'the join metrics',
      async () => (await panel.getAttribute('data-join-round-trips', { timeout: 1_000 })) !== null,
      { timeoutMs: 5_000, intervalMs: 50 },
    );
  } catch {
    return undefined;
  }
  const data = await panelData(page);
  return {
    ms: Number(data.joinMs),
    requests: Number(data.joinRequests),
    roundTrips: Number(data.joinRoundTrips),
  };
}

// --- the steady window ---------------------------------------------------------------

type Reading = {
  rtp: RtpTotals;
  panel: Record<string, string | undefined>;
  cpu: TreeCpuSample | undefined;
};

async function read(r: Resident, cpu: TreeCpuSample | undefined): Promise<Reading> {
  const [rtp, panel] = await Promise.all([rtpTotals(r.person.page), panelData(r.person.page)]);
  return { rtp, panel, cpu };
}

type Steady = Pick<BrowserJoinsResult, 'crypto' | 'size'>;

async function steadyWindow(rooms: Room[], windowMs: number): Promise<Steady> {
  const residents = rooms.flatMap((room) => room.residents.map((r) => ({ room, r })));
  const cpuNow = () => residents.map(({ r }) => (r.root ? sampleTreeCpu(r.root) : undefined));
  const cpuBefore = cpuNow();
  const before = await Promise.all(residents.map(({ r }, i) => read(r, cpuBefore[i])));
  // The panels' counters once a second (each worker report): in-flight frames aside, below.
  const snapshots: Record<string, string | undefined>[] = [];
  const encrypted = residents.filter(({ room }) => room.mode === 'encrypted');
  for (const [i, { room }] of residents.entries()) {
    if (room.mode === 'encrypted') snapshots.push((before[i] as Reading).panel);
  }
  const ticks = Math.max(1, Math.floor(windowMs / 1000));
  for (let t = 0; t < ticks; t++) {
    await sleep(windowMs / ticks);
    if (t < ticks - 1) {
      snapshots.push(...(await Promise.all(encrypted.map(({ r }) => panelData(r.person.page)))));
    }
  }
  const cpuAfter = cpuNow();
  const after = await Promise.all(residents.map(({ r }, i) => read(r, cpuAfter[i])));
  for (const [i, { room }] of residents.entries()) {
    if (room.mode === 'encrypted') snapshots.push((after[i] as Reading).panel);
  }

  type PerPerson = {
    mode: Mode;
    seconds: number;
    bytesSent: number;
    headerBytesSent: number;
    packetsSent: number;
    packetsReceived: number;
    cpu?: ReturnType<typeof treeCpuDelta>;
    panel: Record<string, number>;
  };
  const people: PerPerson[] = residents.map(({ room }, i) => {
    const a = before[i] as Reading;
    const b = after[i] as Reading;
    const panel: Record<string, number> = {};
    for (const key of Object.keys(b.panel)) {
      if (!key.startsWith('e2ee')) continue;
      panel[key] = Number(b.panel[key]) - Number(a.panel[key] ?? 0);
    }
    return {
      mode: room.mode,
      seconds: (b.rtp.at - a.rtp.at) / 1000,
      bytesSent: b.rtp.bytesSent - a.rtp.bytesSent,
      headerBytesSent: b.rtp.headerBytesSent - a.rtp.headerBytesSent,
      packetsSent: b.rtp.packetsSent - a.rtp.packetsSent,
      packetsReceived: b.rtp.packetsReceived - a.rtp.packetsReceived,
      cpu: a.cpu && b.cpu ? treeCpuDelta(a.cpu, b.cpu) : undefined,
      panel,
    };
  });
  const of = (mode: Mode) => people.filter((p) => p.mode === mode);
  const sum = (list: PerPerson[], f: (p: PerPerson) => number) =>
    list.reduce((n, p) => n + f(p), 0);
  const mean = (list: PerPerson[], f: (p: PerPerson) => number) =>
    list.length ? sum(list, f) / list.length : Number.NaN;

  // Sizes: outbound-rtp, the same tones in both rooms.
  const bytesPerPacket = (mode: Mode) =>
    sum(of(mode), (p) => p.bytesSent) / sum(of(mode), (p) => p.packetsSent);
  const kbps = (mode: Mode, f: (p: PerPerson) => number) =>
    mean(of(mode), (p) => (f(p) * 8) / 1000 / p.seconds);
  const pps = (mode: Mode) => mean(of(mode), (p) => p.packetsSent / p.seconds);
  const payload = { plain: kbps('plain', (p) => p.bytesSent), encrypted: 0 };
  payload.encrypted = kbps('encrypted', (p) => p.bytesSent);
  const size: Steady['size'] = {
    frameOverheadBytes: FRAME_OVERHEAD_BYTES,
    workerAddedBytesPerFrame: workerAddedBytes(snapshots),
    bytesPerPacket: {
      plain: round(bytesPerPacket('plain'), 2),
      encrypted: round(bytesPerPacket('encrypted'), 2),
      added: round(bytesPerPacket('encrypted') - bytesPerPacket('plain'), 2),
    },
    packetsPerSecond: { plain: round(pps('plain'), 1), encrypted: round(pps('encrypted'), 1) },
    payloadKbps: {
      plain: round(payload.plain, 2),
      encrypted: round(payload.encrypted, 2),
      added: round(payload.encrypted - payload.plain, 2),
    },
    rtpKbps: {
      plain: round(
        kbps('plain', (p) => p.bytesSent + p.headerBytesSent),
        2,
      ),
      encrypted: round(
        kbps('encrypted', (p) => p.bytesSent + p.headerBytesSent),
        2,
      ),
    },
    expectedAddedKbps: round((FRAME_OVERHEAD_BYTES * 8 * pps('encrypted')) / 1000, 2),
  };

  // CPU: the worker's counters (time in the cipher calls) ...
  const enc = of('encrypted');
  const panelSum = (key: string) => sum(enc, (p) => p.panel[key] ?? 0);
  const perFrameUs = (ms: number, frames: number) =>
    frames > 0 ? round((1000 * ms) / frames, 1) : null;
  const frames = { encrypt: panelSum('e2eeEncryptFrames'), decrypt: panelSum('e2eeDecryptFrames') };
  const failed = { encrypt: panelSum('e2eeEncryptFailed'), decrypt: panelSum('e2eeDecryptFailed') };
  // ... and /proc: threads and whole browsers, per person per second.
  const withCpu = people.every((p) => p.cpu !== undefined);
  const threadMsPerS = (mode: Mode, test: (name: string) => boolean) =>
    mean(of(mode), (p) => {
      const byName = p.cpu?.byThreadName ?? {};
      const ms = Object.entries(byName)
        .filter(([name]) => test(name))
        .reduce((n, [, v]) => n + v, 0);
      return ms / p.seconds;
    });
  // Frames through the worker per person per second: one sent, one per remote stream received.
  const framesPerS = mean(enc, (p) => (p.packetsSent + p.packetsReceived) / p.seconds);
  const usPerFrame = (msPerS: number) => round((1000 * msPerS) / framesPerS, 1);
  const workerMsPerS = threadMsPerS('encrypted', (n) => WORKER_THREAD.test(n));
  const names = new Set(people.flatMap((p) => Object.keys(p.cpu?.byThreadName ?? {})));
  const threads = [...names]
    .map((name) => ({
      name,
      plain: round(
        threadMsPerS('plain', (n) => n === name),
        2,
      ),
      encrypted: round(
        threadMsPerS('encrypted', (n) => n === name),
        2,
      ),
    }))
    .sort((a, b) => b.encrypted - b.plain - (a.encrypted - a.plain))
    .slice(0, 10);
  const cryptoThread = threads.find(
    (t) => CRYPTO_THREAD.test(t.name) && t.encrypted > t.plain && !WORKER_THREAD.test(t.name),
  );
  const chromium = (mode: Mode) => mean(of(mode), (p) => (p.cpu?.totalMs ?? 0) / p.seconds / 10);
  const cryptoCost: Steady['crypto'] = {
    encryptUsPerFrame: perFrameUs(panelSum('e2eeEncryptMs'), frames.encrypt + failed.encrypt),
    decryptUsPerFrame: perFrameUs(panelSum('e2eeDecryptMs'), frames.decrypt + failed.decrypt),
    frames,
    failed,
    webCryptoCallUs: { backToBack: Number.NaN, paced: Number.NaN },
    timerNote:
      "the worker's performance.now() around each crypto.subtle call (its wait for WebCrypto's thread included); in a page that is not cross-origin isolated Chromium coarsens it to 100 µs with random thresholds, unbiased over many frames",
    workerThread:
      withCpu && workerMsPerS > 0
        ? { pctOfCore: round(workerMsPerS / 10, 2), usPerFrame: usPerFrame(workerMsPerS) }
        : null,
    cryptoThread: cryptoThread
      ? {
          name: cryptoThread.name,
          pctOfCore: round((cryptoThread.encrypted - cryptoThread.plain) / 10, 2),
          usPerFrame: usPerFrame(cryptoThread.encrypted - cryptoThread.plain),
        }
      : null,
    chromiumPctPerPerson: withCpu
      ? {
          plain: round(chromium('plain'), 1),
          encrypted: round(chromium('encrypted'), 1),
          added: round(chromium('encrypted') - chromium('plain'), 1),
        }
      : null,
    chromiumAddedUsPerFrame: withCpu
      ? usPerFrame((chromium('encrypted') - chromium('plain')) * 10)
      : null,
    threadsMsPerSecond: threads,
  };
  return { crypto: cryptoCost, size };
}

/**
 * Bytes the worker adds per frame, from its counters. It counts a frame's bytesIn before
 * the cipher call and its frames and bytesOut after: a report taken while a frame is in
 * the call holds that frame's bytesIn only, which lowers encrypt's bytesOut - bytesIn and
 * raises decrypt's bytesIn - bytesOut. So the extreme over the reports is the exact figure
 * (any report without a frame in flight gives it); a report with failed decryptions
 * (bytes in, none out) is left out.
 */
function workerAddedBytes(snapshots: Record<string, string | undefined>[]): {
  encrypt: number | null;
  decrypt: number | null;
} {
  const n = (s: Record<string, string | undefined>, key: string) => Number(s[key] ?? Number.NaN);
  const encrypt = snapshots
    .map(
      (s) => (n(s, 'e2eeEncryptBytesOut') - n(s, 'e2eeEncryptBytesIn')) / n(s, 'e2eeEncryptFrames'),
    )
    .filter(Number.isFinite);
  const decrypt = snapshots
    .filter((s) => n(s, 'e2eeDecryptFailed') === 0)
    .map(
      (s) => (n(s, 'e2eeDecryptBytesIn') - n(s, 'e2eeDecryptBytesOut')) / n(s, 'e2eeDecryptFrames'),
    )
    .filter(Number.isFinite);
  return {
    encrypt: encrypt.length ? round(Math.max(...encrypt), 3) : null,
    decrypt: decrypt.length ? round(Math.min(...decrypt), 3) : null,
  };
}

function modeJoins(samples: BrowserJoinSample[]): ModeJoins {
  const ms = (list: BrowserJoinSample[], f: (s: BrowserJoinSample) => number | null) =>
    summarize(list.map(f).filter((v): v is number => v !== null));
  const range = (values: (number | null)[]) => {
    const known = values.filter((v): v is number => v !== null && Number.isFinite(v));
    return known.length ? { min: Math.min(...known), max: Math.max(...known) } : null;
  };
  return {
    all: ms(samples, (s) => s.decodedMs),
    sequential: ms(
      samples.filter((s) => s.kind === 'sequential'),
      (s) => s.decodedMs,
    ),
    burst: ms(
      samples.filter((s) => s.kind === 'burst'),
      (s) => s.decodedMs,
    ),
    firstPacketMs: ms(samples, (s) => s.firstPacketMs),
    appJoinMs: ms(samples, (s) => s.appJoinMs),
    failed: samples.filter((s) => s.decodedMs === null).length,
    roundTrips: range(samples.map((s) => s.roundTrips)),
    requests: range(samples.map((s) => s.requests)),
  };
}

// ---------------------------------------------------------------------------------
// Code that runs inside the page (the root tsconfig has no DOM types: the few browser
// objects it touches are described here). installJoinProbe (test/support/browser.ts,
// installed by launchPerson) keeps every RTCPeerConnection in __gtConnections.

type StatsReport = { values(): Iterable<Record<string, unknown>> };
type PeerConnection = { connectionState: string; getStats(): Promise<StatsReport> };
type AudioElement = {
  dataset: Record<string, string | undefined>;
  srcObject: { getTracks(): { id: string }[] } | null;
};
type DecodeProbe = {
  /** Peer ids to hear; set before the click, or the probe does nothing. */
  expect?: string[];
  clickAt?: number;
  /** Date.now() of the click: comparable across pages (a burst's spread). */
  clickEpochMs?: number;
  firstPacketAt: Record<string, number>;
  firstDecodedAt: Record<string, number>;
  done: boolean;
  timedOut?: boolean;
};
type DecodeGlobals = {
  __gtConnections?: PeerConnection[];
  __gtDecode?: DecodeProbe;
  document: {
    addEventListener(type: string, fn: (e: { target: unknown }) => void, capture: boolean): void;
    querySelectorAll(selector: string): Iterable<AudioElement>;
    querySelector(
      selector: string,
    ): { dataset: Record<string, string | undefined>; click(): void } | null;
  };
};

/**
 * Clicks `selector` at `at` (Date.now() ms; at once if past): pages in other processes
 * click together. The page's click listeners see it as any click (the app's autoplay
 * needs no gesture under the flags of chromiumFlags).
 */
function clickLater({ selector, at }: { selector: string; at: number }): void {
  const g = globalThis as unknown as DecodeGlobals;
  const button = g.document.querySelector(selector);
  if (!button) throw new Error(`no ${selector} on the page`);
  setTimeout(() => button.click(), Math.max(0, at - Date.now()));
}

/**
 * Init script: from the Join click, samples getStats every 20 ms and records, per remote
 * peer (the <audio data-peer-id> playing the stream's track), the first RTP packet and
 * the first decoded samples (totalSamplesReceived - concealedSamples > 0), until every
 * expected peer is decoded or JOIN_TIMEOUT_MS pass.
 */
export function installDecodeProbe(): void {
  const intervalMs = 20;
  const timeoutMs = 20_000;
  const g = globalThis as unknown as DecodeGlobals;
  const probe: DecodeProbe = { firstPacketAt: {}, firstDecodedAt: {}, done: false };
  g.__gtDecode = probe;
  let busy = false;
  const sample = async (timer: ReturnType<typeof setInterval>) => {
    if (busy || probe.done || probe.clickAt === undefined) return;
    busy = true;
    try {
      const trackPeers = new Map<string, string>();
      for (const element of g.document.querySelectorAll('audio[data-peer-id]')) {
        for (const track of element.srcObject?.getTracks() ?? []) {
          trackPeers.set(track.id, element.dataset.peerId ?? '');
        }
      }
      for (const pc of g.__gtConnections ?? []) {
        if (pc.connectionState === 'closed') continue;
        const report = await pc.getStats();
        const now = performance.now();
        for (const s of report.values()) {
          if (s.type !== 'inbound-rtp' || s.kind !== 'audio') continue;
          const peer = trackPeers.get(String(s.trackIdentifier));
          if (!peer) continue;
          if (Number(s.packetsReceived ?? 0) > 0) probe.firstPacketAt[peer] ??= now;
          const decoded = Number(s.totalSamplesReceived ?? 0) - Number(s.concealedSamples ?? 0);
          if (decoded > 0) probe.firstDecodedAt[peer] ??= now;
        }
      }
      const expect = probe.expect ?? [];
      if (expect.every((id) => probe.firstDecodedAt[id] !== undefined)) probe.done = true;
      else if (performance.now() - probe.clickAt > timeoutMs) {
        probe.timedOut = true;
        probe.done = true;
      }
    } finally {
      busy = false;
    }
    if (probe.done) clearInterval(timer);
  };
  g.document.addEventListener(
    'click',
    (event) => {
      const target = event.target as { closest?: (s: string) => { textContent: string } | null };
      const button = target?.closest?.('button');
      if (button?.textContent.trim() !== 'Join' || probe.clickAt !== undefined) return;
      if (!probe.expect) return;
      probe.clickAt = performance.now();
      probe.clickEpochMs = Date.now();
      const timer: ReturnType<typeof setInterval> = setInterval(
        () => void sample(timer),
        intervalMs,
      );
    },
    true,
  );
}

/** One remote peer's stream: packets, samples decoded (not concealed), jitterBufferEmittedCount. */
export type Received = { packets: number; decodedSamples: number; jitterBufferEmitted: number };

/** In the page: the time of one crypto.subtle AES-GCM call, back to back and paced (µs). */
async function webCryptoCalls(): Promise<{ backToBack: number; paced: number }> {
  const subtle = globalThis.crypto.subtle;
  const key = await subtle.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt']);
  const frame = new Uint8Array(80);
  let counter = 0;
  const once = () => {
    const iv = new Uint8Array(12);
    new DataView(iv.buffer).setUint32(8, counter++);
    const params = { name: 'AES-GCM', iv, additionalData: frame.subarray(0, 1), tagLength: 128 };
    return subtle.encrypt(params, key, frame.subarray(1));
  };
  for (let i = 0; i < 50; i++) await once(); // warm up
  const calls = 500;
  const started = performance.now();
  for (let i = 0; i < calls; i++) await once();
  const backToBack = ((performance.now() - started) * 1000) / calls;
  // performance.now() is coarse (100 µs, jittered): the sum of many calls is not.
  let paced = 0;
  const pacedCalls = 50;
  for (let i = 0; i < pacedCalls; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const t = performance.now();
    await once();
    paced += performance.now() - t;
  }
  const round1 = (v: number) => Math.round(v * 10) / 10;
  return { backToBack: round1(backToBack), paced: round1((paced * 1000) / pacedCalls) };
}

/** Per remote peer, now. */
export async function receiving(page: Page): Promise<Record<string, Received>> {
  return page.evaluate(async () => {
    const g = globalThis as unknown as DecodeGlobals;
    const trackPeers = new Map<string, string>();
    for (const element of g.document.querySelectorAll('audio[data-peer-id]')) {
      for (const track of element.srcObject?.getTracks() ?? []) {
        trackPeers.set(track.id, element.dataset.peerId ?? '');
      }
    }
    const out: Record<string, Received> = {};
    for (const pc of g.__gtConnections ?? []) {
      if (pc.connectionState === 'closed') continue;
      for (const s of (await pc.getStats()).values()) {
        if (s.type !== 'inbound-rtp' || s.kind !== 'audio') continue;
        const peer = trackPeers.get(String(s.trackIdentifier));
        if (!peer) continue;
        out[peer] = {
          packets: Number(s.packetsReceived ?? 0),
          decodedSamples: Number(s.totalSamplesReceived ?? 0) - Number(s.concealedSamples ?? 0),
          jitterBufferEmitted: Number(s.jitterBufferEmittedCount ?? 0),
        };
      }
    }
    return out;
  });
}

type RtpTotals = {
  at: number;
  bytesSent: number;
  headerBytesSent: number;
  packetsSent: number;
  packetsReceived: number;
};

/** Audio RTP counters of the page's open connections, summed. */
async function rtpTotals(page: Page): Promise<RtpTotals> {
  return page.evaluate(async () => {
    const g = globalThis as unknown as DecodeGlobals;
    const t = { at: 0, bytesSent: 0, headerBytesSent: 0, packetsSent: 0, packetsReceived: 0 };
    const reports: StatsReport[] = [];
    for (const pc of g.__gtConnections ?? []) {
      if (pc.connectionState !== 'closed') reports.push(await pc.getStats());
    }
    t.at = performance.now();
    for (const report of reports) {
      for (const s of report.values()) {
        if (s.kind !== 'audio') continue;
        if (s.type === 'outbound-rtp') {
          t.bytesSent += Number(s.bytesSent ?? 0);
          t.headerBytesSent += Number(s.headerBytesSent ?? 0);
          t.packetsSent += Number(s.packetsSent ?? 0);
        } else if (s.type === 'inbound-rtp') {
          t.packetsReceived += Number(s.packetsReceived ?? 0);
        }
      }
    }
    return t;
  });
}

/** The stats panel's data-* attributes (camelCase, as in `dataset`). */
export async function panelData(page: Page): Promise<Record<string, string | undefined>> {
  return page.evaluate(() => {
    const g = globalThis as unknown as DecodeGlobals;
    return { ...(g.document.querySelector('.stats')?.dataset ?? {}) };
  });
}
