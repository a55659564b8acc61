import {
  ConflictError,
  EncryptionMismatchError,
  InvalidInputError,
  NotFoundError,
  NotInRoomError,
  RoomFullError,
  UnavailableError,
  UnsupportedInputError,
} from '../media/errors.ts';
import type { ErrorCode, ProtocolError } from '../protocol/protocol.ts';
import { SignalingError } from './SignalingError.ts';

/** The one table from what went wrong to what the client is told. */
const codes: ReadonlyArray<[new (...args: never[]) => Error, ErrorCode]> = [
  [UnsupportedInputError, 'UNSUPPORTED'],
  [InvalidInputError, 'BAD_REQUEST'],
  [NotFoundError, 'NOT_FOUND'],
  [NotInRoomError, 'NOT_IN_ROOM'],
  [ConflictError, 'BAD_REQUEST'],
  [RoomFullError, 'ROOM_FULL'],
  [UnavailableError, 'SERVER_BUSY'],
];

/**
 * The answer for a failed request. Errors we raise on purpose carry a message written for
 * the client; anything else is our bug: the client gets a generic INTERNAL and
 * `internal` tells the caller to log it with its stack.
 */
export function toWireError(error: unknown): ProtocolError & { internal: boolean } {
  if (error instanceof SignalingError) {
    return { code: error.code, message: error.message, internal: false };
  }
  if (error instanceof EncryptionMismatchError) {
    const code = error.roomEncrypted ? 'ROOM_ENCRYPTED' : 'ROOM_NOT_ENCRYPTED';
    return { code, message: error.message, internal: false };
  }
  for (const [type, code] of codes) {
    if (error instanceof type) return { code, message: error.message, internal: false };
  }
  return { code: 'INTERNAL', message: 'internal error', internal: true };
}
