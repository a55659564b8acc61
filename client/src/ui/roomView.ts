import type { Call, CallState } from '../call.ts';
import { openMic } from '../devices.ts';
import { h } from '../dom.ts';
import { loadPref, savePref } from '../prefs.ts';
import { installShortcuts } from '../shortcuts.ts';
import type { Sounds } from '../sounds.ts';
import { NetworkStatsSampler } from '../stats.ts';
import { DevicePickers } from './devicePickers.ts';
import { icon } from './icons.ts';
import { inviteButton } from './inviteButton.ts';
import { ParticipantList } from './participantList.ts';
import { RemoteAudio } from './remoteAudio.ts';
import { StatsPanel } from './statsPanel.ts';

export type RoomViewOptions = {
  call: Call;
  sounds: Sounds;
  onHangUp(): void;
};

const STATS_INTERVAL_MS = 1000;

/** The room while you are in it: people, your controls, devices and network. */
export class RoomView {
  readonly element: HTMLElement;
  readonly #call: Call;
  readonly #audio = new RemoteAudio();
  readonly #list: ParticipantList;
  readonly #stats = new StatsPanel();
  readonly #sampler = new NetworkStatsSampler();
  readonly #devices: DevicePickers;
  readonly #banner = h('div', { class: 'banner', role: 'status', 'aria-live': 'polite' });
  readonly #mute: HTMLButtonElement;
  readonly #cleanup: (() => void)[] = [];

  constructor({ call, sounds, onHangUp }: RoomViewOptions) {
    this.#call = call;
    this.#list = new ParticipantList({
      volume: (id) => this.#audio.volume(id),
      onVolume: (id, v) => this.#audio.setVolume(id, v),
    });

    this.#mute = h(
      'button',
      { type: 'button', class: 'mute', 'aria-pressed': 'false' },
      icon('mic'),
      h('span', {}, 'Mute'),
    );
    this.#mute.addEventListener('click', () => call.setMuted(!call.muted));
    const hangUp = h(
      'button',
      { type: 'button', class: 'hangup' },
      icon('hangUp'),
      h('span', {}, 'Hang up'),
    );
    hangUp.addEventListener('click', onHangUp);

    this.#devices = new DevicePickers({
      currentMic: () => call.mic.getSettings().deviceId,
      currentSpeaker: () => loadPref('speakerId'),
      onMic: async (id) => {
        await call.replaceMic(await openMic(id));
        savePref('micId', id);
      },
      onSpeaker: async (id) => {
        await Promise.all([this.#audio.setSink(id), sounds.setSink(id)]);
        savePref('speakerId', id);
      },
    });
    const speaker = loadPref('speakerId');
    if (speaker) {
      void this.#audio.setSink(speaker);
      void sounds.setSink(speaker);
    }
    void this.#devices.refresh();

    this.element = h(
      'div',
      { class: 'room', 'data-room-id': call.roomId },
      h(
        'header',
        { class: 'room-header' },
        h(
          'div',
          {},
          h('p', { class: 'eyebrow' }, 'GhostTalk'),
          h('h1', {}, 'Room ', h('code', {}, call.roomId)),
        ),
        inviteButton(location.href),
      ),
      this.#banner,
      h(
        'div',
        { class: 'room-body' },
        h(
          'section',
          { class: 'panel people', 'aria-labelledby': 'people-title' },
          h('h2', { id: 'people-title' }, 'In this room'),
          this.#list.element,
          h('div', { class: 'controls' }, this.#mute, hangUp),
          h('p', { class: 'hint' }, 'Press M to mute or unmute. While muted, hold Space to talk.'),
        ),
        h('div', { class: 'side' }, this.#stats.element, this.#devices.element),
      ),
      this.#audio.container,
    );

    this.#audio.onBlocked = () => this.#showSoundButton();
    this.#cleanup.push(
      call.on('roster', () => this.#renderRoster()),
      call.on('speaking', (ids) => this.#list.setSpeaking(ids)),
      call.on('remoteAudio', (peerId, track) => this.#audio.attach(peerId, track)),
      call.on('remoteAudioEnded', (peerId) => this.#audio.detach(peerId)),
      call.on('peerJoined', () => sounds.joined()),
      call.on('peerLeft', () => sounds.left()),
      call.on('state', (state) => this.#showState(state)),
      call.on('problem', (message) => this.#flash(message)),
      call.on('joined', (metrics) => this.#stats.showJoin(metrics)),
      installShortcuts({ isMuted: () => call.muted, setMuted: (m) => call.setMuted(m) }),
      () => this.#devices.dispose(),
      () => this.#audio.clear(),
    );
    const timer = window.setInterval(() => void this.#sampleStats(), STATS_INTERVAL_MS);
    this.#cleanup.push(() => window.clearInterval(timer));
    this.#renderRoster();
    this.#showState(call.state);
  }

  dispose(): void {
    for (const fn of this.#cleanup.splice(0)) fn();
  }

  #renderRoster(): void {
    this.#list.update(this.#call.participants());
    this.#list.setSpeaking(this.#call.speaking);
    const muted = this.#call.muted;
    this.#mute.setAttribute('aria-pressed', String(muted));
    this.#mute.querySelector('svg')?.replaceWith(icon(muted ? 'micOff' : 'mic'));
  }

  #showState(state: CallState): void {
    this.element.dataset.state = state.kind;
    if (state.kind === 'reconnecting') {
      this.#banner.dataset.kind = 'warning';
      this.#banner.textContent = `Connection lost. Reconnecting… (attempt ${state.attempt})`;
    } else if (state.kind === 'joined' && this.#banner.dataset.kind === 'warning') {
      this.#banner.dataset.kind = '';
      this.#banner.textContent = '';
    }
  }

  #flash(message: string): void {
    this.#banner.dataset.kind = 'error';
    this.#banner.textContent = message;
    window.setTimeout(() => {
      if (this.#banner.textContent === message) {
        this.#banner.textContent = '';
        this.#banner.dataset.kind = '';
      }
    }, 8000);
  }

  #showSoundButton(): void {
    if (this.#banner.querySelector('.enable-sound')) return;
    const button = h('button', { type: 'button', class: 'enable-sound primary' }, 'Turn on sound');
    button.addEventListener('click', () => {
      this.#audio.playAll();
      button.remove();
    });
    this.#banner.dataset.kind = 'warning';
    this.#banner.replaceChildren('Your browser paused the audio. ', button);
  }

  async #sampleStats(): Promise<void> {
    const { send, recv } = this.#call.transports;
    if (!send && !recv) return;
    const [sendReport, recvReport] = await Promise.all([
      send?.getStats().catch(() => undefined),
      recv?.getStats().catch(() => undefined),
    ]);
    this.#stats.show(this.#sampler.sample(sendReport, recvReport));
  }
}
