import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';

/** Voice below this (dBov) does not count as speaking; fake and real mics sit well above. */
const SPEAKING_THRESHOLD_DBOV = -65;
const SPEAKING_INTERVAL_MS = 400;

export type SpeakingDetectorEvents = {
  /** Peer ids speaking now, sorted; emitted only when the set changes. */
  change: [peerIds: readonly string[]];
};

/**
 * Who is speaking in a room, from one AudioLevelObserver on the room's first router
 * (every producer is piped there). Works from the audio-level header extension, so it
 * needs no access to the audio itself.
 */
export class SpeakingDetector extends EventEmitter<SpeakingDetectorEvents> {
  readonly #observer: types.AudioLevelObserver;
  /** producer id → peer id */
  readonly #talkers = new Map<string, string>();
  #speaking: readonly string[] = [];

  static async create(router: types.Router, maxEntries: number): Promise<SpeakingDetector> {
    const observer = await router.createAudioLevelObserver({
      maxEntries,
      threshold: SPEAKING_THRESHOLD_DBOV,
      interval: SPEAKING_INTERVAL_MS,
    });
    return new SpeakingDetector(observer);
  }

  private constructor(observer: types.AudioLevelObserver) {
    super();
    this.#observer = observer;
    observer.on('volumes', (volumes) => {
      this.#set(volumes.flatMap((v) => this.#talkers.get(v.producer.id) ?? []));
    });
    observer.on('silence', () => this.#set([]));
  }

  get speaking(): readonly string[] {
    return this.#speaking;
  }

  /** `producerId` must be on the observer's router. */
  async add(producerId: string, peerId: string): Promise<void> {
    this.#talkers.set(producerId, peerId);
    await this.#observer.addProducer({ producerId });
  }

  /** The peer left: it stops speaking at once, not at the next interval. */
  forget(peerId: string): void {
    for (const [producerId, id] of this.#talkers) {
      if (id === peerId) this.#talkers.delete(producerId);
    }
    if (this.#speaking.includes(peerId)) this.#set(this.#speaking.filter((id) => id !== peerId));
  }

  #set(peerIds: string[]): void {
    const next = [...new Set(peerIds)].sort();
    const same =
      next.length === this.#speaking.length && next.every((id, i) => id === this.#speaking[i]);
    if (same) return;
    this.#speaking = next;
    this.emit('change', next);
  }
}
