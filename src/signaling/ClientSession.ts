import { randomUUID } from 'node:crypto';
import type { types } from 'mediasoup';
import type { Socket } from 'socket.io';
import type { z } from 'zod';
import type { Logger } from '../logging/createLogger.ts';
import type { Notify } from '../media/PeerTypes.ts';
import type { JoinResult, Room } from '../media/Room.ts';
import type { RoomRegistry } from '../media/RoomRegistry.ts';
import {
  type Ack,
  type ClientToServerEvents,
  type ErrorCode,
  type IceServer,
  type ProtocolError,
  type RequestName,
  type Responses,
  requestSchemas,
  type ServerToClientEvents,
  type SocketData,
} from './protocol.ts';
import { SignalingError } from './SignalingError.ts';
import type { SignalingLimits } from './SignalingLimits.ts';

export type GhostTalkSocket = Socket<
  ClientToServerEvents,
  ServerToClientEvents,
  Record<string, never>,
  SocketData
>;

export type ClientSessionOptions = {
  socket: GhostTalkSocket;
  rooms: RoomRegistry;
  routerRtpCapabilities: types.RtpCapabilities;
  /** ICE servers for one peer, and when they should be refreshed (ms from now), if ever. */
  iceServers: (peerId: string) => { iceServers: IceServer[]; refreshInMs?: number };
  iceTransportPolicy: 'all' | 'relay';
  limits: SignalingLimits;
  logger: Logger;
};

type Handlers = {
  [N in RequestName]: (payload: z.output<(typeof requestSchemas)[N]>) => Promise<Responses[N]>;
};

function describeValidationError(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) =>
      issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message,
    )
    .join('; ');
}

/** Requests queued on one socket before further ones are refused outright. */
const MAX_PENDING_REQUESTS = 32;

const deliberateDisconnects = new Set([
  'server namespace disconnect',
  'client namespace disconnect',
  'server shutting down',
]);

/** mediasoup rejects bad parameters with TypeError; that is the client's fault, not ours. */
function toProtocolError(error: unknown): ProtocolError | undefined {
  if (error instanceof SignalingError) return { code: error.code, message: error.message };
  if (error instanceof TypeError) return { code: 'BAD_REQUEST', message: error.message };
  if (error instanceof Error && error.name === 'UnsupportedError') {
    return { code: 'UNSUPPORTED', message: error.message };
  }
  return undefined;
}

/**
 * One socket.io connection: validates every request, runs them one at a time (so a
 * client cannot race its own join against itself) and answers each with one ack.
 */
export class ClientSession {
  readonly #socket: GhostTalkSocket;
  readonly #options: ClientSessionOptions;
  readonly #logger: Logger;
  #room: Room | undefined;
  #peerId: string | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #iceRefresh: NodeJS.Timeout | undefined;
  /** Room events for this client held until its join ack is out, so they never precede it. */
  #held: Array<() => void> | undefined;
  #closed = false;

  constructor(options: ClientSessionOptions) {
    this.#options = options;
    this.#socket = options.socket;
    this.#logger = options.logger;
    const handlers = this.#handlers();
    for (const name of Object.keys(requestSchemas) as RequestName[]) {
      this.#socket.on(name, (...args: unknown[]) => this.#onRequest(name, handlers, args));
    }
    this.#socket.onAny((event: string, ...args: unknown[]) => {
      if (Object.hasOwn(requestSchemas, event)) return;
      const ack = args.at(-1);
      void this.#options.limits.allowMessage(this.#socket.id).then((allowed) => {
        if (typeof ack !== 'function') return;
        const error = allowed
          ? { code: 'UNKNOWN_EVENT', message: `unknown event "${String(event).slice(0, 64)}"` }
          : { code: 'RATE_LIMITED', message: 'too many requests, slow down' };
        ack({ ok: false, error });
      });
    });
    this.#socket.on('disconnect', (reason) => this.close(reason));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolved by the connection middleware; the raw peer address otherwise. */
  get ip(): string {
    return this.#socket.data.ip ?? this.#socket.handshake.address;
  }

  #onRequest(name: RequestName, handlers: Handlers, args: unknown[]): void {
    // An emit with an ack but no payload puts the ack first.
    const ack = [...args].reverse().find((a) => typeof a === 'function') as
      | ((response: Ack<unknown>) => void)
      | undefined;
    const payload = typeof args[0] === 'function' ? undefined : args[0];
    const fail = (code: ErrorCode, message: string) =>
      ack?.({ ok: false, error: { code, message } });
    if (this.#pending >= MAX_PENDING_REQUESTS) {
      fail('RATE_LIMITED', 'too many requests in flight, slow down');
      return;
    }
    this.#pending += 1;
    const run = async (): Promise<Ack<unknown>> => {
      const parsed = requestSchemas[name].safeParse(payload ?? {});
      if (!parsed.success) {
        const message = `${name}: ${describeValidationError(parsed.error)}`;
        return { ok: false, error: { code: 'BAD_REQUEST', message } };
      }
      try {
        const handler = handlers[name] as (p: unknown) => Promise<unknown>;
        return { ok: true, data: await handler(parsed.data) };
      } catch (error) {
        const known = toProtocolError(error);
        if (known) return { ok: false, error: known };
        this.#logger.error('request failed', {
          event: name,
          peer: this.#peerId,
          error: (error as Error).message,
        });
        return { ok: false, error: { code: 'INTERNAL', message: 'internal error' } };
      }
    };
    void this.#options.limits.allowMessage(this.#socket.id).then((allowed) => {
      if (!allowed) {
        this.#pending -= 1;
        fail('RATE_LIMITED', 'too many requests, slow down');
        return;
      }
      const result = this.#queue.then(run);
      this.#queue = result.catch(() => {});
      void result.then((response) => {
        this.#pending -= 1;
        ack?.(response);
        this.#release();
      });
    });
  }

  /** Current ICE servers; schedules the push of fresh ones before these expire. */
  #iceServers(peerId: string): IceServer[] {
    const { iceServers, refreshInMs } = this.#options.iceServers(peerId);
    clearTimeout(this.#iceRefresh);
    if (refreshInMs !== undefined) {
      this.#iceRefresh = setTimeout(() => {
        if (this.#peerId === peerId && !this.#closed) {
          this.#socket.emit('iceServers', { iceServers: this.#iceServers(peerId) });
        }
      }, refreshInMs);
      this.#iceRefresh.unref();
    }
    return iceServers;
  }

  /** Sends what was held during a join (after its ack; nothing if the join failed). */
  #release(): void {
    const held = this.#held;
    this.#held = undefined;
    if (held && this.#inRoom()) for (const send of held) send();
  }

  #inRoom(): boolean {
    return Boolean(this.#peerId && this.#room?.peers.has(this.#peerId));
  }

  #requireRoom(): { room: Room; peerId: string } {
    if (!this.#room || !this.#peerId || !this.#inRoom()) {
      throw new SignalingError('NOT_IN_ROOM', 'join a room first');
    }
    return { room: this.#room, peerId: this.#peerId };
  }

  #handlers(): Handlers {
    return {
      capabilities: async () => ({ routerRtpCapabilities: this.#options.routerRtpCapabilities }),
      join: async ({ roomId, nickname, rtpCapabilities, resume }) => {
        if (this.#inRoom()) {
          throw new SignalingError('ALREADY_JOINED', 'already in a room; leave first');
        }
        const socket = this.#socket;
        this.#held = [];
        const sink: Notify = (event, ...args) => {
          const send = () => socket.emit(event, ...args);
          if (this.#held) this.#held.push(send);
          else send();
        };
        let result: JoinResult | undefined;
        let room = resume ? this.#options.rooms.get(roomId) : undefined;
        if (room && resume) {
          try {
            result = room.resume(resume.peerId, resume.token, sink);
          } catch {
            // The place is gone (grace expired, room closed): a fresh join instead.
          }
        }
        if (!result) {
          const { rooms, limits } = this.#options;
          await limits.checkJoin(this.ip, {
            createsRoom: !rooms.get(roomId),
            rooms: rooms.size,
            peers: rooms.peerCount,
          });
          room = await rooms.getOrCreate(roomId);
          result = await room.join({
            peerId: randomUUID(),
            nickname,
            ip: this.ip,
            rtpCapabilities: rtpCapabilities as types.RtpCapabilities,
            notify: sink,
          });
        }
        this.#room = room;
        this.#peerId = result.peerId;
        Object.assign(this.#socket.data, { roomId, peerId: result.peerId });
        // The socket may have gone while we were creating transports.
        if (this.#closed) this.#detach();
        return {
          ...result,
          iceServers: this.#iceServers(result.peerId),
          iceTransportPolicy: this.#options.iceTransportPolicy,
        };
      },
      connectTransport: async ({ transportId, dtlsParameters }) => {
        const { room, peerId } = this.#requireRoom();
        await room.peer(peerId).connect(transportId, dtlsParameters as types.DtlsParameters);
        return {};
      },
      produce: async ({ transportId, rtpParameters }) => {
        const { room, peerId } = this.#requireRoom();
        const producerId = await room.produce(
          peerId,
          transportId,
          rtpParameters as types.RtpParameters,
        );
        return { producerId };
      },
      resumeConsumers: async ({ consumerIds }) => {
        const { room, peerId } = this.#requireRoom();
        await room.resumeConsumers(peerId, consumerIds);
        return {};
      },
      setMuted: async ({ muted }) => {
        const { room, peerId } = this.#requireRoom();
        await room.setMuted(peerId, muted);
        return {};
      },
      restartIce: async ({ transportId }) => {
        const { room, peerId } = this.#requireRoom();
        const iceParameters = await room.peer(peerId).transport(transportId).restartIce();
        return { iceParameters };
      },
      leave: async () => {
        this.#requireRoom();
        this.#leave();
        return {};
      },
    };
  }

  #leave(): void {
    if (this.#room && this.#peerId) this.#room.leave(this.#peerId);
    this.#forget();
  }

  /** Keeps the peer's place for a reconnect; the room removes it after a grace period. */
  #detach(): void {
    if (this.#room && this.#peerId) this.#room.detach(this.#peerId);
    this.#forget();
  }

  #forget(): void {
    this.#room = undefined;
    this.#peerId = undefined;
    delete this.#socket.data.roomId;
    delete this.#socket.data.peerId;
  }

  /**
   * The connection is gone. A deliberate close (ours or the client's) ends the peer at
   * once; a network drop only detaches it, so a quick reconnect keeps its place.
   */
  close(reason?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#iceRefresh);
    if (reason && deliberateDisconnects.has(reason)) this.#leave();
    else this.#detach();
  }
}
