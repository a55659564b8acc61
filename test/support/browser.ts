import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's Chromium; playwright-core drives it (no bundled browser download here). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

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
}): Promise<Person> {
  const profile = await mkdtemp(join(tmpdir(), 'ghosttalk-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: chromiumFlags(options.fakeMicWav),
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
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 10_000, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const reason = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
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
};

/**
 * Init script: records the Join click and the first received audio RTP packet (any
 * RTCPeerConnection's inbound-rtp audio packetsReceived > 0), polled every 20 ms.
 */
function installJoinProbe(): void {
  const g = globalThis as unknown as ProbeGlobals;
  const Native = g.RTCPeerConnection;
  const connections: PeerConnection[] = [];
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
  /** dB at each tone (the strongest bin within ±2 bins), in the order asked. */
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
        toneDb,
        floorDb: sorted[Math.floor(sorted.length / 2)] ?? -200,
      };
    });
  }, tonesHz);
}
