import { h } from '../dom.ts';

/** After hanging up (or a call that could not be saved): the way back in. */
export function leftView(options: {
  title: string;
  message?: string;
  onRejoin(clickedAt: number): void;
}): HTMLElement {
  const rejoin = h('button', { type: 'button', class: 'primary big' }, 'Rejoin');
  rejoin.addEventListener('click', () => {
    rejoin.disabled = true;
    options.onRejoin(performance.now());
  });
  return h(
    'section',
    { class: 'card left' },
    h('h1', {}, options.title),
    options.message ? h('p', { role: 'alert' }, options.message) : null,
    rejoin,
    ' ',
    h('a', { href: '/', class: 'button-link' }, 'Start page'),
  );
}
