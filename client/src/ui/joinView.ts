import { NICKNAME_MAX_CHARS } from '../../../src/protocol/limits.ts';
import { checkNickname } from '../../../src/protocol/nickname.ts';
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
  /** The link has a room key: the room is end-to-end encrypted. */
  encrypted: boolean;
  nickname: string | undefined;
  /** `clickedAt` is performance.now() of the click, for measuring the join. */
  onJoin(nickname: string, clickedAt: number): void;
};

/** `/r/<id>` before joining: a nickname and a Join button. */
export function joinView({ roomId, encrypted, nickname, onJoin }: JoinViewOptions): JoinView {
  const input = h('input', {
    id: 'nickname',
    name: 'nickname',
    type: 'text',
    autocomplete: 'nickname',
    maxlength: NICKNAME_MAX_CHARS,
    required: true,
    'aria-describedby': 'nickname-hint nickname-error',
  });
  input.value = nickname ?? '';
  const button = h('button', { type: 'submit', class: 'primary big' }, 'Join');
  const error = h('p', { id: 'nickname-error', class: 'error', role: 'alert' });
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
  /** The server applies the same rule: say what is wrong while the person types. */
  const check = (submitting: boolean): ReturnType<typeof checkNickname> => {
    const result = checkNickname(input.value);
    // An empty field is not an error until Join is pressed.
    const message = result.ok || (input.value === '' && !submitting) ? '' : result.message;
    error.textContent = message;
    input.setAttribute('aria-invalid', String(message !== ''));
    return result;
  };
  input.addEventListener('input', () => check(false));
  check(false);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const clickedAt = performance.now();
    const result = check(true);
    if (!result.ok) {
      input.focus();
      return;
    }
    onJoin(result.nickname, clickedAt);
  });

  const element = h(
    'section',
    { class: 'card join' },
    h('p', { class: 'eyebrow' }, h('a', { href: '/' }, 'GhostTalk')),
    h('h1', {}, 'Join the room'),
    h('p', { class: 'room-code' }, 'Room ', h('code', {}, roomId)),
    encrypted
      ? h(
          'p',
          { class: 'encryption', 'data-encrypted': 'true' },
          'This room is end-to-end encrypted: only the people with this link can hear what is said, not the server.',
        )
      : '',
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
