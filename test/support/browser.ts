import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { waitFor } from './wait.ts';
import { writeSineWav } from './wav.ts';

/** Debian's Chromium; playwright-core drives it (no bundled browser download here). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLIENT_INDEX = join(ROOT, 'dist/client/index.html');

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** `npm test` builds first; a direct run builds only if dist is missing or older than client/. */
export function ensureClientBuilt(): void {
  const sources = Math.max(
    newestMtime(join(ROOT, 'client')),
    newestMtime(join(ROOT, 'vite.config.ts')),
  );
  if (existsSync(CLIENT_INDEX) && statSync(CLIENT_INDEX).mtimeMs >= sources) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build'], {
    cwd: ROOT,
    stdio: 'pipe',
    timeout: 120_000,
  });
}

/** Flags measured to work on these machines (see shared notes), plus this person's microphone. */
export function chromiumFlags(fakeMicWav: string): string[] {
  return [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${fakeMicWav}`,
    '--autoplay-policy=no-user-gesture-required',
  ];
}

/**
 * One simulated person: their own Chromium process (the fake mic file is per process)
 * with a fresh profile directory; closing the context ends the process.
 */
export type Person = {
  name: string;
  toneHz: number;
  context: BrowserContext;
  page: Page;
  /** Browser console errors, for diagnosing failures. */
  consoleErrors: string[];
  close(): Promise<void>;
};

export async function launchPerson(options: {
  name: string;
  toneHz: number;
  fakeMicWav: string;
  /** Another launcher, e.g. one that runs Chromium inside a test host's namespace. */
  executablePath?: string;
  extraArgs?: string[];
}): Promise<Person> {
  const profile = await mkdtemp(join(tmpdir(), 'ghosttalk-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: options.executablePath ?? CHROMIUM_PATH,
    headless: true,
    args: [...chromiumFlags(options.fakeMicWav), ...(options.extraArgs ?? [])],
    viewport: { width: 1280, height: 800 },
    permissions: ['clipboard-read', 'clipboard-write'],
    timeout: 60_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  await page.addInitScript(installJoinProbe);
  return {
    name: options.name,
    toneHz: options.toneHz,
    context,
    page,
    consoleErrors,
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

/** Polls `check` until it returns a value that is not undefined/false, or fails after `timeoutMs`. */
/** Three people with tones far apart in an FFT with ~5.4 Hz bins, none a harmonic of another. */
export const PEOPLE = [
  { name: 'Ada', toneHz: 500 },
  { name: 'Bo', toneHz: 700 },
  { name: 'Cy', toneHz: 1100 },
] as const;
export const TONES: readonly number[] = PEOPLE.map((p) => p.toneHz);

/**
 * Launches one Chromium per person, each with a fake microphone playing its tone, all
 * at once (start-up takes seconds: do it before timing anything). Those launched are
 * pushed into `into` in `specs` order, even if another failed, so an `after` hook can
 * close them; then the first failure is thrown.
 */
export async function launchPeople(
  specs: readonly { name: string; toneHz: number }[],
  wavDir: string,
  into: Person[],
): Promise<void> {
  const launched = await Promise.allSettled(
    specs.map(async ({ name, toneHz }) => {
      const fakeMicWav = await writeSineWav(join(wavDir, `${name}-${toneHz}hz.wav`), toneHz);
      return launchPerson({ name, toneHz, fakeMicWav });
    }),
  );
  for (const result of launched) if (result.status === 'fulfilled') into.push(result.value);
  const failed = launched.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

// ---------------------------------------------------------------------------
// Code that runs inside the page. The root tsconfig has no DOM types (it is a Node
// project), so these functions describe the few browser objects they touch.

type StatsReport = { values(): Iterable<Record<string, unknown>> };
type PeerConnection = { connectionState: string; getStats(): Promise<StatsReport> };
type JoinProbe = { joinClickAt?: number; firstAudioAt?: number };
type ProbeGlobals = {
  RTCPeerConnection: new (...args: unknown[]) => PeerConnection;
  document: {
    addEventListener(type: string, fn: (e: { target: unknown }) => void, capture: boolean): void;
  };
  __gtProbe?: JoinProbe;
  /** Every RTCPeerConnection the page made, for the stats helpers below. */
  __gtConnections?: PeerConnection[];
};

/**
 * Init script: records the Join click and the first received audio RTP packet (any
 * RTCPeerConnection's inbound-rtp audio packetsReceived > 0), polled every 20 ms.
 */
export function installJoinProbe(): void {
  const g = globalThis as unknown as ProbeGlobals;
  const Native = g.RTCPeerConnection;
  const connections: PeerConnection[] = [];
  g.__gtConnections = connections;
  g.RTCPeerConnection = class extends Native {
    constructor(...args: unknown[]) {
      super(...args);
      connections.push(this);
    }
  };
  const probe: JoinProbe = {};
  g.__gtProbe = probe;
  g.document.addEventListener(
    'click',
    (event) => {
      const target = event.target as { closest?: (s: string) => { textContent: string } | null };
      const button = target?.closest?.('button');
      if (button?.textContent.trim() === 'Join' && probe.joinClickAt === undefined) {
        probe.joinClickAt = performance.now();
      }
    },
    true,
  );
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || probe.joinClickAt === undefined) return;
    busy = true;
    try {
      for (const pc of connections) {
        if (pc.connectionState === 'closed') continue;
        for (const s of (await pc.getStats()).values()) {
          if (s.type === 'inbound-rtp' && s.kind === 'audio' && Number(s.packetsReceived) > 0) {
            probe.firstAudioAt ??= performance.now();
          }
        }
      }
    } finally {
      busy = false;
    }
    if (probe.firstAudioAt !== undefined) clearInterval(timer);
  }, 20);
}

export async function joinToFirstAudioMs(page: Page): Promise<number | undefined> {
  return page.evaluate(() => {
    const probe = (globalThis as unknown as ProbeGlobals).__gtProbe;
    if (probe?.joinClickAt === undefined || probe.firstAudioAt === undefined) return undefined;
    return probe.firstAudioAt - probe.joinClickAt;
  });
}

/** What one remote <audio> element carries: level (dB) at each asked tone, peak and floor. */
export type ElementSpectrum = {
  peerId: string;
  peakHz: number;
  /** The tones asked for, and the dB at each (the strongest bin within ±2 bins). */
  tonesHz: number[];
  toneDb: number[];
  /** Median dB over 100 Hz - 4 kHz: the noise floor. */
  floorDb: number;
};

type Analyser = {
  fftSize: number;
  smoothingTimeConstant: number;
  frequencyBinCount: number;
  getFloatFrequencyData(array: Float32Array): void;
};
type AudioGraph = {
  context: {
    sampleRate: number;
    resume(): Promise<void>;
    createMediaStreamSource(stream: unknown): { connect(node: unknown): void };
    createAnalyser(): Analyser;
  };
  analysers: Map<unknown, Analyser>;
};
type SpectrumGlobals = {
  AudioContext: new () => AudioGraph['context'];
  document: {
    querySelectorAll(
      selector: string,
    ): Iterable<{ dataset: Record<string, string | undefined>; srcObject: unknown }>;
  };
  __gtAudio?: AudioGraph;
};

/**
 * Frequency analysis of every remote `<audio data-peer-id>` element's stream: one
 * AudioContext per page, one AnalyserNode (fftSize 8192) per stream. Chromium only
 * feeds WebAudio from a remote track that a media element also plays, which the app does.
 */
export async function remoteSpectra(
  page: Page,
  tonesHz: readonly number[],
): Promise<ElementSpectrum[]> {
  return page.evaluate(async (tones) => {
    const g = globalThis as unknown as SpectrumGlobals;
    g.__gtAudio ??= { context: new g.AudioContext(), analysers: new Map() };
    const { context, analysers } = g.__gtAudio;
    await context.resume();
    const out: {
      peerId: string;
      stream: unknown;
      analyser: Analyser;
    }[] = [];
    for (const element of g.document.querySelectorAll('audio[data-peer-id]')) {
      const stream = element.srcObject;
      if (!stream) continue;
      let analyser = analysers.get(stream);
      if (!analyser) {
        analyser = context.createAnalyser();
        analyser.fftSize = 8192;
        analyser.smoothingTimeConstant = 0.5;
        context.createMediaStreamSource(stream).connect(analyser);
        analysers.set(stream, analyser);
      }
      out.push({ peerId: element.dataset.peerId ?? '', stream, analyser });
    }
    // A fresh analyser needs a moment of audio before its first frame means anything.
    await new Promise((resolve) => setTimeout(resolve, 250));
    const binHz = context.sampleRate / 8192;
    return out.map(({ peerId, analyser }) => {
      const db = new Float32Array(analyser.frequencyBinCount);
      analyser.getFloatFrequencyData(db);
      const clamp = (v: number) => (Number.isFinite(v) ? Math.max(v, -200) : -200);
      let peakBin = 1; // bin 0 is DC
      for (let i = 1; i < db.length; i++)
        if (clamp(db[i] ?? -200) > clamp(db[peakBin] ?? -200)) peakBin = i;
      const toneDb = tones.map((hz) => {
        const centre = Math.round(hz / binHz);
        let best = -200;
        for (let i = centre - 2; i <= centre + 2; i++) best = Math.max(best, clamp(db[i] ?? -200));
        return best;
      });
      // The floor where speech lives (100 Hz - 4 kHz), not across the silent top octaves.
      const band = Array.from(
        db.subarray(Math.round(100 / binHz), Math.round(4000 / binHz)),
        clamp,
      );
      const sorted = band.sort((a, b) => a - b);
      return {
        peerId,
        peakHz: peakBin * binHz,
        tonesHz: [...tones],
        toneDb,
        floorDb: sorted[Math.floor(sorted.length / 2)] ?? -200,
      };
    });
  }, tonesHz);
}

/**
 * A remote tone is "heard" when its element peaks at it this far above the noise floor
 * (measured: 80-100 dB above). A tone is "absent" when it is at least ABSENT_BELOW_DB
 * weaker than the weakest tone heard on the same page: a person's own tone does come
 * back faintly (measured 40-50 dB down: echo-canceller residue in the others' fake mics).
 */
const HEARD_DB = 40;
const ABSENT_BELOW_DB = 25;

function dbAt(spectrum: ElementSpectrum, toneHz: number): number {
  return spectrum.toneDb[spectrum.tonesHz.indexOf(toneHz)] ?? -200;
}

/** This person's <audio> element carries their tone, clearly. Returns its level (dB). */
export function heardLevel(
  spectra: readonly ElementSpectrum[],
  peerId: string | undefined,
  toneHz: number,
): number | undefined {
  const element = spectra.find((s) => s.peerId === peerId);
  if (!element || Math.abs(element.peakHz - toneHz) > 15) return undefined;
  const db = dbAt(element, toneHz);
  return db - element.floorDb >= HEARD_DB ? db : undefined;
}

/** The tone is nowhere on the page, compared with a tone that is heard (`referenceDb`). */
export function isAbsent(
  spectra: readonly ElementSpectrum[],
  toneHz: number,
  referenceDb: number,
): boolean {
  return spectra.every((s) => dbAt(s, toneHz) <= referenceDb - ABSENT_BELOW_DB);
}

export function describeSpectra(spectra: readonly ElementSpectrum[]): string {
  return spectra
    .map(
      (s) =>
        `${s.peerId.slice(0, 8)}: peak ${s.peakHz.toFixed(0)} Hz, floor ${s.floorDb.toFixed(0)} dB, ` +
        s.tonesHz.map((hz, i) => `${hz} Hz ${(s.toneDb[i] ?? -200).toFixed(0)} dB`).join(', '),
    )
    .join('; ');
}

/** One received audio stream, as seen by `startMediaWatch` (times are `Date.now()` ms). */
export type WatchedStream = {
  /** The sender, from the `<audio data-peer-id>` element playing this stream's track. */
  peerId: string;
  /** Which of the page's RTCPeerConnections (in creation order) receives it. */
  connection: number;
  packetsReceived: number;
  /** First sampled after the watch started (a stream set up again, e.g. after a rejoin). */
  isNew: boolean;
  /** Last packet before the stream first went quiet for `stallMs` (streams seen at the start). */
  stalledAt?: number;
  /** First packet of a new stream, or the first packet after a stall. */
  flowingAt?: number;
  lastPacketAt?: number;
};

/** A change of an RTCPeerConnection's `connectionState`, sampled every `intervalMs`. */
export type StateChange = { at: number; connection: number; state: string };

export type MediaWatch = { startedAt: number; streams: WatchedStream[]; states: StateChange[] };

type WatchGlobals = ProbeGlobals & {
  document: {
    querySelectorAll(
      selector: string,
    ): Iterable<{ dataset: Record<string, string | undefined>; srcObject: unknown }>;
  };
  __gtWatch?: MediaWatch & { timer: number };
};

/**
 * Samples every open RTCPeerConnection of the page every `intervalMs` from now on: the
 * packets received on each inbound audio stream (which stalls, which flows again, which
 * is new) and every connectionState change. `readMediaWatch` returns what it saw, so a
 * test can time a recovery from its own clock (`Date.now()`, shared with the page).
 */
export async function startMediaWatch(
  page: Page,
  { intervalMs = 50, stallMs = 500 } = {},
): Promise<void> {
  await page.evaluate(
    ({ intervalMs, stallMs }) => {
      const g = globalThis as unknown as WatchGlobals;
      if (g.__gtWatch) clearInterval(g.__gtWatch.timer);
      const connections = g.__gtConnections ?? [];
      const startedAt = Date.now();
      const streams = new Map<string, WatchedStream>();
      const states: StateChange[] = [];
      const lastState = new Map<number, string>();
      let first = true;
      let busy = false;
      const sample = async () => {
        if (busy) return;
        busy = true;
        try {
          const now = Date.now();
          const trackPeers = new Map<string, string>();
          for (const element of g.document.querySelectorAll('audio[data-peer-id]')) {
            const stream = element.srcObject as { getTracks(): { id: string }[] } | null;
            for (const track of stream?.getTracks() ?? []) {
              trackPeers.set(track.id, element.dataset.peerId ?? '');
            }
          }
          for (const [index, pc] of connections.entries()) {
            if (lastState.get(index) !== pc.connectionState) {
              lastState.set(index, pc.connectionState);
              states.push({ at: now, connection: index, state: pc.connectionState });
            }
            if (pc.connectionState === 'closed') continue;
            for (const s of (await pc.getStats()).values()) {
              if (s.type !== 'inbound-rtp' || s.kind !== 'audio') continue;
              const key = `${index}:${String(s.id)}`;
              const packets = Number(s.packetsReceived ?? 0);
              const peerId = trackPeers.get(String(s.trackIdentifier));
              let entry = streams.get(key);
              if (!entry) {
                entry = {
                  peerId: peerId ?? '',
                  connection: index,
                  packetsReceived: packets,
                  isNew: !first,
                };
                if (entry.isNew && packets > 0) entry.flowingAt = entry.lastPacketAt = now;
                if (!entry.isNew) entry.lastPacketAt = now;
                streams.set(key, entry);
                continue;
              }
              if (peerId) entry.peerId = peerId;
              const quietSince = entry.lastPacketAt;
              if (!entry.isNew && quietSince !== undefined && now - quietSince >= stallMs) {
                entry.stalledAt ??= quietSince;
              }
              if (packets > entry.packetsReceived) {
                if (
                  entry.flowingAt === undefined &&
                  (entry.isNew || entry.stalledAt !== undefined)
                ) {
                  entry.flowingAt = now;
                }
                entry.packetsReceived = packets;
                entry.lastPacketAt = now;
              }
            }
          }
          first = false;
        } finally {
          busy = false;
        }
      };
      const timer = setInterval(() => void sample(), intervalMs) as unknown as number;
      g.__gtWatch = {
        startedAt,
        timer,
        get streams() {
          return [...streams.values()];
        },
        states,
      };
      return sample();
    },
    { intervalMs, stallMs },
  );
}

export async function readMediaWatch(page: Page): Promise<MediaWatch> {
  return page.evaluate(() => {
    const watch = (globalThis as unknown as WatchGlobals).__gtWatch;
    if (!watch) throw new Error('startMediaWatch was not called on this page');
    return { startedAt: watch.startedAt, streams: watch.streams, states: [...watch.states] };
  });
}

/** The page's open RTCPeerConnections' selected candidate pairs (the browser's side). */
export async function selectedLocalCandidates(
  page: Page,
): Promise<{ connection: number; protocol: string; port: number; candidateType: string }[]> {
  return page.evaluate(async () => {
    const connections = (globalThis as unknown as ProbeGlobals).__gtConnections ?? [];
    const out: { connection: number; protocol: string; port: number; candidateType: string }[] = [];
    for (const [index, pc] of connections.entries()) {
      if (pc.connectionState === 'closed') continue;
      const byId = new Map<string, Record<string, unknown>>();
      const report = [...(await pc.getStats()).values()];
      for (const s of report) byId.set(String(s.id), s);
      for (const s of report) {
        if (s.type !== 'transport') continue;
        const pair = byId.get(String(s.selectedCandidatePairId));
        const local = pair && byId.get(String(pair.localCandidateId));
        if (!local) continue;
        out.push({
          connection: index,
          protocol: String(local.protocol),
          port: Number(local.port),
          candidateType: String(local.candidateType),
        });
      }
    }
    return out;
  });
}

/** Someone whose tone a listener should hear, on the `<audio>` element of `peerId`. */
export type Speaker = { name: string; toneHz: number; peerId: string | undefined };

/** Waits until `listener` clearly hears every one of `speakers`; the error shows the spectra. */
export async function waitUntilHears(
  listener: Person,
  speakers: readonly Speaker[],
  tonesHz: readonly number[],
  { timeoutMs = 10_000 } = {},
): Promise<ElementSpectrum[]> {
  let last: ElementSpectrum[] = [];
  return waitFor(
    `${listener.name} to hear ${speakers.map((s) => s.name).join(' and ')}`,
    async () => {
      last = await remoteSpectra(listener.page, tonesHz);
      return speakers.every((s) => heardLevel(last, s.peerId, s.toneHz) !== undefined) && last;
    },
    { timeoutMs, intervalMs: 200 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n  spectra: ${describeSpectra(last)}`);
  });
}

/**
 * Waits until `listener` no longer hears `silent`'s tone anywhere on the page while it
 * still hears `other` (so the silence is not just a dead page); the error shows the spectra.
 */
export async function waitUntilStopsHearing(
  listener: Person,
  silent: { name: string; toneHz: number },
  other: Speaker,
  tonesHz: readonly number[],
  { timeoutMs = 10_000 } = {},
): Promise<void> {
  let last: ElementSpectrum[] = [];
  await waitFor(
    `${listener.name} to stop hearing ${silent.name} (and still hear ${other.name})`,
    async () => {
      last = await remoteSpectra(listener.page, tonesHz);
      const otherDb = heardLevel(last, other.peerId, other.toneHz);
      return otherDb !== undefined && isAbsent(last, silent.toneHz, otherDb);
    },
    { timeoutMs, intervalMs: 200 },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n  spectra: ${describeSpectra(last)}`);
  });
}

export { waitFor };

/** Closes everyone's browser, first printing each one's last console errors (for a failed run). */
export async function closePeople(
  people: ReadonlyArray<{ name: string; consoleErrors: string[]; close(): Promise<unknown> }>,
): Promise<void> {
  for (const p of people) {
    if (p.consoleErrors.length) {
      console.log(`# ${p.name}'s console errors: ${p.consoleErrors.slice(-5).join(' | ')}`);
    }
  }
  await Promise.allSettled(people.map((p) => p.close()));
}
