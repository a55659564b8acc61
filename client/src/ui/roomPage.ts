import { Call, type CallState } from '../call.ts';
import type { Connection } from '../connection.ts';
import { openMic } from '../devices.ts';
import { replaceChildren } from '../dom.ts';
import { E2eeWorker } from '../e2ee/frameTransforms.ts';
import { safetyCode } from '../e2ee/roomKey.ts';
import { joinErrorMessage } from '../messages.ts';
import { loadPref, savePref } from '../prefs.ts';
import type { Sounds } from '../sounds.ts';
import { type JoinView, joinView } from './joinView.ts';
import { leftView } from './leftView.ts';
import { RemoteAudio } from './remoteAudio.ts';
import { RoomView } from './roomView.ts';

/** `/r/<id>`: join form → room → "you left" (→ rejoin), one view at a time. */
export class RoomPage {
  readonly #app: HTMLElement;
  readonly #roomId: string;
  readonly #connection: Connection;
  readonly #sounds: Sounds;
  /** The key of an end-to-end encrypted room (from the link's fragment), if it is one. */
  readonly #roomKey: string | undefined;
  #safetyCode: string | undefined;
  /** Lives across calls: the elements a gesture unlocked stay unlocked (iOS). */
  readonly #audio = new RemoteAudio();
  #join: JoinView | undefined;
  #room: RoomView | undefined;
  #call: Call | undefined;
  #everConnected = false;

  constructor(
    app: HTMLElement,
    roomId: string,
    connection: Connection,
    sounds: Sounds,
    roomKey?: string,
  ) {
    this.#app = app;
    this.#roomId = roomId;
    this.#roomKey = roomKey;
    this.#connection = connection;
    this.#sounds = sounds;
    const socket = connection.signaling.socket;
    socket.on('connect', () => {
      this.#everConnected = true;
      this.#join?.setServerStatus(undefined);
    });
    socket.on('connect_error', () => {
      // Only before joining: in a room the call shows its own reconnect banner.
      this.#join?.setServerStatus(
        this.#everConnected
          ? 'Connection to the server lost. Retrying…'
          : "Can't reach the GhostTalk server. Retrying…",
      );
    });
    window.addEventListener('pagehide', () => void this.#call?.leave());
  }

  showJoinForm(): void {
    this.#join = joinView({
      roomId: this.#roomId,
      encrypted: this.#roomKey !== undefined,
      nickname: loadPref('nickname'),
      onJoin: (nickname, clickedAt) => void this.#start(nickname, clickedAt),
    });
    this.#show(this.#join.element);
    if (!this.#connection.signaling.connected && this.#everConnected) {
      this.#join.setServerStatus('Connecting to the server…');
    }
  }

  async #start(nickname: string, clickedAt: number): Promise<void> {
    const form = this.#join;
    form?.setBusy(true);
    savePref('nickname', nickname);
    // Inside the click: unlocks audio output on mobile browsers (iOS Safari above all).
    this.#sounds.unlock();
    this.#audio.unlock();
    let call: Call | undefined;
    try {
      // The server closes a socket left outside a room (the nickname may take a while).
      await this.#connection.signaling.reopen();
      const [mic, device] = await Promise.allSettled([
        openMic(loadPref('micId')),
        this.#connection.device(),
      ]);
      if (mic.status === 'rejected') throw mic.reason;
      if (device.status === 'rejected') {
        mic.value.stop();
        throw device.reason;
      }
      const roomKey = this.#roomKey;
      if (roomKey) this.#safetyCode ??= await safetyCode(roomKey);
      call = new Call({
        signaling: this.#connection.signaling,
        device: device.value,
        roomId: this.#roomId,
        nickname,
        mic: mic.value,
        // One worker per call: the call closes it when it ends.
        e2ee: roomKey ? { roomKey, worker: new E2eeWorker() } : undefined,
      });
      this.#enterRoom(call);
      await call.join(clickedAt);
      if (call.state.kind === 'joined') this.#sounds.joined();
    } catch (error) {
      console.error('Joining failed', error);
      call?.abandon();
      this.#leaveRoomView();
      if (!form) return this.#showLeft('Could not join', joinErrorMessage(error), nickname);
      this.#show(form.element);
      form.setBusy(false);
      form.showError(joinErrorMessage(error));
    }
  }

  /** The room view subscribes before joining so no early event (or audio track) is missed. */
  #enterRoom(call: Call): void {
    this.#call = call;
    this.#room = new RoomView({
      call,
      audio: this.#audio,
      sounds: this.#sounds,
      safetyCode: this.#safetyCode,
      onHangUp: () => void call.leave(),
    });
    call.on('state', (state) => this.#onState(call, state));
  }

  #onState(call: Call, state: CallState): void {
    if (call !== this.#call) return;
    if (state.kind === 'joined' && this.#room && !this.#room.element.isConnected) {
      this.#join = undefined;
      this.#show(this.#room.element);
    } else if (state.kind === 'left') {
      this.#sounds.left();
      this.#leaveRoomView();
      this.#showLeft('You left the room', undefined, call.nickname);
    } else if (state.kind === 'failed') {
      this.#leaveRoomView();
      this.#showLeft(state.title ?? 'You are no longer in the room', state.message, call.nickname);
    }
  }

  #leaveRoomView(): void {
    this.#room?.dispose();
    this.#room = undefined;
    this.#call = undefined;
  }

  #showLeft(title: string, message: string | undefined, nickname: string): void {
    this.#join = undefined;
    this.#show(
      leftView({
        title,
        message,
        onRejoin: (clickedAt) => void this.#start(nickname, clickedAt),
      }),
    );
  }

  #show(element: HTMLElement): void {
    if (this.#app.firstElementChild === element) return;
    const first = this.#app.firstElementChild === null;
    replaceChildren(this.#app, element);
    // After the first view, the control just used is gone with the old one: keyboard and
    // screen reader users continue from the new view's title, not from the top.
    const title = element.querySelector('h1');
    if (!first && title) {
      title.tabIndex = -1;
      title.focus();
    }
  }
}
