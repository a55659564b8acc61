/**
 * Join/leave chirps synthesised with oscillators: no asset files, and an AudioContext
 * created inside the Join click, which is what unlocks audio on mobile browsers.
 */
export class Sounds {
  #context: AudioContext | undefined;

  /** Call from a user gesture (the Join click). */
  unlock(): void {
    try {
      this.#context ??= new AudioContext();
      void this.#context.resume();
    } catch {
      // No WebAudio: the app works without chirps.
    }
  }

  get context(): AudioContext | undefined {
    return this.#context;
  }

  joined(): void {
    this.#chirp([660, 880]);
  }

  left(): void {
    this.#chirp([880, 660]);
  }

  /** Chirps follow the chosen speaker where the browser allows it. */
  async setSink(deviceId: string): Promise<void> {
    const context = this.#context as
      | (AudioContext & { setSinkId?: (id: string) => Promise<void> })
      | undefined;
    await context?.setSinkId?.(deviceId).catch(() => undefined);
  }

  #chirp(frequencies: readonly number[]): void {
    const context = this.#context;
    if (context?.state !== 'running') return;
    const toneSeconds = 0.09;
    let start = context.currentTime + 0.01;
    for (const frequency of frequencies) {
      const oscillator = new OscillatorNode(context, { type: 'sine', frequency });
      const gain = new GainNode(context, { gain: 0 });
      // Short ramps in and out: a hard start or stop clicks.
      gain.gain.linearRampToValueAtTime(0.12, start + 0.01);
      gain.gain.linearRampToValueAtTime(0, start + toneSeconds);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start(start);
      oscillator.stop(start + toneSeconds + 0.02);
      start += toneSeconds;
    }
  }
}
