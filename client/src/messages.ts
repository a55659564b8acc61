import { RequestError } from './signaling.ts';

/** Turns any join failure into a sentence a person can act on. */
export function joinErrorMessage(error: unknown): string {
  if (error instanceof DOMException) {
    switch (error.name) {
      case 'NotAllowedError':
      case 'SecurityError':
        return 'Microphone access is blocked. Allow the microphone for this site (see the icon in the address bar), then press Join again.';
      case 'NotFoundError':
      case 'OverconstrainedError':
        return 'No microphone was found. Plug one in, then press Join again.';
      case 'NotReadableError':
      case 'AbortError':
        return 'Your microphone could not be opened. Another app may be using it.';
    }
  }
  if (error instanceof RequestError) {
    switch (error.code) {
      case 'ROOM_FULL':
        return 'This room is full. Try again later, or start a new room.';
      case 'DISCONNECTED':
        return "Can't reach the GhostTalk server. Check your connection; we keep trying.";
      case 'TIMEOUT':
        return 'The server did not answer in time. Please try again.';
      default:
        return error.message;
    }
  }
  if (error instanceof Error && error.name === 'UnsupportedError') {
    return 'This browser cannot make voice calls. Try a current Chrome, Firefox, Edge or Safari.';
  }
  return error instanceof Error ? error.message : String(error);
}
