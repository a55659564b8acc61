import type { ErrorCode } from '../protocol/protocol.ts';

/** An error the client caused or must be told about; its message is safe to send. */
export class SignalingError extends Error {
  override name = 'SignalingError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
