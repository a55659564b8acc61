import { h } from '../dom.ts';
import { isValidRoomId, newRoomId, roomIdFromInput, roomPath } from '../roomId.ts';

/** `/`: start a room, or go to one you were given. */
export function homeView(): HTMLElement {
  const start = h('button', { type: 'button', class: 'primary big' }, 'Start a new room');
  start.addEventListener('click', () => location.assign(roomPath(newRoomId())));

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
    const id = roomIdFromInput(input.value);
    if (!isValidRoomId(id)) {
      error.textContent = 'That is not a room code: use letters, digits, - and _ (up to 64).';
      return;
    }
    location.assign(roomPath(id));
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
  start.addEventListener('click', () => location.assign(roomPath(newRoomId())));
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
