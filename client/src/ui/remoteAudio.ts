import { h } from '../dom.ts';

type SinkableAudio = HTMLAudioElement & { setSinkId?: (id: string) => Promise<void> };

/**
 * Elements started inside the Join click, ready for the people already in the room
 * (the default room capacity, less yourself). iOS Safari lets an element play sound
 * only once a user gesture has started it, so elements are kept and reused, never
 * thrown away; anyone beyond these gets the "tap to hear" button if iOS refuses.
 */
const PRIMED_ELEMENTS = 9;

/**
 * One <audio> element per remote person. Media elements (not WebAudio) so that the
 * browser's echo cancellation knows what is coming out of the speakers.
 */
export class RemoteAudio {
  readonly container = h('div', { class: 'remote-audio', 'aria-hidden': 'true' });
  readonly #elements = new Map<string, SinkableAudio>();
  /** Elements nobody plays through right now. */
  readonly #spare: SinkableAudio[] = [];
  readonly #volumes = new Map<string, number>();
  #sinkId = '';
  /** Called when the browser refused to start playback (autoplay policy). */
  onBlocked: () => void = () => undefined;

  /**
   * Call inside a user gesture (the Join click, the "tap to hear" button): starts every
   * element, playing or spare, which is what unlocks it on iOS.
   */
  unlock(): void {
    while (this.#elements.size + this.#spare.length < PRIMED_ELEMENTS) {
      const audio = h('audio', { autoplay: true }) as SinkableAudio;
      this.container.append(audio);
      this.#spare.push(audio);
    }
    // A spare element has nothing to play yet: its play() settles once it gets a stream.
    for (const audio of this.#spare) audio.play().catch(() => undefined);
    for (const audio of this.#elements.values()) this.#play(audio);
  }

  attach(peerId: string, track: MediaStreamTrack): void {
    let audio = this.#elements.get(peerId);
    if (!audio) {
      audio = this.#spare.pop() ?? (h('audio', { autoplay: true }) as SinkableAudio);
      audio.dataset.peerId = peerId;
      this.#elements.set(peerId, audio);
      this.container.append(audio);
    }
    audio.srcObject = new MediaStream([track]);
    audio.volume = this.#volumes.get(peerId) ?? 1;
    if (this.#sinkId) void audio.setSinkId?.(this.#sinkId).catch(() => undefined);
    this.#play(audio);
  }

  detach(peerId: string): void {
    const audio = this.#elements.get(peerId);
    if (!audio) return;
    audio.srcObject = null;
    delete audio.dataset.peerId;
    this.#elements.delete(peerId);
    this.#spare.push(audio);
  }

  /** 0..1 */
  setVolume(peerId: string, volume: number): void {
    this.#volumes.set(peerId, volume);
    const audio = this.#elements.get(peerId);
    if (audio) audio.volume = volume;
  }

  volume(peerId: string): number {
    return this.#volumes.get(peerId) ?? 1;
  }

  async setSink(deviceId: string): Promise<void> {
    this.#sinkId = deviceId;
    await Promise.all(
      [...this.#elements.values()].map((a) => a.setSinkId?.(deviceId).catch(() => undefined)),
    );
  }

  clear(): void {
    for (const peerId of [...this.#elements.keys()]) this.detach(peerId);
  }

  #play(audio: HTMLAudioElement): void {
    audio.play().catch((error: unknown) => {
      if (error instanceof DOMException && error.name === 'NotAllowedError') this.onBlocked();
    });
  }
}
