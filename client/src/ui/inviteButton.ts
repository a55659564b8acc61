import { h } from '../dom.ts';
import { icon } from './icons.ts';

/** "Copy invite link" with visible feedback; shows the link to copy by hand if the clipboard is refused. */
export function inviteButton(url: string): HTMLElement {
  const label = h('span', {}, 'Copy invite link');
  const button = h('button', { type: 'button', class: 'invite' }, icon('link'), label);
  const feedback = h('span', { class: 'copy-feedback', role: 'status' });
  let timer: number | undefined;

  button.addEventListener('click', async () => {
    window.clearTimeout(timer);
    try {
      await navigator.clipboard.writeText(url);
      feedback.textContent = 'Copied!';
    } catch {
      feedback.replaceChildren('Copy this link: ', h('code', { class: 'invite-url' }, url));
    }
    timer = window.setTimeout(() => {
      feedback.textContent = '';
    }, 4000);
  });
  return h('div', { class: 'invite-box' }, button, feedback);
}
