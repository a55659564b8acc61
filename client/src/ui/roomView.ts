import type { Call, CallState } from '../call.ts';
import { openMic } from '../devices.ts';
import { h } from '../dom.ts';
import { loadPref, savePref } from '../prefs.ts';
import { installShortcuts } from '../shortcuts.ts';
import type { Sounds } from '../sounds.ts';
import { NetworkStatsSampler } from '../stats.ts';
import { Announcer } from './announcer.ts';
import { DevicePickers } from './devicePickers.ts';
import { icon } from './icons.ts';
import { inviteButton } from './inviteButton.ts';
import { ParticipantList } from './participantList.ts';
import type { RemoteAudio } from './remoteAudio.ts';
import { StatsPanel } from './statsPanel.ts';

export type RoomViewOptions = {
  call: Call;
  /** An end-to-end encrypted room: the safety code of its key, for people to compare. */
  safetyCode?: string;
  /** Owned by the page: its elements were unlocked by the Join click. */
  audio: RemoteAudio;
  sounds: Sounds;
  onHangUp(): void;
};

const STATS_INTERVAL_MS = 1000;

/** The room while you are in it: people, your controls, devices and network. */
export class RoomView {
  readonly element: HTMLElement;
  readonly #call: Call;
  readonly #audio: RemoteAudio;
  readonly #sounds: Sounds;
  readonly #list: ParticipantList;
  readonly #stats = new StatsPanel();
  readonly #sampler = new NetworkStatsSampler();
  readonly #devices: DevicePickers;
  readonly #banner = h('div', { class: 'banner', role: 'status', 'aria-live': 'polite' });
  /** Apart from the banner, so that other news does not wipe the way to turn sound on. */
  readonly #soundPrompt = h('div', { class: 'banner', 'data-kind': 'warning', role: 'status' });
  readonly #announcer = new Announcer();
  /** Your own mute state as last announced. */
  #announcedMuted: boolean;
  readonly #mute: HTMLButtonElement;
  readonly #cleanup: (() => void)[] = [];

  constructor({ call, audio, sounds, onHangUp, safetyCode }: RoomViewOptions) {
    this.#call = call;
    this.#audio = audio;
    this.#sounds = sounds;
    this.#announcedMuted = call.muted;
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
          encryptionStatus(safetyCode),
        ),
        inviteButton(location.href),
      ),
      this.#banner,
      this.#soundPrompt,
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
      this.#announcer.element,
    );

    this.#audio.onBlocked = () => this.#showSoundButton();
    this.#cleanup.push(
      call.on('roster', () => this.#renderRoster()),
      call.on('speaking', (ids) => this.#list.setSpeaking(ids)),
      call.on('remoteAudio', (peerId, track) => this.#audio.attach(peerId, track)),
      call.on('remoteAudioEnded', (peerId) => this.#audio.detach(peerId)),
      call.on('peerJoined', (peer) => {
        sounds.joined();
        this.#announcer.say(`${peer.nickname} joined`);
      }),
      call.on('peerLeft', (peer) => {
        sounds.left();
        this.#announcer.say(`${peer.nickname} left`);
      }),
      call.on('peerMuted', (peer) =>
        this.#announcer.say(`${peer.nickname} ${peer.muted ? 'muted' : 'unmuted'}`),
      ),
      call.on('state', (state) => this.#showState(state)),
      call.on('problem', (message) => this.#flash(message)),
      call.on('keyMismatch', (peerId) => {
        const who = call.participants().find((p) => p.id === peerId)?.nickname ?? 'Someone';
        this.#banner.dataset.kind = 'error';
        this.#banner.textContent = `${who}’s audio cannot be decrypted: their link has a different key from yours, so you cannot hear them. Compare the safety code, and share the whole invite link again.`;
      }),
      call.on('joined', (metrics) => this.#stats.showJoin(metrics)),
      call.on('e2eeStats', (streams) => this.#stats.showEncryption(streams)),
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
    // M and Space change it without moving focus: this is how a screen reader hears of it.
    if (muted !== this.#announcedMuted) {
      this.#announcedMuted = muted;
      this.#announcer.say(muted ? 'You are muted' : 'Your microphone is on');
    }
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

  /** The browser refused to play without a gesture (iOS, strict autoplay settings). */
  #showSoundButton(): void {
    if (this.#soundPrompt.hasChildNodes()) return;
    const button = h('button', { type: 'button', class: 'enable-sound primary' }, 'Tap to hear');
    button.addEventListener('click', () => {
      this.#soundPrompt.replaceChildren();
      // A click is a gesture: what it starts may play (and what still cannot asks again).
      this.#audio.unlock();
      this.#sounds.unlock();
    });
    this.#soundPrompt.replaceChildren(
      'Your browser holds the others’ voices back until you tap. ',
      button,
    );
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

/**
 * Whether what is said can be heard by the server. In an encrypted room, the safety code
 * lets people check by voice that they all opened the same link (the same key).
 */
function encryptionStatus(safetyCode: string | undefined): HTMLElement {
  if (safetyCode === undefined) {
    return h(
      'p',
      { class: 'encryption', 'data-encrypted': 'false' },
      'Not end-to-end encrypted: this link has no key.',
    );
  }
  return h(
    'p',
    { class: 'encryption', 'data-encrypted': 'true' },
    icon('lock'),
    'End-to-end encrypted. Safety code ',
    h('code', { class: 'safety-code', 'aria-label': `safety code ${safetyCode}` }, safetyCode),
    h('span', { class: 'hint' }, ' Everyone in the room sees the same code.'),
  );
}
