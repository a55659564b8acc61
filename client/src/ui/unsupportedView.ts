import type { BrowserProblem } from '../browserSupport.ts';
import { h } from '../dom.ts';

/** Shown instead of the page when this browser, or this address, cannot make calls. */
export function unsupportedView(problem: BrowserProblem): HTMLElement {
  const card = (title: string, ...content: HTMLElement[]) =>
    h(
      'section',
      { class: 'card unsupported' },
      h('p', { class: 'eyebrow' }, 'GhostTalk'),
      h('h1', {}, title),
      ...content,
    );
  const address = h('code', { class: 'page-url' }, location.href);

  if (problem === 'insecure') {
    return card(
      'This page cannot use your microphone',
      h(
        'p',
        { role: 'alert' },
        'Browsers only let a page use the microphone over a secure connection: an address that starts with https://, or localhost on your own computer. This page was opened over plain http: ',
        address,
      ),
      h('p', {}, 'If someone sent you this link, ask them for an https:// link.'),
      h('h2', {}, 'If you run this server'),
      h(
        'p',
        {},
        'Serve GhostTalk over HTTPS: give it a certificate with the TLS_CERT and TLS_KEY settings, or put it behind a reverse proxy such as Caddy. The README explains both.',
      ),
    );
  }
  if (problem === 'no-e2ee') {
    return card(
      'This browser cannot join this encrypted room',
      h(
        'p',
        { role: 'alert' },
        'The room is end-to-end encrypted: each browser encrypts its own audio, so the server cannot hear it. This browser cannot do that (it lacks encoded transforms for WebRTC), and joining without encryption would expose what you say, so it does not join.',
      ),
      h('p', {}, 'Open this link in a current Chrome, Firefox or Safari: ', address),
    );
  }
  return card(
    'This browser cannot make voice calls',
    h(
      'p',
      { role: 'alert' },
      'It lacks WebRTC, which voice calls in a browser need. Old browsers lack it, and so do the browsers built into some apps (social networks, mail and chat apps).',
    ),
    h('p', {}, 'Open this link in Chrome, Firefox or Safari: ', address),
  );
}
