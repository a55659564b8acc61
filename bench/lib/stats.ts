/** Small statistics helpers: medians of repeated steps, percentiles, a latency histogram. */

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile (p in 0..100); NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

export function round(value: number, digits = 1): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Rounds to `digits` significant figures (for numbers that span decades). */
export function sig(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  return round(value, Math.max(0, digits - 1 - magnitude));
}

export type Summary = { p50: number; p95: number; max: number; n: number };

export function summarize(values: readonly number[], digits = 0): Summary {
  return {
    p50: round(percentile(values, 50), digits),
    p95: round(percentile(values, 95), digits),
    max: round(Math.max(...values), digits),
    n: values.length,
  };
}

/**
 * Latencies in fixed 10 µs bins up to 100 ms (plus an overflow bin): cheap enough to
 * record every packet at 100k packets/s, and mergeable across windows and processes.
 */
export const HISTOGRAM_BIN_US = 10;
export const HISTOGRAM_BINS = 10_000;

export class LatencyHistogram {
  readonly counts: Uint32Array;

  constructor(counts?: ArrayLike<number>) {
    this.counts = new Uint32Array(HISTOGRAM_BINS + 1);
    if (counts) this.counts.set(counts);
  }

  record(microseconds: number): void {
    const bin = Math.min(HISTOGRAM_BINS, Math.max(0, Math.floor(microseconds / HISTOGRAM_BIN_US)));
    this.counts[bin] = (this.counts[bin] ?? 0) + 1;
  }

  get total(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }

  add(other: LatencyHistogram): void {
    for (let i = 0; i < this.counts.length; i++) {
      this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
    }
  }

  /** The upper edge of the bin holding the p-th percentile, in ms. */
  percentileMs(p: number): number {
    const total = this.total;
    if (total === 0) return Number.NaN;
    const target = Math.ceil((p / 100) * total);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= target) return ((i + 1) * HISTOGRAM_BIN_US) / 1000;
    }
    return Number.POSITIVE_INFINITY;
  }

  /** Sparse form for IPC: [bin, count] pairs. */
  toSparse(): [number, number][] {
    const pairs: [number, number][] = [];
    this.counts.forEach((count, bin) => {
      if (count > 0) pairs.push([bin, count]);
    });
    return pairs;
  }

  static fromSparse(pairs: readonly [number, number][]): LatencyHistogram {
    const histogram = new LatencyHistogram();
    for (const [bin, count] of pairs) histogram.counts[bin] = count;
    return histogram;
  }

  clear(): void {
    this.counts.fill(0);
  }
}
