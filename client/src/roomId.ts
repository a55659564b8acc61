import { ROOM_ID_PATTERN } from '../../src/protocol/limits.ts';
import { newRoomKey } from './e2ee/roomKey.ts';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const LENGTH = 12;

/** 12 random characters of [a-z0-9] (~62 bits): unguessable enough for an unlisted room. */
export function newRoomId(): string {
  // 252 is the largest multiple of 36 below 256: rejecting above it avoids modulo bias.
  const out: string[] = [];
  while (out.length < LENGTH) {
    for (const byte of crypto.getRandomValues(new Uint8Array(LENGTH * 2))) {
      if (byte < 252 && out.length < LENGTH) out.push(ALPHABET[byte % 36] as string);
    }
  }
  return out.join('');
}

export function isValidRoomId(id: string): boolean {
  return ROOM_ID_PATTERN.test(id);
}

export function roomPath(id: string): string {
  return `/r/${encodeURIComponent(id)}`;
}

/**
 * A new room's link: a fresh id and a fresh key in the fragment, so the room is end-to-end
 * encrypted and its key never reaches the server (browsers do not send fragments).
 */
export function newRoomLink(): string {
  return `${roomPath(newRoomId())}#${newRoomKey()}`;
}

/**
 * Accepts a bare room id or a pasted invite link (`https://host/r/<id>#<key>`); the
 * fragment (the room key, if any) is kept as it is, for the room page to check.
 */
export function roomFromInput(input: string): { id: string; fragment: string } {
  const trimmed = input.trim();
  const match = /\/r\/([^/?#]+)[^#]*(#.*)?$/.exec(trimmed);
  if (!match?.[1]) return { id: trimmed, fragment: '' };
  return { id: decodeRoomSegment(match[1]), fragment: match[2] ?? '' };
}

/**
 * The room id in a link's path segment. A malformed escape (`/r/%E0`) gives '', which
 * is no valid id, so the page says the link is wrong instead of failing with a URIError.
 */
export function decodeRoomSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}
