import { canPickSpeaker } from '../browserSupport.ts';
import { type DeviceChoice, listDevices } from '../devices.ts';
import { h } from '../dom.ts';
import { deviceErrorMessage } from '../messages.ts';

export type DevicePickerOptions = {
  currentMic(): string | undefined;
  currentSpeaker(): string | undefined;
  onMic(deviceId: string): Promise<void>;
  onSpeaker(deviceId: string): Promise<void>;
};

/** Microphone and speaker choice; the speaker picker only where the browser can route audio. */
export class DevicePickers {
  readonly element: HTMLElement;
  readonly #mic = h('select', { id: 'mic-select' });
  readonly #speaker = h('select', { id: 'speaker-select' });
  readonly #error = h('p', { class: 'error', role: 'alert' });
  readonly #options: DevicePickerOptions;
  readonly #refresh = () => void this.refresh();

  constructor(options: DevicePickerOptions) {
    this.#options = options;
    this.element = h(
      'section',
      { class: 'panel devices', 'aria-labelledby': 'devices-title' },
      h('h2', { id: 'devices-title' }, 'Devices'),
      h('label', { for: 'mic-select' }, 'Microphone'),
      this.#mic,
      canPickSpeaker ? h('label', { for: 'speaker-select' }, 'Speaker') : null,
      canPickSpeaker ? this.#speaker : null,
      this.#error,
      h(
        'p',
        { class: 'hint' },
        'Bluetooth headsets may switch to a lower-quality mode while their microphone is in use.',
      ),
    );
    this.#mic.addEventListener('change', () => this.#apply(options.onMic, this.#mic.value));
    this.#speaker.addEventListener('change', () =>
      this.#apply(options.onSpeaker, this.#speaker.value),
    );
    navigator.mediaDevices.addEventListener('devicechange', this.#refresh);
  }

  async refresh(): Promise<void> {
    const { mics, speakers } = await listDevices().catch(() => ({ mics: [], speakers: [] }));
    fill(this.#mic, mics, this.#options.currentMic());
    fill(this.#speaker, speakers, this.#options.currentSpeaker());
  }

  dispose(): void {
    navigator.mediaDevices.removeEventListener('devicechange', this.#refresh);
  }

  async #apply(change: (id: string) => Promise<void>, deviceId: string): Promise<void> {
    this.#error.textContent = '';
    try {
      await change(deviceId);
    } catch (error) {
      console.error('Switching devices failed', error);
      this.#error.textContent = deviceErrorMessage(error);
    }
  }
}

function fill(
  select: HTMLSelectElement,
  choices: readonly DeviceChoice[],
  current: string | undefined,
): void {
  select.replaceChildren(...choices.map((c) => h('option', { value: c.id }, c.label)));
  if (current && choices.some((c) => c.id === current)) select.value = current;
  select.disabled = choices.length === 0;
}
