import { io, type Socket } from 'socket.io-client';
import { RECONNECT_BACKOFF } from '../../src/protocol/limits.ts';
import type {
  Ack,
  ClientToServerEvents,
  ErrorCode,
  Request,
  RequestName,
  Responses,
  ServerToClientEvents,
} from '../../src/protocol/protocol.ts';
import { RequestLog, type RequestTiming } from './requestLog.ts';

export type GhostSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Every failed request: a server ack error, or no answer / no connection. */
export class RequestError extends Error {
  override name = 'RequestError';
  readonly code: ErrorCode | 'TIMEOUT' | 'DISCONNECTED' | 'REFUSED';

  constructor(code: RequestError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

const REQUEST_TIMEOUT_MS = 10_000;

/**
 * A connection the server's connection policy refused (src/signaling/connectionPolicy.ts
 * names the reason in the error's message), as a code the page can explain.
 */
function refusal(error: Error): RequestError {
  const code =
    error.message === 'banned'
      ? 'FORBIDDEN'
      : error.message.startsWith('too many')
        ? 'RATE_LIMITED'
        : 'REFUSED';
  return new RequestError(code, `The server refused the connection: ${error.message}`);
}

// socket.io's typings cannot follow a generic event name through `emit`; this is the same call.
type LooseEmitter = {
  emit(event: string, payload: unknown, ack: (err: Error | null, res?: Ack<unknown>) => void): void;
};

/** The typed socket plus request/ack as promises. */
export class Signaling {
  readonly socket: GhostSocket;
  /** Timing of every request, so a join's round trips can be counted. */
  readonly log = new RequestLog();

  constructor() {
    this.socket = io({
      // WebSocket first saves the polling-then-upgrade dance (a round trip or two) on join;
      // polling stays as the fallback for networks that block WebSockets.
      transports: ['websocket', 'polling'],
      tryAllTransports: true,
      ...RECONNECT_BACKOFF,
    });
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Resolves once connected (immediately if already). */
  whenConnected(): Promise<void> {
    if (this.socket.connected) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('connect', () => resolve()));
  }

  /**
   * Resolves once connected. socket.io reconnects by itself after a drop, but not after
   * the server closed the socket, as it does to sockets left outside a room for a while:
   * such a socket is opened again here. Rejects if the server cannot be reached now.
   */
  reopen(): Promise<void> {
    const socket = this.socket;
    if (socket.connected) return Promise.resolve();
    const unreachable = () => new RequestError('DISCONNECTED', 'Not connected to the server.');
    // Already retrying by itself (the join form shows it): say so now, not after a backoff.
    if (socket.active) return Promise.reject(unreachable());
    socket.connect();
    return new Promise((resolve, reject) => {
      const settle = (error?: Error) => {
        socket.off('connect', onConnect);
        socket.off('connect_error', onError);
        if (error) reject(error);
        else resolve();
      };
      const onConnect = () => settle();
      // Not active after the error: the server refused the connection, and says why.
      const onError = (error: Error) => settle(socket.active ? unreachable() : refusal(error));
      socket.on('connect', onConnect);
      socket.on('connect_error', onError);
    });
  }

  request<N extends RequestName>(
    event: N,
    payload: Request<N>,
    after?: RequestTiming,
  ): Promise<Responses[N]> {
    return this.track(event, payload, after).response;
  }

  /** A request plus its timing entry, so later requests can say they waited for it. */
  track<N extends RequestName>(
    event: N,
    payload: Request<N>,
    after?: RequestTiming,
  ): { timing: RequestTiming; response: Promise<Responses[N]> } {
    const timing = this.log.start(event, after);
    if (!this.socket.connected) {
      // socket.io would buffer it and send it after a reconnect, when it no longer makes sense.
      this.log.end(timing);
      const error = new RequestError('DISCONNECTED', 'Not connected to the server.');
      return { timing, response: Promise.reject(error) };
    }
    const response = new Promise<Responses[N]>((resolve, reject) => {
      const emitter = this.socket.timeout(REQUEST_TIMEOUT_MS) as unknown as LooseEmitter;
      emitter.emit(event, payload, (err, res) => {
        this.log.end(timing);
        if (err || !res) {
          reject(new RequestError('TIMEOUT', 'The server did not answer in time.'));
        } else if (res.ok) {
          resolve(res.data as Responses[N]);
        } else {
          reject(new RequestError(res.error.code, res.error.message));
        }
      });
    });
    return { timing, response };
  }
}
