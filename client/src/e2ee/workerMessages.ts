/** What the page and the E2EE worker tell each other (shared by both sides). */

export type E2eeOperation = 'encrypt' | 'decrypt';

/** Which stream a transform is for: RTCRtpScriptTransform's options, and part of 'stream'. */
export type TransformOptions = {
  operation: E2eeOperation;
  /** The sender's peer id as the server assigned it (ours when encrypting). */
  senderId: string;
  roomKey: string;
  /** Names the stream in the stats (e.g. the producer's or consumer's id). */
  streamId: string;
};

/** The createEncodedStreams path: the sender's or receiver's streams, transferred. */
export type StreamMessage = TransformOptions & {
  type: 'stream';
  readable: ReadableStream<RTCEncodedAudioFrame>;
  writable: WritableStream<RTCEncodedAudioFrame>;
};

export type StreamStats = TransformOptionsWithoutKey & {
  /** Frames passed on (encrypted, or decrypted and accepted). */
  frames: number;
  /** Frames dropped: failed to decrypt, replayed, or (never expected) failed to encrypt. */
  failed: number;
  /** Bytes of every frame that came in, and of the frames passed on. */
  bytesIn: number;
  bytesOut: number;
  /** Time spent in encrypt/decrypt calls, for CPU per frame: cryptoMs / (frames + failed). */
  cryptoMs: number;
  /** The stream ended; this is its last report. */
  ended?: true;
};

type TransformOptionsWithoutKey = Omit<TransformOptions, 'roomKey'>;

export type StatsMessage = { type: 'stats'; streams: StreamStats[] };

/** A transform's options, checked: they cross a thread boundary as structured clones. */
export function transformOptions(value: unknown): TransformOptions | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { operation, senderId, roomKey, streamId } = value as Record<string, unknown>;
  if (operation !== 'encrypt' && operation !== 'decrypt') return undefined;
  if (typeof senderId !== 'string' || typeof roomKey !== 'string') return undefined;
  if (typeof streamId !== 'string') return undefined;
  return { operation, senderId, roomKey, streamId };
}

export function isStatsMessage(value: unknown): value is StatsMessage {
  if (typeof value !== 'object' || value === null) return false;
  const { type, streams } = value as Record<string, unknown>;
  return type === 'stats' && Array.isArray(streams);
}
