/**
 * The parts of WebRTC Encoded Transforms that TypeScript's DOM lib leaves out: the
 * worker side of RTCRtpScriptTransform (lib.webworker has it, but cannot be combined
 * with lib.dom) and Chromium's older insertable streams.
 */

interface RTCRtpScriptTransformer extends EventTarget {
  /** The second argument of `new RTCRtpScriptTransform(worker, options)`, cloned. */
  readonly options: unknown;
  readonly readable: ReadableStream<RTCEncodedAudioFrame>;
  readonly writable: WritableStream<RTCEncodedAudioFrame>;
}

interface RTCTransformEvent extends Event {
  readonly transformer: RTCRtpScriptTransformer;
}

/** Chromium's insertable streams: needs `encodedInsertableStreams` on the connection. */
interface RTCInsertableStreams {
  readonly readable: ReadableStream<RTCEncodedAudioFrame>;
  readonly writable: WritableStream<RTCEncodedAudioFrame>;
}

interface RTCRtpSender {
  createEncodedStreams?(): RTCInsertableStreams;
}

interface RTCRtpReceiver {
  createEncodedStreams?(): RTCInsertableStreams;
}

interface RTCConfiguration {
  /** Chromium: every sender and receiver waits for createEncodedStreams() to be called. */
  encodedInsertableStreams?: boolean;
}
