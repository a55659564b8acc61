/**
 * What makes a nickname acceptable, shared by the server's schema and the join form so
 * that both sides apply the same rule and the person reads the reason before joining.
 * Pure and dependency-free: the browser bundles it.
 */
import { NICKNAME_MAX_CHARS } from './limits.ts';

export type NicknameCheck = { ok: true; nickname: string } | { ok: false; message: string };

/**
 * Most combining marks one character may carry. Real names need up to four in a row
 * (Burmese "ကျော်" Kyaw: four signs on one consonant; Devanagari nukta + vowel sign +
 * anusvara; pointed Hebrew); "Zalgo" text stacks dozens, which overflow the row.
 */
export const MAX_COMBINING_MARKS = 4;

const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}]/u;
/**
 * Format and other default-ignorable characters render as nothing (zero-width spaces,
 * Hangul fillers) or reorder what follows (bidi overrides): blank or spoofed names.
 * Marks are judged separately (variation selectors are marks and emoji need them).
 */
const INVISIBLE = /\p{Cf}|(?!\p{M})\p{Default_Ignorable_Code_Point}/u;
/** The two uses of invisible characters emoji need: ZWJ sequences (👩‍👩‍👧) and subdivision flags. */
const EMOJI_JOINER =
  /(?<=\p{Extended_Pictographic}(?:\u{FE0F}|\p{Emoji_Modifier})?)\u200D(?=\p{Extended_Pictographic})/gu;
const EMOJI_TAGS = /(?<=\u{1F3F4})[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]{1,7}\u{E007F}/gu;
const MARK_RUN = new RegExp(`\\p{M}{${MAX_COMBINING_MARKS + 1}}`, 'u');
/** Blank-looking characters that are not whitespace: U+2800 is the empty Braille cell. */
const VISIBLE = /[^\p{White_Space}\p{M}\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/u;

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** Trims, then checks; the message is written for the person typing the name. */
export function checkNickname(input: string): NicknameCheck {
  const nickname = input.trim();
  if (nickname === '') return { ok: false, message: 'Please enter a nickname.' };
  if (CONTROL.test(nickname)) {
    return { ok: false, message: 'A nickname cannot contain line breaks or control characters.' };
  }
  if (INVISIBLE.test(nickname.replace(EMOJI_JOINER, '').replace(EMOJI_TAGS, ''))) {
    return {
      ok: false,
      message:
        'A nickname cannot contain invisible characters (such as zero-width spaces or text-direction marks).',
    };
  }
  if (MARK_RUN.test(nickname)) {
    return {
      ok: false,
      message: `A nickname cannot stack more than ${MAX_COMBINING_MARKS} accents or marks on one letter.`,
    };
  }
  if (!VISIBLE.test(nickname)) {
    return { ok: false, message: 'A nickname needs at least one visible letter, digit or symbol.' };
  }
  if ([...segmenter.segment(nickname)].length > NICKNAME_MAX_CHARS) {
    return { ok: false, message: `A nickname can be at most ${NICKNAME_MAX_CHARS} characters.` };
  }
  return { ok: true, nickname };
}
