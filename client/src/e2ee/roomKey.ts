/**
 * The room key of an end-to-end encrypted room. It lives only in the link's fragment
 * (`/r/<id>#<key>`), which browsers never send to the server. Pure WebCrypto and no DOM,
 * so it runs in the page, in the E2EE worker and in Node's tests.
 */

const NEW_KEY_BYTES = 16;
const MIN_KEY_BYTES = 16;
const MAX_KEY_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export type RoomKeyParse =
  | { ok: true; key: string }
  | { ok: false; reason: 'missing' | 'malformed' };

/** 16 random bytes, base64url without padding: 22 characters. */
export function newRoomKey(): string {
  return encodeBase64Url(crypto.getRandomValues(new Uint8Array(NEW_KEY_BYTES)));
}

/** Takes `location.hash` as it is (with or without the '#'). */
export function parseRoomKey(fragment: string): RoomKeyParse {
  const text = fragment.startsWith('#') ? fragment.slice(1) : fragment;
  if (text === '') return { ok: false, reason: 'missing' };
  return roomKeyBytes(text) ? { ok: true, key: text } : { ok: false, reason: 'malformed' };
}

/**
 * The key's bytes, or undefined if it is not canonical unpadded base64url of 16 to 32
 * bytes. Canonical (re-encoding gives the same text) so one key has one spelling, and
 * one safety code per spelling means one per key.
 */
export function roomKeyBytes(key: string): Uint8Array<ArrayBuffer> | undefined {
  if (!BASE64URL.test(key) || key.length % 4 === 1) return undefined;
  const bytes = decodeBase64Url(key);
  if (bytes.length < MIN_KEY_BYTES || bytes.length > MAX_KEY_BYTES) return undefined;
  return encodeBase64Url(bytes) === key ? bytes : undefined;
}

const SAFETY_PREFIX = new TextEncoder().encode('GhostTalk safety code v1');

/**
 * Eight digits people read to each other ("4829 1307") to check they hold the same key.
 * SHA-256 over a domain-separation prefix (so the code is no hash that means anything
 * elsewhere) and the key bytes. The prefix has a fixed length, so the concatenation is
 * unambiguous. Eight digits (~27 bits) catch a wrong or swapped link; they do not stop
 * someone who hands out the link and can try 10^8 keys to match a code.
 */
export async function safetyCode(key: string): Promise<string> {
  const bytes = roomKeyBytes(key);
  if (!bytes) throw new Error('malformed room key');
  const input = new Uint8Array(SAFETY_PREFIX.length + bytes.length);
  input.set(SAFETY_PREFIX);
  input.set(bytes, SAFETY_PREFIX.length);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', input));
  // The first 40 bits as an integer (exact in a double). 2^40 = 10995 * 10^8 + 11627776,
  // so codes below 11627776 are 1 in 10996 rather than 1 in 10995 more likely: a bias
  // of about 10^-4, far below anything that helps a guesser.
  let value = 0;
  for (let i = 0; i < 5; i++) value = value * 256 + (digest[i] as number);
  const digits = String(value % 100_000_000).padStart(8, '0');
  return `${digits.slice(0, 4)} ${digits.slice(4)}`;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function encodeBase64Url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i] as number;
    const b1 = bytes[i + 1];
    const b2 = bytes[i + 2];
    out += ALPHABET[b0 >> 2];
    out += ALPHABET[((b0 & 3) << 4) | ((b1 ?? 0) >> 4)];
    if (b1 !== undefined) out += ALPHABET[((b1 & 15) << 2) | ((b2 ?? 0) >> 6)];
    if (b2 !== undefined) out += ALPHABET[b2 & 63];
  }
  return out;
}

/** Only for text that matched BASE64URL with a length that is not 1 mod 4. */
function decodeBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let count = 0;
  let at = 0;
  for (const char of text) {
    // At most 14 pending bits matter; the mask keeps the int32 small.
    bits = ((bits << 6) | ALPHABET.indexOf(char)) & 0xffff;
    count += 6;
    if (count >= 8) {
      count -= 8;
      out[at++] = (bits >> count) & 255;
    }
  }
  return out;
}
