import type { JoinMetrics } from '../call.ts';
import { h } from '../dom.ts';
import type { StreamStats } from '../e2ee/frameTransforms.ts';
import { type Level, levelFor, type NetworkStats } from '../stats.ts';

/** One direction's encryption counters, summed over streams. */
type CryptoTotals = {
  frames: number;
  failed: number;
  bytesIn: number;
  bytesOut: number;
  cryptoMs: number;
};
type Direction = StreamStats['operation'];

const noFrames = (): CryptoTotals => ({
  frames: 0,
  failed: 0,
  bytesIn: 0,
  bytesOut: 0,
  cryptoMs: 0,
});
const KEYS = ['frames', 'failed', 'bytesIn', 'bytesOut', 'cryptoMs'] as const;
/** The worker also reports at a stream's first failure: rates span at least this long. */
const RATE_WINDOW_MS = 900;

const LEVEL_TEXT: Record<Level, string> = {
  good: 'Good connection',
  fair: 'Fair connection',
  poor: 'Poor connection',
  unknown: 'Measuring…',
};

/** RTT, jitter, loss, bitrates and the path; raw numbers also in data-* for tests and tools. */
export class StatsPanel {
  readonly element: HTMLElement;
  readonly #summary = h('p', { class: 'quality', 'data-level': 'unknown' }, LEVEL_TEXT.unknown);
  readonly #cells = {
    rtt: h('dd', {}, '–'),
    jitter: h('dd', {}, '–'),
    loss: h('dd', {}, '–'),
    send: h('dd', {}, '–'),
    recv: h('dd', {}, '–'),
    path: h('dd', {}, '–'),
  };
  readonly #join = h('p', { class: 'hint join-metrics' });
  /** Encrypted rooms only: frames through the encryption worker and its time per frame. */
  readonly #e2ee = h('p', { class: 'hint e2ee-metrics', hidden: true });
  /** Each stream's last report, to add only what changed since. */
  readonly #e2eeLast = new Map<string, StreamStats>();
  /** Since the call started, every stream (ended ones too). */
  readonly #e2eeTotals: Record<Direction, CryptoTotals> = {
    encrypt: noFrames(),
    decrypt: noFrames(),
  };
  /** Since the line's last update. */
  #e2eeWindow: Record<Direction, CryptoTotals> & { since?: number } = {
    encrypt: noFrames(),
    decrypt: noFrames(),
  };

  constructor() {
    const c = this.#cells;
    const item = (label: string, cell: HTMLElement) => h('div', {}, h('dt', {}, label), cell);
    this.element = h(
      'section',
      { class: 'panel stats', 'aria-labelledby': 'stats-title' },
      h('h2', { id: 'stats-title' }, 'Network'),
      this.#summary,
      h(
        'dl',
        {},
        item('Round trip', c.rtt),
        item('Jitter', c.jitter),
        item('Packet loss', c.loss),
        item('Sending', c.send),
        item('Receiving', c.recv),
        item('Path', c.path),
      ),
      this.#join,
      this.#e2ee,
    );
  }

  show(stats: NetworkStats): void {
    const data = this.element.dataset;
    setData(data, 'rttMs', stats.rttMs, 1);
    setData(data, 'jitterMs', stats.jitterMs, 1);
    setData(data, 'lossPct', stats.lossPct, 2);
    setData(data, 'sendKbps', stats.sendKbps, 1);
    setData(data, 'recvKbps', stats.recvKbps, 1);
    if (stats.path) data.path = stats.path;
    if (stats.candidateType) data.candidateType = stats.candidateType;
    data.level = stats.level;

    const c = this.#cells;
    c.rtt.textContent = format(stats.rttMs, (v) => `${Math.round(v)} ms`);
    c.rtt.dataset.level = levelFor(stats.rttMs, undefined);
    c.jitter.textContent = format(stats.jitterMs, (v) => `${Math.round(v)} ms`);
    c.loss.textContent = format(stats.lossPct, (v) => `${v < 10 ? v.toFixed(1) : Math.round(v)} %`);
    c.loss.dataset.level = levelFor(undefined, stats.lossPct);
    c.send.textContent = format(stats.sendKbps, (v) => `${Math.round(v)} kbit/s`);
    c.recv.textContent = format(stats.recvKbps, (v) => `${Math.round(v)} kbit/s`);
    c.path.textContent =
      stats.path === 'relay'
        ? 'Relayed (TURN)'
        : stats.path === 'direct'
          ? `Direct (${stats.candidateType})`
          : '–';
    this.#summary.textContent = LEVEL_TEXT[stats.level];
    this.#summary.dataset.level = stats.level;
  }

  showJoin(metrics: JoinMetrics): void {
    const data = this.element.dataset;
    data.joinMs = String(metrics.ms);
    data.joinRequests = String(metrics.requests);
    data.joinRoundTrips = String(metrics.roundTrips);
    const trips = metrics.roundTrips === 1 ? 'round trip' : 'round trips';
    this.#join.textContent = `Joined in ${metrics.ms} ms (${metrics.roundTrips} signaling ${trips}).`;
  }

  /**
   * The encryption worker's counters (cumulative per stream, about every second): a line
   * such as "Encryption: 50 frames/s out, 100 in, 0 dropped, 40 µs per frame", and the
   * totals since the call started in data-e2ee-{encrypt,decrypt}-{frames,failed,ms,
   * bytes-in,bytes-out} (ms: time in the cipher calls), plus the line's figures.
   */
  showEncryption(streams: readonly StreamStats[], at = performance.now()): void {
    const recent = this.#e2eeWindow;
    for (const stream of streams) {
      const key = `${stream.operation} ${stream.streamId}`;
      const last = this.#e2eeLast.get(key);
      // A counter that went back is a new stream under an old id: count it from zero.
      const base =
        last && last.frames <= stream.frames && last.failed <= stream.failed ? last : undefined;
      for (const totals of [this.#e2eeTotals[stream.operation], recent[stream.operation]]) {
        for (const k of KEYS) totals[k] += Math.max(0, stream[k] - (base?.[k] ?? 0));
      }
      if (stream.ended) this.#e2eeLast.delete(key);
      else this.#e2eeLast.set(key, stream);
    }
    const data = this.element.dataset;
    for (const direction of ['encrypt', 'decrypt'] as const) {
      const totals = this.#e2eeTotals[direction];
      const prefix = `e2ee${direction === 'encrypt' ? 'Encrypt' : 'Decrypt'}`;
      data[`${prefix}Frames`] = String(totals.frames);
      data[`${prefix}Failed`] = String(totals.failed);
      data[`${prefix}Ms`] = totals.cryptoMs.toFixed(3);
      data[`${prefix}BytesIn`] = String(totals.bytesIn);
      data[`${prefix}BytesOut`] = String(totals.bytesOut);
    }
    // The first report counts from each stream's start, which we do not know: no rate yet.
    if (recent.since === undefined) {
      this.#e2eeWindow = { encrypt: noFrames(), decrypt: noFrames(), since: at };
      return;
    }
    const seconds = (at - recent.since) / 1000;
    if (seconds * 1000 < RATE_WINDOW_MS) return;
    const { encrypt, decrypt } = recent;
    const calls = encrypt.frames + encrypt.failed + decrypt.frames + decrypt.failed;
    const out = Math.round(encrypt.frames / seconds);
    const into = Math.round(decrypt.frames / seconds);
    const us =
      calls > 0 ? Math.round((1000 * (encrypt.cryptoMs + decrypt.cryptoMs)) / calls) : undefined;
    data.e2eeFramesOutPerS = String(out);
    data.e2eeFramesInPerS = String(into);
    if (us === undefined) delete data.e2eeUsPerFrame;
    else data.e2eeUsPerFrame = String(us);
    const dropped = this.#e2eeTotals.encrypt.failed + this.#e2eeTotals.decrypt.failed;
    this.#e2ee.textContent =
      `Encryption: ${out} frames/s out, ${into} in, ${dropped} dropped` +
      (us === undefined ? '.' : `, ${us} µs per frame in WebCrypto (waiting included).`);
    this.#e2ee.hidden = false;
    this.#e2eeWindow = { encrypt: noFrames(), decrypt: noFrames(), since: at };
  }
}

function setData(data: DOMStringMap, key: string, value: number | undefined, digits: number): void {
  if (value === undefined) delete data[key];
  else data[key] = value.toFixed(digits);
}

function format(value: number | undefined, show: (v: number) => string): string {
  return value === undefined ? '–' : show(value);
}
