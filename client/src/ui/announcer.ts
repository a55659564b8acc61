import { h } from '../dom.ts';

/** Enough for a screen reader that is behind; older lines are of no use to anyone. */
const KEEP_LINES = 5;

/**
 * A screen-reader-only log of room news: who joined, left, muted or unmuted. Speaking
 * is left out on purpose: it changes several times a second in a conversation, and
 * reading each change aloud would talk over the very voices the person wants to hear
 * (each row says "speaking" for whoever looks).
 */
export class Announcer {
  readonly element = h('div', {
    class: 'visually-hidden',
    role: 'log',
    'aria-live': 'polite',
    'aria-label': 'Room activity',
  });

  say(message: string): void {
    this.element.append(h('p', {}, message));
    while (this.element.childElementCount > KEEP_LINES) this.element.firstElementChild?.remove();
  }
}
