import { NICKNAME_MAX_CHARS } from '../../../src/protocol/limits.ts';
import { h } from '../dom.ts';

export type JoinView = {
  element: HTMLElement;
  setBusy(busy: boolean): void;
  showError(message: string): void;
  /** A note about the server connection (undefined clears it). */
  setServerStatus(message: string | undefined): void;
};

export type JoinViewOptions = {
  roomId: string;
  nickname: string | undefined;
  /** `clickedAt` is performance.now() of the click, for measuring the join. */
  onJoin(nickname: string, clickedAt: number): void;
};

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** `/r/<id>` before joining: a nickname and a Join button. */
export function joinView({ roomId, nickname, onJoin }: JoinViewOptions): JoinView {
  const input = h('input', {
    id: 'nickname',
    name: 'nickname',
    type: 'text',
    autocomplete: 'nickname',
    maxlength: NICKNAME_MAX_CHARS,
    required: true,
    'aria-describedby': 'nickname-hint',
  });
  input.value = nickname ?? '';
  const button = h('button', { type: 'submit', class: 'primary big' }, 'Join');
  const error = h('p', { class: 'error', role: 'alert' });
  const server = h('p', { class: 'server-status', role: 'status' });

  const form = h(
    'form',
    { class: 'join-form' },
    h('label', { for: 'nickname' }, 'Nickname'),
    input,
    h('p', { id: 'nickname-hint', class: 'hint' }, 'The only thing others see about you.'),
    button,
    error,
    server,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const clickedAt = performance.now();
    const name = input.value.trim();
    const length = [...segmenter.segment(name)].length;
    if (length < 1 || length > NICKNAME_MAX_CHARS) {
      error.textContent = `Please enter a nickname (1 to ${NICKNAME_MAX_CHARS} characters).`;
      input.focus();
      return;
    }
    error.textContent = '';
    onJoin(name, clickedAt);
  });

  const element = h(
    'section',
    { class: 'card join' },
    h('p', { class: 'eyebrow' }, h('a', { href: '/' }, 'GhostTalk')),
    h('h1', {}, 'Join the room'),
    h('p', { class: 'room-code' }, 'Room ', h('code', {}, roomId)),
    form,
    h('p', { class: 'hint' }, 'Your browser will ask to use your microphone.'),
  );
  return {
    element,
    setBusy(busy) {
      button.disabled = busy;
      button.textContent = busy ? 'Joining…' : 'Join';
    },
    showError(message) {
      error.textContent = message;
    },
    setServerStatus(message) {
      server.textContent = message ?? '';
    },
  };
}
