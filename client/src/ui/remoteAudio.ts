import { h } from '../dom.ts';

type SinkableAudio = HTMLAudioElement & { setSinkId?: (id: string) => Promise<void> };

/**
 * One <audio> element per remote person. Media elements (not WebAudio) so that the
 * browser's echo cancellation knows what is coming out of the speakers.
 */
export class RemoteAudio {
  readonly container = h('div', { class: 'remote-audio', 'aria-hidden': 'true' });
  readonly #elements = new Map<string, SinkableAudio>();
  readonly #volumes = new Map<string, number>();
  #sinkId = '';
  /** Called when the browser refused to start playback (autoplay policy). */
  onBlocked: () => void = () => undefined;

  attach(peerId: string, track: MediaStreamTrack): void {
    let audio = this.#elements.get(peerId);
    if (!audio) {
      audio = h('audio', { autoplay: true, 'data-peer-id': peerId }) as SinkableAudio;
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
    audio.remove();
    this.#elements.delete(peerId);
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

  /** Retry after a user gesture (mobile browsers, or playback stopped after long silence). */
  playAll(): void {
    for (const audio of this.#elements.values()) this.#play(audio);
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
