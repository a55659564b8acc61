import { RequestError } from './signaling.ts';

/*
 * Everything the page says about a failure is written here, for people. Exception texts
 * (the browser's, a library's, the server's) are for developers: callers log the error
 * to the console and show one of these sentences instead.
 */

const PLACE_GONE = 'Your place in the room is gone. Please join again.';
const NOT_UNDERSTOOD =
  'The server did not accept what this page sent. Reload the page and try again.';

const REQUEST_MESSAGES: Record<RequestError['code'], string> = {
  ROOM_FULL: 'This room is full. Try again later, or start a new room.',
  ROOM_ENCRYPTED:
    'This link is incomplete: the room is end-to-end encrypted, and the key (the part of the link after #) is missing. Ask for the whole invite link.',
  ROOM_NOT_ENCRYPTED:
    'This link does not match the room: it carries a key, but the room was started without end-to-end encryption. Ask for the right invite link.',
  DISCONNECTED: "Can't reach the GhostTalk server. Check your connection; we keep trying.",
  TIMEOUT: 'The server did not answer in time. Please try again.',
  RATE_LIMITED:
    'Too many connections from your network in a short time. Close other GhostTalk tabs, or wait a minute, then try again.',
  SERVER_BUSY: 'The server is busy or restarting. Please try again in a minute.',
  FORBIDDEN: 'This server does not accept connections from your network.',
  REFUSED: 'The server refused the connection. Please try again later.',
  UNSUPPORTED:
    "The server cannot use this browser's audio. Open this link in a current Chrome, Firefox or Safari.",
  NOT_FOUND: PLACE_GONE,
  NOT_IN_ROOM: PLACE_GONE,
  BAD_REQUEST: NOT_UNDERSTOOD,
  UNKNOWN_EVENT: NOT_UNDERSTOOD,
  ALREADY_JOINED: NOT_UNDERSTOOD,
  INTERNAL: 'Something went wrong on the server. Please try again.',
};

const SOMETHING_WENT_WRONG = 'Something went wrong. Please try again.';

/** Turns any join failure into a sentence a person can act on. */
export function joinErrorMessage(error: unknown): string {
  switch (domExceptionName(error)) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Microphone access is blocked for this site. To allow it again, open the site settings (the icon at the left of the address bar), set Microphone to Allow, then press Join again. If it is allowed there, check that your system lets this browser use the microphone.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No microphone was found. Plug one in or switch your headset on, then press Join again.';
    case 'NotReadableError':
    case 'AbortError':
      return 'Your microphone could not be opened: another app or browser tab may be using it. Close it, then press Join again.';
  }
  return errorMessage(error);
}

/** A failed microphone switch in the room (the call goes on with the old one). */
export function deviceErrorMessage(error: unknown): string {
  switch (domExceptionName(error)) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Could not switch: the browser does not allow this site to use that microphone.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'Could not switch: that microphone is not connected any more.';
    case 'NotReadableError':
    case 'AbortError':
      return 'Could not switch: another app may be using that microphone.';
  }
  return 'Could not switch to that device. Please try again.';
}

/** Any other failure: requests by their code, everything else in general words. */
export function errorMessage(error: unknown): string {
  if (error instanceof RequestError) return REQUEST_MESSAGES[error.code];
  // mediasoup-client's Device found no WebRTC support it knows.
  if (error instanceof Error && error.name === 'UnsupportedError') {
    return 'This browser cannot make voice calls. Open this link in a current Chrome, Firefox or Safari.';
  }
  return SOMETHING_WENT_WRONG;
}

function domExceptionName(error: unknown): string | undefined {
  return error instanceof DOMException ? error.name : undefined;
}
