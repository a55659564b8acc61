import { randomUUID } from 'node:crypto';
import type { types } from 'mediasoup';
import type { z } from 'zod';
import type { ClusterNode } from '../cluster/ClusterNode.ts';
import type { JoinRoute } from '../cluster/clusterRecords.ts';
import type { RemoteSession } from '../cluster/RemoteSession.ts';
import type { Logger } from '../logging/createLogger.ts';
import type { Room } from '../media/Room.ts';
import type { RoomRegistry } from '../media/RoomRegistry.ts';
import {
  type Ack,
  type ErrorCode,
  type IceServer,
  type RequestName,
  type Responses,
  requestSchemas,
  type ServerToClientEvents,
} from '../protocol/protocol.ts';
import type { MediaMetrics } from '../stats/MediaMetrics.ts';
import type { ClientLink } from './ClientLink.ts';
import type { PeerSessions, PlaceHolder } from './PeerSessions.ts';
import { SignalingError } from './SignalingError.ts';
import type { SignalingLimits } from './SignalingLimits.ts';
import { type JoinAnswer, joinAnswer } from './wire.ts';
import { toWireError } from './wireErrors.ts';

export type ClientSessionOptions = {
  link: ClientLink;
  /** In a cluster: where rooms live, and the relay to the other nodes. */
  cluster?: ClusterNode;
  rooms: RoomRegistry;
  sessions: PeerSessions;
  routerRtpCapabilities: types.RtpCapabilities;
  /** ICE servers for one peer, and when they should be refreshed (ms from now), if ever. */
  iceServers: (peerId: string) => { iceServers: IceServer[]; refreshInMs?: number };
  iceTransportPolicy: 'all' | 'relay';
  limits: SignalingLimits;
  /** Counts what the signaling sees of media recovery (ICE restarts, rejoins). */
  metrics?: Pick<MediaMetrics, 'iceRestarted' | 'rejoined'>;
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

function failure(code: ErrorCode, message: string): Ack<never> {
  return { ok: false, error: { code, message } };
}

/** Requests queued on one socket before further ones are refused outright. */
const MAX_PENDING_REQUESTS = 32;

const deliberateDisconnects = new Set([
  'server namespace disconnect',
  'client namespace disconnect',
  'server shutting down',
]);

/**
 * One client's signaling: validates every request, runs them one at a time (so a
 * client cannot race its own join against itself) and answers each with one ack. In a
 * cluster, a join for a room on another node turns the session into a relay to it
 * until the place ends.
 */
export class ClientSession implements PlaceHolder {
  readonly #link: ClientLink;
  readonly #options: ClientSessionOptions;
  readonly #logger: Logger;
  readonly #handlers: Handlers;
  /** The place this session holds, while PeerSessions says it does. */
  #place: { room: Room; peerId: string } | undefined;
  /** The place lives on another node: every request goes there. */
  #relay: RemoteSession | undefined;
  /** Why this session's join runs on the node it runs on (see JoinRoute). */
  #route: JoinRoute = 'claim';
  #queue: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #iceRefresh: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Room events for this client held until its join ack is out, so they never precede it. */
  #held: Array<() => void> | undefined;
  #closed = false;

  constructor(options: ClientSessionOptions) {
    this.#options = options;
    this.#link = options.link;
    this.#logger = options.logger;
    this.#handlers = this.#makeHandlers();
    this.#idleFrom();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get ip(): string {
    return this.#link.ip;
  }

  /** A request in flight or queued: the client is doing something. */
  get busy(): boolean {
    return this.#pending > 0;
  }

  /** One request; resolves with its one ack (never rejects). */
  request(name: RequestName, payload: unknown): Promise<Ack<unknown>> {
    if (this.#pending >= MAX_PENDING_REQUESTS) {
      return Promise.resolve(failure('RATE_LIMITED', 'too many requests in flight, slow down'));
    }
    this.#pending += 1;
    const run = async (): Promise<Ack<unknown>> => {
      const parsed = requestSchemas[name].safeParse(payload ?? {});
      if (!parsed.success) {
        const message = `${name}: ${describeValidationError(parsed.error)}`;
        return failure('BAD_REQUEST', message);
      }
      if (name !== 'join') return (await this.#attempt(name, parsed.data, payload, false)).ack;
      const first = await this.#attempt(name, parsed.data, payload, true);
      // The place its resume token named is gone: a fresh join, placed as any other.
      const { ack, route } = first;
      if (route !== 'resume' || ack.ok || ack.error.code !== 'NOT_FOUND') return ack;
      return (await this.#attempt(name, parsed.data, payload, false)).ack;
    };
    return this.#options.limits.allowMessage(this.#link.id).then((allowed) => {
      if (!allowed) {
        this.#pending -= 1;
        return failure('RATE_LIMITED', 'too many requests, slow down');
      }
      const result = this.#queue.then(run);
      this.#queue = result.catch(() => {});
      return result.then((response) => {
        this.#pending -= 1;
        // The caller sends the ack now; what was held goes right after it.
        setImmediate(() => this.#release());
        return response;
      });
    });
  }

  /**
   * Runs one validated request here or over the relay: its ack (never a rejection), and
   * the route a join took.
   */
  async #attempt(
    name: RequestName,
    data: unknown,
    payload: unknown,
    useResumeHint: boolean,
  ): Promise<{ ack: Ack<unknown>; route: JoinRoute }> {
    let route: JoinRoute = 'claim';
    try {
      const relay =
        this.#relay ??
        (name === 'join'
          ? await this.#relayFor(data as z.output<(typeof requestSchemas)['join']>, useResumeHint)
          : undefined);
      route = this.#route;
      if (relay) return { ack: await this.#viaRelay(relay, name, payload ?? {}), route };
      const handler = this.#handlers[name] as (p: unknown) => Promise<unknown>;
      return { ack: { ok: true, data: await handler(data) }, route };
    } catch (error) {
      const { internal, ...wire } = toWireError(error);
      if (internal) {
        this.#logger.error('request failed', {
          event: name,
          peer: this.#place?.peerId,
          error: (error as Error)?.message,
          stack: (error as Error)?.stack,
        });
      }
      return { ack: { ok: false, error: wire }, route };
    }
  }

  /**
   * A relay to the node this join goes to, if that is another one: the node of the
   * place a resume token names, else the one the room's node places new people on.
   */
  async #relayFor(
    join: { roomId: string; e2ee: boolean; resume?: { token: string } | undefined },
    useResumeHint: boolean,
  ): Promise<RemoteSession | undefined> {
    const { cluster } = this.#options;
    if (!cluster || this.#link.relayed || this.#place) return undefined;
    const hinted = useResumeHint && join.resume && nodeOfResumeToken(join.resume.token);
    let target: string;
    if (hinted && cluster.isAlive(hinted)) {
      // Unchecked (the client wrote it): there, only taking that place back may succeed.
      target = hinted;
      this.#route = 'resume';
    } else {
      const home = await cluster.route(join.roomId, true);
      target = await cluster.spans.place(join.roomId, home, join.e2ee);
      this.#route = target === home ? 'claim' : 'placed';
    }
    if (target === cluster.nodeId) return undefined;
    const relay = cluster.openRemote(target, this.ip, this.#route);
    relay.on('event', (event, args) => {
      this.deliver(event, ...(args as Parameters<ServerToClientEvents[typeof event]>));
    });
    relay.on('gone', () => this.#unrelay());
    relay.on('ownerLost', () => {
      this.#link.emit('mediaReset');
      this.#unrelay();
    });
    relay.on('drop', () => {
      this.#unrelay();
      this.#link.disconnect();
    });
    relay.on('resync', () => this.handOff());
    this.#relay = relay;
    return relay;
  }

  async #viaRelay(
    relay: RemoteSession,
    name: RequestName,
    payload: unknown,
  ): Promise<Ack<unknown>> {
    const joining = name === 'join';
    if (joining) {
      this.#held = [];
      clearTimeout(this.#idleTimer);
    }
    const ack = await relay.request(name, payload);
    if (joining) {
      if (ack.ok) {
        const { roomId } = payload as { roomId: string };
        this.#link.setPlace({ roomId, peerId: (ack.data as { peerId: string }).peerId });
        if (this.#closed) relay.close('transport close');
      } else {
        relay.close('client namespace disconnect');
        this.#unrelay();
      }
    }
    return ack;
  }

  /** Back to this node: the place on the other one ended. */
  #unrelay(): void {
    if (!this.#relay) return;
    this.#relay = undefined;
    this.#route = 'claim';
    this.#link.setPlace(undefined);
    this.#idleFrom();
  }

  /**
   * The client reconnects (through whichever node) and takes its place back, which gives
   * it the whole state again: after relay messages may have been lost, or when this node
   * goes away. A place on another node is kept: this is a drop, not a hang-up.
   */
  handOff(): void {
    const relay = this.#relay;
    this.#relay = undefined;
    relay?.close('transport close');
    this.#link.disconnect();
  }

  /** Current ICE servers; schedules the push of fresh ones before these expire. */
  #iceServers(peerId: string): IceServer[] {
    const { iceServers, refreshInMs } = this.#options.iceServers(peerId);
    clearTimeout(this.#iceRefresh);
    if (refreshInMs !== undefined) {
      this.#iceRefresh = setTimeout(() => {
        if (this.#place?.peerId === peerId && !this.#closed) {
          this.#link.emit('iceServers', { iceServers: this.#iceServers(peerId) });
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
    if (held && (this.#place || this.#relay)) for (const send of held) send();
  }

  deliver<E extends keyof ServerToClientEvents>(
    event: E,
    ...args: Parameters<ServerToClientEvents[E]>
  ): void {
    const send = () => this.#link.emit(event, ...args);
    if (this.#held) this.#held.push(send);
    else send();
  }

  displaced(): void {
    this.#logger.info('place taken over by a newer connection', {
      peer: this.#place?.peerId,
      socket: this.#link.id,
    });
    this.#forget();
    // The old socket is stale (the client moved on); closing it frees its resources.
    this.#link.disconnect();
  }

  placeGone(): void {
    this.#forget();
  }

  #requireRoom(): { room: Room; peerId: string } {
    const place = this.#place;
    if (!place || !this.#options.sessions.holds(place.peerId, this)) {
      throw new SignalingError('NOT_IN_ROOM', 'join a room first');
    }
    return place;
  }

  #makeHandlers(): Handlers {
    return {
      capabilities: async () => ({ routerRtpCapabilities: this.#options.routerRtpCapabilities }),
      join: async ({ roomId, nickname, rtpCapabilities, resume, e2ee, muted }) => {
        const requestedAt = Date.now();
        if (this.#place)
          throw new SignalingError('ALREADY_JOINED', 'already in a room; leave first');
        this.#held = [];
        // A join in progress is not idleness, however long its transports take.
        clearTimeout(this.#idleTimer);
        let answer: JoinAnswer;
        try {
          const resumed = resume && this.#resume(roomId, resume, e2ee);
          if (resume) this.#options.metrics?.rejoined(resumed ? 'resumed' : 'fresh');
          answer =
            resumed ||
            (await this.#join(roomId, nickname, rtpCapabilities as types.RtpCapabilities, {
              e2ee,
              muted,
              requestedAt,
            }));
        } catch (error) {
          this.#idleFrom();
          throw error;
        }
        this.#link.setPlace({ roomId, peerId: answer.peerId });
        // The socket may have gone while we were creating transports.
        if (this.#closed) this.#detach();
        return {
          ...answer,
          iceServers: this.#iceServers(answer.peerId),
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
        this.#options.metrics?.iceRestarted();
        return { iceParameters };
      },
      leave: async () => {
        this.#requireRoom();
        this.#leave();
        return {};
      },
    };
  }

  /** Takes back a place after a dropped connection; undefined if it is gone. */
  #resume(
    roomId: string,
    resume: { peerId: string; token: string },
    e2ee: boolean,
  ): JoinAnswer | undefined {
    const room = this.#options.rooms.get(roomId);
    // A mismatch goes on to a fresh join, which refuses it with the reason.
    if (!room || room.encrypted !== e2ee) return undefined;
    try {
      const { peer, others } = room.resume(resume.peerId, resume.token);
      this.#hold(room, peer.id);
      return joinAnswer(room, { peer, others, consumers: peer.consumers.values() }, true);
    } catch {
      // The place is gone (grace expired, room closed): a fresh join instead.
      return undefined;
    }
  }

  async #join(
    roomId: string,
    nickname: string,
    rtpCapabilities: types.RtpCapabilities,
    { e2ee, muted, requestedAt }: { e2ee: boolean; muted: boolean; requestedAt: number },
  ): Promise<JoinAnswer> {
    const { rooms, limits, sessions, cluster } = this.#options;
    // Relayed here, or routed here by #relayFor: either way this confirms the claim,
    // unless the room's node sent it here to a part of the room it does not own.
    const route = this.#link.relayed ? this.#link.route : this.#route;
    if (route === 'resume') {
      // A resume token took this join here, and its place is gone: the edge places it anew.
      throw new SignalingError('NOT_FOUND', 'that place in the room is gone; join again');
    }
    const placed = route === 'placed';
    if (cluster && !placed) await cluster.route(roomId, false);
    // A part of a room spanning nodes is no new room to the person joining it.
    await limits.checkJoin(this.ip, { createsRoom: !placed && !rooms.get(roomId) });
    // Claimed before the peer exists, so no event for it can be missed.
    const peerId = randomUUID();
    sessions.claim(peerId, this);
    try {
      const { room, joined } = await rooms.join(roomId, {
        peerId,
        nickname,
        ip: this.ip,
        rtpCapabilities,
        e2ee,
        muted,
        requestedAt,
      });
      this.#place = { room, peerId };
      return joinAnswer(room, joined, false);
    } catch (error) {
      sessions.release(peerId, this);
      throw error;
    }
  }

  #hold(room: Room, peerId: string): void {
    this.#options.sessions.claim(peerId, this);
    this.#place = { room, peerId };
  }

  #leave(): void {
    const place = this.#place;
    if (place && this.#options.sessions.release(place.peerId, this)) {
      place.room.leave(place.peerId);
    }
    this.#forget();
  }

  /** Keeps the peer's place for a reconnect; the room removes it after a grace period. */
  #detach(): void {
    const place = this.#place;
    if (place && this.#options.sessions.release(place.peerId, this)) {
      place.room.detach(place.peerId);
    }
    this.#forget();
  }

  #forget(): void {
    this.#place = undefined;
    this.#route = 'claim';
    this.#link.setPlace(undefined);
    this.#idleFrom();
  }

  /**
   * A socket out of a room holds server resources for nothing: it is closed after
   * SOCKET_IDLE_MS, counted from connect and again from each time it leaves a place.
   */
  #idleFrom(): void {
    clearTimeout(this.#idleTimer);
    if (this.#closed) return;
    this.#idleTimer = setTimeout(() => {
      this.#logger.debug('idle socket closed', { ip: this.ip, socket: this.#link.id });
      this.#link.disconnect();
    }, this.#options.limits.settings.socketIdleMs);
    this.#idleTimer.unref();
  }

  /**
   * The connection is gone. A deliberate close (ours or the client's) ends the peer at
   * once; a network drop only detaches it, so a quick reconnect keeps its place.
   */
  close(reason?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#iceRefresh);
    clearTimeout(this.#idleTimer);
    const deliberate = reason !== undefined && deliberateDisconnects.has(reason);
    const relay = this.#relay;
    this.#relay = undefined;
    relay?.close(deliberate ? 'client namespace disconnect' : 'transport close');
    if (deliberate) this.#leave();
    else this.#detach();
  }
}

/** In a cluster a resume token starts with its node's id and a dot (see RoomOptions). */
function nodeOfResumeToken(token: string): string | undefined {
  const dot = token.lastIndexOf('.');
  return dot > 0 ? token.slice(0, dot) : undefined;
}
