/**
 * The page's side of E2EE: which encoded-transform API this browser has, and one worker
 * (e2eeWorker.ts) that the RTP senders and receivers hand their frames to.
 */
import { Emitter } from '../emitter.ts';
import {
  isStatsMessage,
  type StreamMessage,
  type StreamStats,
  type TransformOptions,
} from './workerMessages.ts';

export type { StreamStats } from './workerMessages.ts';

/**
 * 'script-transform': RTCRtpScriptTransform (Firefox, Safari, Chromium 141+).
 * 'encoded-streams': Chromium's createEncodedStreams, which needs the connection created
 * with `encodedInsertableStreams: true` (see e2eeTransportSettings).
 */
export type E2eeSupport = 'script-transform' | 'encoded-streams' | 'none';

export function e2eeSupport(): E2eeSupport {
  // crypto.subtle is missing outside secure contexts.
  if (typeof Worker !== 'function' || !globalThis.crypto?.subtle) return 'none';
  if ('RTCRtpScriptTransform' in window) return 'script-transform';
  if (
    typeof RTCRtpSender === 'function' &&
    typeof RTCRtpSender.prototype.createEncodedStreams === 'function' &&
    typeof RTCRtpReceiver.prototype.createEncodedStreams === 'function'
  ) {
    return 'encoded-streams';
  }
  return 'none';
}

/**
 * What a transport of an encrypted room needs in mediasoup-client's `additionalSettings`.
 * Only the encoded-streams path sets the flag: with it, Chromium passes no frame of any
 * sender or receiver until createEncodedStreams() is called on it.
 */
export function e2eeTransportSettings(support: E2eeSupport): Partial<RTCConfiguration> {
  return support === 'encoded-streams' ? { encodedInsertableStreams: true } : {};
}

type E2eeWorkerEvents = {
  /** About every second while streams run, and at a stream's first dropped frame. */
  stats: [streams: StreamStats[]];
  /** The worker failed to load or threw outside a frame: encrypted audio has stopped. */
  error: [message: string];
};

/** One worker for all the streams of a call. */
export class E2eeWorker extends Emitter<E2eeWorkerEvents> {
  readonly support: Exclude<E2eeSupport, 'none'>;
  readonly #worker: Worker;
  #closed = false;

  constructor(support: E2eeSupport = e2eeSupport()) {
    super();
    if (support === 'none') throw new Error('This browser cannot encrypt audio frames');
    this.support = support;
    this.#worker = new Worker(new URL('./e2eeWorker.ts', import.meta.url), {
      type: 'module',
      name: 'ghosttalk-e2ee',
    });
    this.#worker.onmessage = (event: MessageEvent<unknown>) => {
      if (isStatsMessage(event.data)) this.emit('stats', event.data.streams);
    };
    this.#worker.onerror = (event) => {
      this.emit('error', event.message || 'The encryption worker failed');
    };
  }

  /**
   * Encrypts what `sender` sends. Call it before the first frame: from mediasoup-client's
   * `onRtpSender`, which runs as soon as the sender exists.
   */
  attachSender(sender: RTCRtpSender, senderId: string, roomKey: string, streamId: string): void {
    this.#attach(sender, { operation: 'encrypt', senderId, roomKey, streamId });
  }

  /** Decrypts what `receiver` gets from `senderId` (from `onRtpReceiver`, likewise). */
  attachReceiver(
    receiver: RTCRtpReceiver,
    senderId: string,
    roomKey: string,
    streamId: string,
  ): void {
    this.#attach(receiver, { operation: 'decrypt', senderId, roomKey, streamId });
  }

  close(): void {
    this.#closed = true;
    this.#worker.terminate();
  }

  /** Throws rather than leave a stream unencrypted. */
  #attach(target: RTCRtpSender | RTCRtpReceiver, options: TransformOptions): void {
    if (this.#closed) throw new Error('The encryption worker is closed');
    if (this.support === 'script-transform') {
      target.transform = new RTCRtpScriptTransform(this.#worker, options);
      return;
    }
    const streams = target.createEncodedStreams?.();
    if (!streams) throw new Error('This browser cannot encrypt audio frames');
    const { readable, writable } = streams;
    const message: StreamMessage = { type: 'stream', ...options, readable, writable };
    this.#worker.postMessage(message, [readable, writable]);
  }
}
