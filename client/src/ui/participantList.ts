import { canSetVolume } from '../browserSupport.ts';
import type { Participant } from '../call.ts';
import { h } from '../dom.ts';

type Row = {
  element: HTMLLIElement;
  name: HTMLElement;
  avatar: HTMLElement;
  badge: HTMLElement;
  /** "speaking" / "muted" in words for screen readers (the ring and badge are drawn). */
  state: HTMLElement;
};

export type ParticipantListOptions = {
  volume(peerId: string): number;
  onVolume(peerId: string, volume: number): void;
};

/** Everyone in the room, updated in place so a slider being dragged is not rebuilt. */
export class ParticipantList {
  readonly element = h('ul', { class: 'participants', 'aria-label': 'Participants' });
  readonly #rows = new Map<string, Row>();
  readonly #options: ParticipantListOptions;
  #speaking: ReadonlySet<string> = new Set();

  constructor(options: ParticipantListOptions) {
    this.#options = options;
  }

  update(participants: readonly Participant[]): void {
    const ids = new Set(participants.map((p) => p.id));
    for (const [id, row] of this.#rows) {
      if (!ids.has(id)) {
        row.element.remove();
        this.#rows.delete(id);
      }
    }
    for (const [index, participant] of participants.entries()) {
      const row = this.#rows.get(participant.id) ?? this.#createRow(participant);
      row.name.textContent = participant.nickname;
      // Two lines may cut a long name short: the tooltip shows all of it.
      row.name.title = participant.nickname;
      row.avatar.textContent = initial(participant.nickname);
      row.badge.hidden = !participant.muted;
      row.element.dataset.muted = String(participant.muted);
      row.element.dataset.speaking = String(this.#speaking.has(participant.id));
      row.state.textContent = stateText(row);
      // Keep the order given (you first) without moving rows that are already in place.
      if (this.element.children[index] !== row.element) {
        this.element.insertBefore(row.element, this.element.children[index] ?? null);
      }
    }
  }

  setSpeaking(speaking: ReadonlySet<string>): void {
    this.#speaking = speaking;
    for (const [id, row] of this.#rows) {
      row.element.dataset.speaking = String(speaking.has(id));
      row.state.textContent = stateText(row);
    }
  }

  #createRow(participant: Participant): Row {
    const name = h('span', { class: 'name' });
    const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' });
    const badge = h('span', { class: 'badge muted-badge', 'aria-hidden': 'true' }, 'muted');
    const state = h('span', { class: 'visually-hidden' });
    const whoId = `who-${participant.id}`;
    const element = h(
      'li',
      { class: 'participant', 'data-peer-id': participant.id, 'aria-labelledby': whoId },
      avatar,
      h(
        'span',
        { class: 'who', id: whoId },
        name,
        participant.self ? h('span', { class: 'you' }, ' (you)') : null,
        state,
        ' ',
        badge,
      ),
    );
    // Where the browser ignores `volume` (iOS), a slider would move and change nothing.
    if (!participant.self && canSetVolume) element.append(this.#volumeSlider(participant));
    const row = { element, name, avatar, badge, state };
    this.#rows.set(participant.id, row);
    return row;
  }

  #volumeSlider(participant: Participant): HTMLElement {
    const id = `volume-${participant.id}`;
    const value = Math.round(this.#options.volume(participant.id) * 100);
    const slider = h('input', { id, type: 'range', min: 0, max: 100, step: 1, value });
    const output = h('output', { for: id, class: 'volume-value' }, `${value} %`);
    slider.addEventListener('input', () => {
      output.textContent = `${slider.value} %`;
      this.#options.onVolume(participant.id, Number(slider.value) / 100);
    });
    return h(
      'div',
      { class: 'volume' },
      h('label', { for: id, class: 'visually-hidden' }, `Volume for ${participant.nickname}`),
      slider,
      output,
    );
  }
}

/** The row's name reads "Ada, speaking" or "Bo, muted". */
function stateText(row: Row): string {
  const { speaking, muted } = row.element.dataset;
  return `${speaking === 'true' ? ', speaking' : ''}${muted === 'true' ? ', muted' : ''}`;
}

function initial(nickname: string): string {
  const first = new Intl.Segmenter(undefined, { granularity: 'grapheme' })
    .segment(nickname)
    [Symbol.iterator]()
    .next();
  return first.done ? '?' : first.value.segment.toUpperCase();
}
