/**
 * The E2EE worker: encrypts the frames we send and decrypts the frames we receive, off
 * the page's main thread. Streams arrive either as RTCRtpScriptTransform transformers
 * (`rtctransform` events) or, in older Chromium, as transferred insertable streams
 * ('stream' messages); both go through the same pipeline. Every second (and at a
 * stream's first failure) it posts the counters of every stream to the page.
 */
import { deriveSenderKey, FrameDecryptor, FrameEncryptor } from './frameCipher.ts';
import {
  type StatsMessage,
  type StreamStats,
  type TransformOptions,
  transformOptions,
} from './workerMessages.ts';

/** The dedicated worker's global scope, as far as it is used (lib.dom types `self` as a Window). */
type WorkerScope = {
  onrtctransform: ((event: RTCTransformEvent) => void) | null;
  onmessage: ((event: MessageEvent<unknown>) => void) | null;
  postMessage(message: StatsMessage): void;
};
const scope = self as unknown as WorkerScope;

const STATS_INTERVAL_MS = 1_000;
/** Senders whose replay windows are kept after their stream ends (a consumer re-created). */
const MAX_DECRYPTORS = 256;

type Cipher = (data: ArrayBuffer) => Promise<ArrayBuffer | null>;

type Entry = StreamStats & { reportedFailure: boolean };

const entries = new Set<Entry>();
/** The last report of streams that ended since the previous one. */
const ended: StreamStats[] = [];
/** One per sender and room key, shared by that sender's streams, so a replay into a new stream fails too. */
const decryptors = new Map<string, Promise<FrameDecryptor>>();
let timer: ReturnType<typeof setInterval> | undefined;

scope.onrtctransform = (event) => {
  const { transformer } = event;
  const options = transformOptions(transformer.options);
  if (!options) {
    // Without options we cannot tell which way or with which key: drop everything.
    transformer.readable.cancel('bad transform options').catch(() => undefined);
    return;
  }
  run(options, transformer.readable, transformer.writable);
};

scope.onmessage = (event) => {
  const data = event.data;
  if (typeof data !== 'object' || data === null) return;
  const { type, readable, writable } = data as Record<string, unknown>;
  const options = transformOptions(data);
  if (type !== 'stream' || !options) return;
  if (!(readable instanceof ReadableStream) || !(writable instanceof WritableStream)) return;
  run(
    options,
    readable as ReadableStream<RTCEncodedAudioFrame>,
    writable as WritableStream<RTCEncodedAudioFrame>,
  );
};

function run(
  options: TransformOptions,
  readable: ReadableStream<RTCEncodedAudioFrame>,
  writable: WritableStream<RTCEncodedAudioFrame>,
): void {
  const { operation, senderId, streamId } = options;
  const entry: Entry = {
    streamId,
    operation,
    senderId,
    frames: 0,
    failed: 0,
    bytesIn: 0,
    bytesOut: 0,
    cryptoMs: 0,
    reportedFailure: false,
  };
  entries.add(entry);
  timer ??= setInterval(report, STATS_INTERVAL_MS);

  // Started at once; frames that arrive before the key is ready wait for it.
  const cipher = makeCipher(options);
  cipher.catch(() => undefined); // a bad key fails every frame, counted, below
  const transform = new TransformStream<RTCEncodedAudioFrame, RTCEncodedAudioFrame>({
    async transform(frame, controller) {
      const data = frame.data;
      let out: ArrayBuffer | null = null;
      try {
        const crypt = await cipher;
        // Only the cipher call: waiting for the key is no per-frame cost.
        const started = performance.now();
        try {
          out = await crypt(data);
        } finally {
          entry.cryptoMs += performance.now() - started;
        }
      } catch {
        out = null;
      }
      // Counted with the outcome, after the await: a report in between stays consistent.
      entry.bytesIn += data.byteLength;
      if (out === null) {
        entry.failed++;
        if (!entry.reportedFailure) {
          entry.reportedFailure = true;
          report();
        }
        return; // dropped: the decoder conceals a lost frame
      }
      frame.data = out;
      entry.frames++;
      entry.bytesOut += out.byteLength;
      controller.enqueue(frame);
    },
  });
  readable
    .pipeThrough(transform)
    .pipeTo(writable)
    .catch(() => undefined) // cancelled or errored: the sender or receiver is gone
    .finally(() => {
      entries.delete(entry);
      ended.push({ ...stats(entry), ended: true });
      if (entries.size === 0 && timer !== undefined) {
        report();
        clearInterval(timer);
        timer = undefined;
      }
    });
}

async function makeCipher(options: TransformOptions): Promise<Cipher> {
  if (options.operation === 'encrypt') {
    const encryptor = new FrameEncryptor(await deriveSenderKey(options.roomKey, options.senderId));
    return (data) => encryptor.encrypt(data);
  }
  const id = JSON.stringify([options.roomKey, options.senderId]);
  let decryptor = decryptors.get(id);
  if (decryptor) {
    decryptors.delete(id); // re-inserted below: the map is in least recently used order
  } else {
    decryptor = deriveSenderKey(options.roomKey, options.senderId).then(
      (key) => new FrameDecryptor(key),
    );
    decryptor.catch(() => decryptors.delete(id));
    const oldest = decryptors.keys().next();
    if (decryptors.size >= MAX_DECRYPTORS && !oldest.done) decryptors.delete(oldest.value);
  }
  decryptors.set(id, decryptor);
  const ready = await decryptor;
  return (data) => ready.decrypt(data);
}

function stats(entry: Entry): StreamStats {
  const { reportedFailure: _, ...rest } = entry;
  return { ...rest, cryptoMs: Math.round(rest.cryptoMs * 1000) / 1000 };
}

function report(): void {
  const streams = [...ended.splice(0), ...[...entries].map(stats)];
  if (streams.length > 0) scope.postMessage({ type: 'stats', streams });
}
