import type { Device } from 'mediasoup-client';
import type { Consumer, Producer, Transport } from 'mediasoup-client/types';
import type {
  ConsumerInfo,
  IceServer,
  PeerInfo,
  Request,
  Responses,
  ServerToClientEvents,
  TransportInfo,
} from '../../src/protocol/protocol.ts';
import {
  type E2eeWorker,
  e2eeTransportSettings,
  type StreamStats,
} from './e2ee/frameTransforms.ts';
import { Emitter } from './emitter.ts';
import { TransportLink } from './media/transportLink.ts';
import { errorMessage } from './messages.ts';
import { type RequestTiming, roundTrips } from './requestLog.ts';
import { RequestError, type Signaling } from './signaling.ts';

/** About a minute and a half of SERVER_BUSY answers before a rejoin gives up. */
const REJOIN_ATTEMPTS = 20;
const RETRYABLE: ReadonlySet<string> = new Set(['SERVER_BUSY', 'TIMEOUT']);

export type CallState =
  | { kind: 'joining' }
  | { kind: 'joined' }
  | { kind: 'reconnecting'; attempt: number }
  | { kind: 'left' }
  | { kind: 'failed'; message: string; title?: string };

export type Participant = PeerInfo & { self: boolean };

/** How long a join took, from the click to sending and receiving set up. */
export type JoinMetrics = { ms: number; requests: number; roundTrips: number };

type CallEvents = {
  state: [CallState];
  /** Someone joined, left or (un)muted. */
  roster: [];
  peerJoined: [PeerInfo];
  peerLeft: [PeerInfo];
  /** Someone else muted or unmuted (the roster follows). */
  peerMuted: [PeerInfo];
  speaking: [ReadonlySet<string>];
  remoteAudio: [peerId: string, track: MediaStreamTrack];
  remoteAudioEnded: [peerId: string];
  /** Something failed that does not end the call; the message is for people. */
  problem: [message: string];
  /**
   * Someone's audio arrives but none of it decrypts: their key (their link) differs
   * from ours. Their frames are dropped, so nobody hears noise.
   */
  keyMismatch: [peerId: string];
  joined: [JoinMetrics];
  /** The encryption worker's counters changed (about every second): `e2eeStats`. */
  e2eeStats: [streams: readonly StreamStats[]];
};

export type CallOptions = {
  signaling: Signaling;
  device: Device;
  roomId: string;
  nickname: string;
  mic: MediaStreamTrack;
  muted?: boolean;
  /**
   * An end-to-end encrypted room: the key from the link's fragment (never sent to the
   * server) and the worker that encrypts and decrypts the frames with it.
   */
  e2ee?: { roomKey: string; worker: E2eeWorker };
};

/** Frames of someone's that fail to decrypt, none passing, before we say the keys differ. */
const MISMATCH_AFTER_FRAMES = 25;

type JoinData = Responses['join'];

export const MEDIA_FAILED_TITLE = 'Could not connect audio';
export const MEDIA_FAILED_MESSAGE =
  'Could not connect audio. If you are behind a strict firewall the relay (TURN) may be unreachable or refusing credentials.';

// Speech: mono, in-band FEC for lossy links, DTX so silence costs (almost) nothing.
const OPUS_OPTIONS = { opusDtx: true, opusFec: true, opusStereo: false, opusPtime: 20 };

/**
 * One person's presence in one room: the mediasoup-client side of the protocol in
 * `src/protocol/protocol.ts`. When signaling drops, media keeps flowing and the
 * call takes its place back with the resume token; if that place is gone, it joins
 * the same room afresh with the same nickname.
 */
export class Call extends Emitter<CallEvents> {
  readonly roomId: string;
  readonly nickname: string;
  selfId: string | undefined;
  muted: boolean;
  state: CallState = { kind: 'joining' };
  speaking: ReadonlySet<string> = new Set();

  readonly #signaling: Signaling;
  readonly #device: Device;
  readonly #e2ee: CallOptions['e2ee'];
  /** Peers whose frames we could not decrypt at all, told once each. */
  readonly #mismatched = new Set<string>();
  /** The encryption worker's latest counters, per stream (for the stats panel and tests). */
  e2eeStats: StreamStats[] = [];
  #mic: MediaStreamTrack;
  readonly #peers = new Map<string, PeerInfo>();
  #selfInfo: PeerInfo | undefined;
  #resumeToken: string | undefined;
  #send: TransportLink | undefined;
  #recv: TransportLink | undefined;
  #producer: Producer | undefined;
  /** The server closed our producer (it sent too much): the place is complete without one. */
  #producerClosedByServer = false;
  readonly #consumers = new Map<string, Consumer>();
  /** Bumped whenever media is dropped, so async work of an older attempt stops. */
  #generation = 0;
  /** Mute changed while the server could not be told: tell it after resuming. */
  #muteUnsent = false;
  /** What the last join told the server about mute (it makes the producer so). */
  #mutedAtJoin = false;
  readonly #unsubscribe: (() => void)[] = [];
  /** Which request each next one waited for: counts a join's round trips. */
  #joinTiming: RequestTiming | undefined;
  /** Set by a `kicked` notice, shown when the server then closes the socket. */
  #kickedFor: string | undefined;
  /**
   * Room news that arrives while our join is unanswered (the server may tell us about
   * someone who joined right after us before it answers): applied once we are in.
   */
  #early: (() => void)[] | undefined;
  /** The last ICE server error (e.g. TURN 401), for the message if media cannot connect. */
  #lastIceError: string | undefined;

  constructor(options: CallOptions) {
    super();
    this.#signaling = options.signaling;
    this.#device = options.device;
    this.roomId = options.roomId;
    this.nickname = options.nickname;
    this.#mic = options.mic;
    this.muted = options.muted ?? false;
    this.#e2ee = options.e2ee;
    this.#e2ee?.worker.on('stats', (streams) => this.#onE2eeStats(streams));
    this.#e2ee?.worker.on('error', (message) =>
      this.#problem('Encryption stopped working: audio is not sent or heard', message),
    );
    this.#listen();
  }

  /** End-to-end encrypted: what is said never reaches the server in the clear. */
  get encrypted(): boolean {
    return this.#e2ee !== undefined;
  }

  #onE2eeStats(streams: StreamStats[]): void {
    this.e2eeStats = streams;
    this.emit('e2eeStats', streams);
    for (const s of streams) {
      if (s.operation !== 'decrypt' || s.frames > 0 || s.failed < MISMATCH_AFTER_FRAMES) continue;
      if (this.#mismatched.has(s.senderId) || !this.#peers.has(s.senderId)) continue;
      this.#mismatched.add(s.senderId);
      this.emit('keyMismatch', s.senderId);
    }
  }

  get mic(): MediaStreamTrack {
    return this.#mic;
  }

  get transports(): { send?: Transport; recv?: Transport } {
    return { send: this.#send?.transport, recv: this.#recv?.transport };
  }

  /** You first, then everyone else in the order they arrived. */
  participants(): Participant[] {
    const self = this.#selfInfo ?? { id: 'self', nickname: this.nickname, muted: this.muted };
    return [
      { ...self, muted: this.muted, self: true },
      ...[...this.#peers.values()].map((p) => ({ ...p, self: false })),
    ];
  }

  /**
   * Joins (or, after a dropped connection, takes the old place back); rejects with the
   * server's or the network's error. `since` is the click time, for the join metrics.
   */
  async join(since = performance.now()): Promise<void> {
    const resume = this.#resumable();
    if (!resume) this.#dropMedia();
    let mine = ++this.#generation;
    this.#setState(this.state.kind === 'reconnecting' ? this.state : { kind: 'joining' });
    const early: (() => void)[] = [];
    this.#early = early;
    try {
      this.#mutedAtJoin = this.muted;
      const join = this.#signaling.track('join', {
        roomId: this.roomId,
        nickname: this.nickname,
        rtpCapabilities: this.#device.rtpCapabilities as Request<'join'>['rtpCapabilities'],
        e2ee: this.encrypted,
        // Muted from the start: the server makes the producer paused, no setMuted after.
        muted: this.muted,
        ...(resume ? { resume } : {}),
      });
      this.#joinTiming = join.timing;
      const data = await join.response;
      if (mine !== this.#generation) return;
      if (resume && data.resumed) {
        const back = this.#takeBack(data, mine); // in the room once this returns
        this.#replayEarly(early);
        return await back;
      }
      if (resume) {
        // The old place was gone: the server gave us a new one, with new transports.
        this.#dropMedia();
        mine = this.#generation;
      }
      this.#enterRoom(data);
      this.#replayEarly(early);
      await Promise.all([this.#produce(mine), this.#consume(data.consumers, mine)]);
    } catch (error) {
      // A newer attempt (after a reconnect) owns the outcome now.
      if (mine !== this.#generation || this.#isOver()) return;
      throw error;
    } finally {
      if (this.#early === early) this.#early = undefined;
    }
    if (mine !== this.#generation) return;
    const requests = this.#signaling.log.since(since);
    this.emit('joined', {
      ms: Math.round(performance.now() - since),
      requests: requests.length,
      roundTrips: roundTrips(requests),
    });
  }

  setMuted(muted: boolean): void {
    if (this.muted === muted || this.#isOver()) return;
    this.muted = muted;
    if (this.#producer) {
      if (muted) this.#producer.pause();
      else this.#producer.resume();
    } else {
      this.#mic.enabled = !muted;
    }
    if (this.#producerSetUp() && this.#signaling.connected && this.state.kind === 'joined') {
      this.#signaling.request('setMuted', { muted }).catch((error: unknown) => {
        this.#muteUnsent = true;
        this.#problem('Could not tell the others about mute', error);
      });
    } else {
      this.#muteUnsent = true;
    }
    this.emit('roster');
  }

  /** Switches microphones without renegotiating. */
  async replaceMic(track: MediaStreamTrack): Promise<void> {
    const old = this.#mic;
    this.#mic = track;
    track.enabled = !this.muted;
    await this.#producer?.replaceTrack({ track });
    if (old !== track) old.stop();
  }

  async leave(): Promise<void> {
    if (this.#isOver()) return;
    if (this.#signaling.connected && this.selfId) {
      // Best effort: if it is lost the server drops the place after its grace period.
      this.#signaling.request('leave', {}).catch(() => undefined);
    }
    this.#dropMedia();
    this.#stop();
    this.#setState({ kind: 'left' });
  }

  /** The first join failed: release everything (the caller shows why). */
  abandon(): void {
    this.#dropMedia();
    this.#stop();
  }

  // --- joining ---------------------------------------------------------------

  #replayEarly(early: (() => void)[]): void {
    if (this.#early !== early) return;
    this.#early = undefined;
    for (const apply of early) apply();
  }

  /** The old place can be taken back only if it was fully set up here. */
  #resumable(): { peerId: string; token: string } | undefined {
    const complete = this.#producerSetUp() && !this.#send?.closed && !this.#recv?.closed;
    if (!complete || !this.selfId || !this.#resumeToken) return undefined;
    return { peerId: this.selfId, token: this.#resumeToken };
  }

  #enterRoom(data: JoinData): void {
    this.selfId = data.peerId;
    this.#resumeToken = data.resumeToken;
    this.#selfInfo = data.peers.find((p) => p.id === data.peerId) ?? {
      id: data.peerId,
      nickname: this.nickname.trim(),
      muted: this.muted,
    };
    this.#peers.clear();
    for (const peer of data.peers) if (peer.id !== data.peerId) this.#peers.set(peer.id, peer);
    const common = {
      iceServers: data.iceServers as RTCIceServer[],
      iceTransportPolicy: data.iceTransportPolicy,
      // Chromium's insertable streams must be asked for when the connection is made.
      ...(this.#e2ee
        ? { additionalSettings: e2eeTransportSettings(this.#e2ee.worker.support) }
        : {}),
    };
    this.#send = this.#link(
      this.#device.createSendTransport({ ...transportOptions(data.sendTransport), ...common }),
    );
    this.#recv = this.#link(
      this.#device.createRecvTransport({ ...transportOptions(data.recvTransport), ...common }),
    );
    this.#setState({ kind: 'joined' });
    this.emit('roster');
  }

  /** Same place, same transports: catch up with what happened while we were away. */
  async #takeBack(data: JoinData, generation: number): Promise<void> {
    this.#resumeToken = data.resumeToken;
    const before = new Map(this.#peers);
    this.#peers.clear();
    for (const peer of data.peers) if (peer.id !== data.peerId) this.#peers.set(peer.id, peer);
    for (const [id, peer] of before) if (!this.#peers.has(id)) this.#forgetPeer(peer);
    for (const [id, peer] of this.#peers) if (!before.has(id)) this.emit('peerJoined', peer);

    const listed = new Set(data.consumers.map((c) => c.id));
    for (const consumer of [...this.#consumers.values()]) {
      if (!listed.has(consumer.id)) this.#closeConsumer(consumer);
    }
    this.#updateIceServers(data.iceServers);
    this.#send?.recheck();
    this.#recv?.recheck();
    this.#setState({ kind: 'joined' });
    this.emit('roster');
    if (this.#muteUnsent) {
      this.#muteUnsent = false;
      this.#signaling
        .request('setMuted', { muted: this.muted })
        .catch((error: unknown) => this.#problem('Could not tell the others about mute', error));
    }
    // Talkers who started while we were away: their consumers wait, paused.
    await this.#consume(
      data.consumers.filter((c) => !this.#consumers.has(c.id)),
      generation,
    );
  }

  #link(transport: Transport): TransportLink {
    const link = new TransportLink({
      transport,
      signaling: this.#signaling,
      joinTiming: () => this.#joinTiming,
      iceErrorSeen: () => this.#lastIceError !== undefined,
    });
    link.on('iceError', (detail) => {
      this.#lastIceError = detail;
    });
    link.on('unreachable', () => this.#mediaFailed());
    link.on('broken', (error) => {
      this.#problem('The audio connection failed; rejoining', error);
      this.#signaling.request('leave', {}).catch(() => undefined);
      this.#dropMedia();
      this.#setState({ kind: 'reconnecting', attempt: 1 });
      this.#rejoin();
    });
    return link;
  }

  async #produce(generation: number): Promise<void> {
    const send = this.#send;
    if (!send) return;
    // Muted people send silence from the first packet, not a blip of sound.
    this.#mic.enabled = !this.muted;
    const e2ee = this.#e2ee;
    const selfId = this.selfId;
    const producer = await send.transport.produce({
      track: this.#mic,
      codecOptions: OPUS_OPTIONS,
      stopTracks: false,
      // Before the first frame leaves: each sender's key is derived from its peer id.
      ...(e2ee && selfId
        ? {
            onRtpSender: (sender: RTCRtpSender) =>
              e2ee.worker.attachSender(sender, selfId, e2ee.roomKey, `send-${selfId}`),
          }
        : {}),
    });
    if (generation !== this.#generation) {
      producer.close();
      return;
    }
    this.#producer = producer;
    producer.on('trackended', () =>
      this.emit('problem', 'Your microphone stopped. Pick another one under Devices.'),
    );
    if (this.muted) producer.pause();
    // Changed while joining: the join said otherwise.
    if (this.muted !== this.#mutedAtJoin) {
      await this.#signaling.request('setMuted', { muted: this.muted }, send.produceTiming);
    }
  }

  /** All consumers in parallel (mediasoup-client batches them), then one resume. */
  async #consume(infos: readonly ConsumerInfo[], generation: number): Promise<void> {
    const recv = this.#recv;
    if (!recv || infos.length === 0) return;
    const e2ee = this.#e2ee;
    const results = await Promise.allSettled(
      infos.map((info) =>
        recv.transport.consume({
          id: info.id,
          producerId: info.producerId,
          kind: info.kind,
          rtpParameters: info.rtpParameters as Parameters<Transport['consume']>[0]['rtpParameters'],
          appData: { peerId: info.peerId },
          ...(e2ee
            ? {
                onRtpReceiver: (receiver: RTCRtpReceiver) =>
                  e2ee.worker.attachReceiver(receiver, info.peerId, e2ee.roomKey, info.id),
              }
            : {}),
        }),
      ),
    );
    if (generation !== this.#generation) return;
    const consumers: Consumer[] = [];
    for (const result of results) {
      if (result.status === 'fulfilled') consumers.push(result.value);
      else this.#problem("Could not receive someone's audio", result.reason);
    }
    for (const consumer of consumers) {
      this.#consumers.set(consumer.id, consumer);
      // The <audio> element exists before the first packet arrives.
      this.emit('remoteAudio', consumer.appData.peerId as string, consumer.track);
    }
    if (consumers.length === 0) return;
    await this.#signaling.request(
      'resumeConsumers',
      { consumerIds: consumers.map((c) => c.id) },
      recv.pipelinedAfter ?? this.#joinTiming,
    );
  }

  /** Media cannot connect at all: say so and stop, rather than sit in a silent room. */
  #mediaFailed(): void {
    if (this.#isOver()) return;
    const detail = this.#lastIceError ? ` (Relay error: ${this.#lastIceError}.)` : '';
    if (this.#signaling.connected) this.#signaling.request('leave', {}).catch(() => undefined);
    this.#dropMedia();
    this.#stop();
    this.#setState({
      kind: 'failed',
      title: MEDIA_FAILED_TITLE,
      message: `${MEDIA_FAILED_MESSAGE}${detail} Check your network, then press Rejoin.`,
    });
  }

  #updateIceServers(iceServers: IceServer[]): void {
    this.#send?.updateIceServers(iceServers);
    this.#recv?.updateIceServers(iceServers);
  }

  // --- server events ---------------------------------------------------------

  #listen(): void {
    const socket = this.#signaling.socket;
    const on = <E extends keyof ServerToClientEvents>(event: E, fn: ServerToClientEvents[E]) => {
      // socket.io's listener typing needs the cast for a generic event name.
      socket.on(event, fn as never);
      this.#unsubscribe.push(() => socket.off(event, fn as never));
    };
    type RoomNews = 'peerJoined' | 'peerLeft' | 'peerMuted' | 'newConsumer' | 'consumerClosed';
    const onRoom = <E extends RoomNews>(event: E, fn: ServerToClientEvents[E]) => {
      const apply = fn as (...args: unknown[]) => void;
      on(event, ((...args: unknown[]) => {
        if (this.#early) this.#early.push(() => apply(...args));
        else apply(...args);
      }) as ServerToClientEvents[E]);
    };
    onRoom('peerJoined', (peer) => {
      if (!this.#inRoom() || peer.id === this.selfId) return;
      this.#peers.set(peer.id, peer);
      this.emit('peerJoined', peer);
      this.emit('roster');
    });
    onRoom('peerLeft', ({ peerId }) => {
      const peer = this.#peers.get(peerId);
      if (!this.#inRoom() || !peer) return;
      this.#peers.delete(peerId);
      this.#forgetPeer(peer);
      this.emit('roster');
    });
    onRoom('peerMuted', ({ peerId, muted }) => {
      const peer = this.#peers.get(peerId);
      if (!peer) return;
      const changed = peer.muted !== muted;
      peer.muted = muted;
      if (changed) this.emit('peerMuted', peer);
      this.emit('roster');
    });
    onRoom('newConsumer', (info) => {
      if (!this.#inRoom()) return;
      this.#consume([info], this.#generation).catch((error: unknown) =>
        this.#problem("Could not receive someone's audio", error),
      );
    });
    onRoom('consumerClosed', ({ consumerId }) => {
      const consumer = this.#consumers.get(consumerId);
      if (consumer) this.#closeConsumer(consumer);
    });
    on('speaking', ({ peerIds }) => {
      this.speaking = new Set(peerIds);
      this.emit('speaking', this.speaking);
    });
    on('iceServers', ({ iceServers }) => this.#updateIceServers(iceServers));
    on('producerClosed', ({ reason }) => {
      const producer = this.#producer;
      if (!producer) return;
      // The rest of the call goes on: we still hear everyone, and they still see us.
      producer.close();
      this.#producer = undefined;
      this.#producerClosedByServer = true;
      this.emit('problem', `The server turned off your microphone: ${reason}`);
    });
    on('mediaReset', () => {
      // The server lost our media (worker restart): the socket is fine, join afresh.
      if (this.#isOver()) return;
      this.#dropMedia();
      this.#setState({ kind: 'reconnecting', attempt: 1 });
      this.#rejoin();
    });
    on('kicked', ({ reason }) => {
      this.#kickedFor = reason;
      // An operator's kick closes the socket next; the server's join timeout does not.
      const generation = this.#generation;
      window.setTimeout(() => {
        if (this.#isOver() || !this.#signaling.connected) return;
        if (generation !== this.#generation) return;
        this.#dropMedia();
        this.#stop();
        this.#setState({ kind: 'failed', message: `You were removed from the room: ${reason}` });
      }, 2_000);
    });
    on('serverShutdown', () => {
      this.emit('problem', 'The server is restarting. You will be reconnected.');
    });

    const onDisconnect = (reason: string) => {
      if (this.#isOver()) return;
      if (this.#kickedFor) {
        this.#dropMedia();
        this.#stop();
        this.#setState({
          kind: 'failed',
          message: `You were removed from the room: ${this.#kickedFor}`,
        });
        return;
      }
      // Media keeps flowing meanwhile; the place is taken back on reconnect.
      this.#setState({ kind: 'reconnecting', attempt: 1 });
      // socket.io retries by itself except after a deliberate server-side disconnect.
      if (reason === 'io server disconnect') socket.connect();
    };
    const onAttempt = (attempt: number) => {
      if (this.state.kind === 'reconnecting') this.#setState({ kind: 'reconnecting', attempt });
    };
    const onConnect = () => {
      if (this.state.kind === 'reconnecting') this.#rejoin();
    };
    socket.on('disconnect', onDisconnect);
    socket.io.on('reconnect_attempt', onAttempt);
    socket.on('connect', onConnect);
    this.#unsubscribe.push(
      () => socket.off('disconnect', onDisconnect),
      () => socket.io.off('reconnect_attempt', onAttempt),
      () => socket.off('connect', onConnect),
    );
  }

  #rejoin(attempt = 1): void {
    this.join().catch((error: unknown) => {
      if (this.state.kind !== 'reconnecting') return;
      if (error instanceof RequestError && error.code === 'DISCONNECTED') return; // next 'connect'
      // A busy, moving or unanswering server (a cluster node handing its rooms over or
      // just gone, Redis away) is temporary: keep trying, a little slower each time.
      const retryable = error instanceof RequestError && RETRYABLE.has(error.code);
      if (retryable && attempt < REJOIN_ATTEMPTS) {
        this.#setState({ kind: 'reconnecting', attempt: attempt + 1 });
        if ((error as RequestError).code === 'TIMEOUT') {
          // Silence on an open socket: its server may have vanished without a word (a
          // cluster node's host gone). A new connection reaches a live one; 'connect'
          // then rejoins.
          const socket = this.#signaling.socket;
          socket.disconnect();
          socket.connect();
          return;
        }
        const delay = Math.min(500 * 2 ** (attempt - 1), 5_000) * (0.75 + Math.random() / 2);
        window.setTimeout(() => {
          if (this.state.kind === 'reconnecting' && this.#signaling.connected)
            this.#rejoin(attempt + 1);
        }, delay);
        return;
      }
      console.error('Rejoining failed', error);
      this.#dropMedia();
      this.#stop();
      this.#setState({ kind: 'failed', message: errorMessage(error) });
    });
  }

  // --- teardown --------------------------------------------------------------

  #forgetPeer(peer: PeerInfo): void {
    for (const consumer of [...this.#consumers.values()]) {
      if (consumer.appData.peerId === peer.id) this.#closeConsumer(consumer);
    }
    this.emit('peerLeft', peer);
  }

  #closeConsumer(consumer: Consumer): void {
    consumer.close();
    this.#consumers.delete(consumer.id);
    this.emit('remoteAudioEnded', consumer.appData.peerId as string);
  }

  /** Drops the media session (transports, producer, consumers) but keeps the microphone. */
  #dropMedia(): void {
    this.#generation++;
    this.#lastIceError = undefined;
    for (const consumer of [...this.#consumers.values()]) this.#closeConsumer(consumer);
    this.#send?.close();
    this.#recv?.close();
    this.#send = this.#recv = this.#producer = undefined;
    this.#producerClosedByServer = false;
    this.#resumeToken = undefined;
    this.#peers.clear();
    this.speaking = new Set();
    this.emit('speaking', this.speaking);
    this.emit('roster');
  }

  /** The call is over for good: release the microphone and the socket listeners. */
  #stop(): void {
    this.#mic.stop();
    this.#e2ee?.worker.close();
    for (const off of this.#unsubscribe.splice(0)) off();
  }

  /** Our producer exists, or did until the server closed it. */
  #producerSetUp(): boolean {
    return this.#producer !== undefined || this.#producerClosedByServer;
  }

  #inRoom(): boolean {
    return this.state.kind === 'joined';
  }

  #isOver(): boolean {
    return this.state.kind === 'left' || this.state.kind === 'failed';
  }

  #setState(state: CallState): void {
    this.state = state;
    this.emit('state', state);
  }

  /** `what` is for people; the error itself goes to the console. */
  #problem(what: string, error: unknown): void {
    console.error(what, error);
    this.emit('problem', `${what}.`);
  }
}

function transportOptions(info: TransportInfo) {
  type Options = Parameters<Device['createSendTransport']>[0];
  return {
    id: info.id,
    iceParameters: info.iceParameters,
    iceCandidates: info.iceCandidates as Options['iceCandidates'],
    dtlsParameters: info.dtlsParameters as Options['dtlsParameters'],
  };
}
