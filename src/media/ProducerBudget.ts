import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { types } from 'mediasoup';
import type { ProducerBudgetEvents, ProducerBudgetOptions } from './ProducerBudgetTypes.ts';

/** One stats request per producer per second: cheap for the worker, quick enough to catch a flood. */
const SAMPLE_MS = 1000;

type Sample = { at: number; bytes: number };

/**
 * Watches what one producer takes in against a bitrate budget, from mediasoup's own
 * byte count (RTP headers included), and says when it went past it. It is judged on the
 * mean over a sliding window, not on single samples: a moment's burst (packets queued
 * by a network stall, arriving at once) must not cut anyone off, and a mean cannot be
 * dodged by pausing now and then, as a run of consecutive over-budget samples can.
 * Until the window has filled, what was sent so far already counts against the whole
 * window's budget, so a flood is caught within a sample or two.
 */
export class ProducerBudget extends EventEmitter<ProducerBudgetEvents> {
  readonly #producer: types.Producer;
  readonly #maxKbps: number;
  readonly #windowMs: number;
  /** Oldest first; the first one is where the window starts. */
  readonly #samples: Sample[];
  readonly #timer: NodeJS.Timeout;
  #sampling = false;
  #closed = false;

  constructor(options: ProducerBudgetOptions) {
    super();
    this.#producer = options.producer;
    this.#maxKbps = options.maxKbps;
    this.#windowMs = options.windowMs;
    this.#samples = [{ at: performance.now(), bytes: 0 }];
    this.#timer = setInterval(() => void this.#sample(), SAMPLE_MS);
    this.#timer.unref();
    options.producer.observer.once('close', () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  async #sample(): Promise<void> {
    // A worker slow to answer gets no second request on top of the first.
    if (this.#sampling) return;
    this.#sampling = true;
    let stats: types.ProducerStat[];
    try {
      stats = await this.#producer.getStats();
    } catch {
      // The producer closed meanwhile, or its worker is dying (WorkerPool's business).
      return;
    } finally {
      this.#sampling = false;
    }
    if (this.#closed) return;
    const now = performance.now();
    const bytes = stats.reduce((sum, stat) => sum + stat.byteCount, 0);
    this.#samples.push({ at: now, bytes });
    // Keep the newest sample at or before the window's start as its baseline.
    const windowStart = now - this.#windowMs;
    while ((this.#samples[1]?.at ?? Number.POSITIVE_INFINITY) <= windowStart) this.#samples.shift();
    const start = this.#samples[0] as Sample;
    const bits = (bytes - start.bytes) * 8;
    // kbit/s × ms = bits.
    if (bits <= this.#maxKbps * Math.max(now - start.at, this.#windowMs)) return;
    this.emit('exceeded', Math.round(bits / (now - start.at)));
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.removeAllListeners();
  }
}
