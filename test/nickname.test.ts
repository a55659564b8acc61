import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkNickname, MAX_COMBINING_MARKS } from '../src/protocol/nickname.ts';

function refusal(input: string): string | undefined {
  const check = checkNickname(input);
  return check.ok ? undefined : check.message;
}

describe('the nickname rule shared by the server and the join form', () => {
  test('real names in many scripts pass, trimmed', () => {
    const names = [
      'Zoë 👩‍👩‍👧', // emoji ZWJ sequence: the joiners are part of one picture
      '👨🏽‍💻',
      '🏳️‍🌈',
      '🏴󠁧󠁢󠁥󠁮󠁧󠁿', // subdivision flag: tag characters after the black flag
      '1️⃣',
      'Tiê\u0323\u0302ng Việt', // decomposed Vietnamese: two marks on one letter
      'ကျော်', // Burmese Kyaw: four signs on one consonant
      'ज़िंदगी',
      'שָּׁ',
      'e'.repeat(32),
    ];
    for (const name of names) {
      assert.deepEqual(checkNickname(`  ${name} `), { ok: true, nickname: name }, name);
    }
  });

  test('blank, invisible, reordering or stacked names are refused with a reason', () => {
    const cases: [string, RegExp][] = [
      ['   ', /enter a nickname/],
      ['\u202Eevil', /invisible characters/],
      ['\u2066Bob\u2069', /invisible characters/],
      ['\u200B\u200B', /invisible characters/],
      ['Bob\u200B', /invisible characters/],
      ['a\u200Db', /invisible characters/], // a joiner outside emoji
      ['Bo\u00ADb', /invisible characters/], // soft hyphen
      ['\u3164', /invisible characters/], // Hangul filler
      ['\u2800', /visible letter/], // empty Braille cell
      ['\u0301\u0301', /visible letter/],
      [`a${'\u0301'.repeat(MAX_COMBINING_MARKS + 1)}`, /more than 4 accents/],
      ['bad\u0007bell', /control characters/],
      ['a'.repeat(33), /at most 32/],
    ];
    for (const [input, reason] of cases) {
      assert.match(refusal(input) ?? 'accepted', reason, JSON.stringify(input));
    }
    assert.equal(refusal(`a${'\u0301'.repeat(MAX_COMBINING_MARKS)}`), undefined);
  });
});
