import { io, type Socket } from 'socket.io-client';
import type {
  Ack,
  ClientToServerEvents,
  RequestName,
  Responses,
  ServerToClientEvents,
} from '../../src/protocol/protocol.ts';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** A real socket.io client speaking the GhostTalk protocol, for tests. */
export class SignalingClient {
  readonly socket: ClientSocket;

  static async connect(url: string): Promise<SignalingClient> {
    const socket: ClientSocket = io(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return new SignalingClient(socket);
  }

  private constructor(socket: ClientSocket) {
    this.socket = socket;
  }

  /** Sends one request and resolves with its ack, whatever it says. */
  request<N extends RequestName>(
    name: N,
    payload: unknown,
    timeoutMs = 5000,
  ): Promise<Ack<Responses[N]>> {
    // Payloads are deliberately untyped: tests send wrong ones on purpose.
    const timed = this.socket.timeout(timeoutMs) as unknown as {
      emit: (
        event: string,
        payload: unknown,
        ack: (err: Error | null, response: Ack<Responses[N]>) => void,
      ) => void;
    };
    return new Promise((resolve, reject) => {
      timed.emit(name, payload, (err, response) => (err ? reject(err) : resolve(response)));
    });
  }

  /** Like request(), but fails unless the ack is ok. */
  async call<N extends RequestName>(name: N, payload: unknown): Promise<Responses[N]> {
    const response = await this.request(name, payload);
    if (!response.ok) throw new Error(`${name}: ${response.error.code} ${response.error.message}`);
    return response.data;
  }

  /** Resolves with the next event of that name. */
  next<E extends keyof ServerToClientEvents>(
    event: E,
    timeoutMs = 5000,
  ): Promise<Parameters<ServerToClientEvents[E]>[0]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${event} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const socket = this.socket as unknown as {
        once: (e: string, l: (arg: Parameters<ServerToClientEvents[E]>[0]) => void) => void;
      };
      socket.once(event, (arg) => {
        clearTimeout(timer);
        resolve(arg);
      });
    });
  }

  close(): void {
    this.socket.disconnect();
  }
}
