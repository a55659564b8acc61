/**
 * What the media layer refuses, by cause. It says nothing of the wire: the signaling
 * layer maps each class to the code a client sees (signaling/wireErrors.ts). Any other
 * error out of the media layer is a bug of ours, not the client's.
 */
export class MediaError extends Error {
  override name = 'MediaError';
}

/** The client's input was refused, by our checks or by mediasoup's own argument checks. */
export class InvalidInputError extends MediaError {
  override name = 'InvalidInputError';
}

/** The client's capabilities cannot do what is asked (mediasoup's UnsupportedError). */
export class UnsupportedInputError extends InvalidInputError {
  override name = 'UnsupportedInputError';
}

/** A transport, consumer or place that does not exist (or no longer does) for this peer. */
export class NotFoundError extends MediaError {
  override name = 'NotFoundError';
}

/** The peer is not (or no longer) in the room. */
export class NotInRoomError extends MediaError {
  override name = 'NotInRoomError';
}

/** Done already, and cannot be done twice (produce, connect). */
export class ConflictError extends MediaError {
  override name = 'ConflictError';
}

export class RoomFullError extends MediaError {
  override name = 'RoomFullError';
}

/** The join's end-to-end encryption differs from the room's (`roomEncrypted`). */
export class EncryptionMismatchError extends MediaError {
  override name = 'EncryptionMismatchError';
  readonly roomEncrypted: boolean;

  constructor(roomEncrypted: boolean) {
    super(
      roomEncrypted
        ? 'this room is end-to-end encrypted and the link has no key: ask for the whole link'
        : 'this room is not end-to-end encrypted, but the link has a key: ask for the right link',
    );
    this.roomEncrypted = roomEncrypted;
  }
}

/** The server cannot take this now (shutting down, worker restarting, at a cap): try later. */
export class UnavailableError extends MediaError {
  override name = 'UnavailableError';
}

/**
 * Runs a mediasoup call whose arguments came from a client: mediasoup's own checks
 * (TypeError, UnsupportedError) mean the input was bad, so they become InvalidInputError.
 * Other failures are left as they are.
 */
export async function withClientInput<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const message = `${what} refused: ${(error as Error)?.message}`;
    if ((error as Error)?.name === 'UnsupportedError') throw new UnsupportedInputError(message);
    if (error instanceof TypeError) throw new InvalidInputError(message);
    throw error;
  }
}
