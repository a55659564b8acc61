import { h } from '../dom.ts';
import { isValidRoomId, newRoomLink, roomFromInput, roomPath } from '../roomId.ts';

/** `/`: start a room, or go to one you were given. */
export function homeView(): HTMLElement {
  const start = h('button', { type: 'button', class: 'primary big' }, 'Start a new room');
  start.addEventListener('click', () => location.assign(newRoomLink()));

  const input = h('input', {
    id: 'room-code',
    name: 'room',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'Paste a link or code',
    required: true,
  });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h(
    'form',
    { class: 'join-existing' },
    h('label', { for: 'room-code' }, 'Room link or code'),
    h('div', { class: 'row' }, input, h('button', { type: 'submit' }, 'Go to room')),
    error,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const { id, fragment } = roomFromInput(input.value);
    if (!isValidRoomId(id)) {
      error.textContent = 'That is not a room code: use letters, digits, - and _ (up to 64).';
      return;
    }
    location.assign(`${roomPath(id)}${fragment}`);
  });

  return h(
    'section',
    { class: 'card home' },
    h('h1', {}, 'GhostTalk'),
    h(
      'p',
      { class: 'lead' },
      'Anonymous voice rooms in your browser. No accounts, nothing to install.',
    ),
    start,
    h(
      'p',
      { class: 'hint' },
      'You get a private link to share with the people you want to talk to.',
    ),
    h('div', { class: 'divider', 'aria-hidden': 'true' }, 'or'),
    form,
  );
}

/** `/r/<bad id>`: say what is wrong and offer the way out. */
export function badRoomView(): HTMLElement {
  const start = h('button', { type: 'button', class: 'primary' }, 'Start a new room');
  start.addEventListener('click', () => location.assign(newRoomLink()));
  return h(
    'section',
    { class: 'card' },
    h('h1', {}, 'This room link is not valid'),
    h(
      'p',
      { role: 'alert' },
      'Room codes use only letters, digits, - and _, up to 64 characters. Check the link you were sent.',
    ),
    start,
    ' ',
    h('a', { href: '/', class: 'button-link' }, 'Start page'),
  );
}

/** `/r/<id>#<damaged key>`: the link was cut or mangled on its way here. */
export function badKeyView(): HTMLElement {
  return h(
    'section',
    { class: 'card' },
    h('h1', {}, 'This link is incomplete'),
    h(
      'p',
      { role: 'alert' },
      'The room is end-to-end encrypted, and the key at the end of the link (after #) is damaged or cut short, so you could not hear anyone. Ask for the whole invite link again, and open it exactly as it was sent.',
    ),
    h('a', { href: '/', class: 'button-link' }, 'Start page'),
  );
}
