import type { Transport } from 'mediasoup-client/types';
import type { IceServer, Request } from '../../../src/protocol/protocol.ts';
import { Emitter } from '../emitter.ts';
import type { RequestTiming } from '../requestLog.ts';
import type { Signaling } from '../signaling.ts';

/**
 * A transport that started connecting (or restarted ICE) and is not connected after
 * this long is given up on. Relayed ICE over TCP TURN takes a few seconds at worst;
 * without a deadline a refused or unreachable relay would leave the page hanging.
 */
export const MEDIA_CONNECT_TIMEOUT_MS = 20_000;

/**
 * A transport that was connected and loses its path (ICE `disconnected`, which Chromium
 * reports ~5 s after answers stop, or `failed`) gets an ICE restart after this grace
 * (it may come back by itself meanwhile), then another after each of these waits while
 * it stays down, and only then a full rejoin. A path that never connected gets one.
 */
const ICE_DISCONNECTED_GRACE_MS = 2_000;
const ICE_RESTART_RETRY_MS = [3_000, 5_000, 8_000, 8_000];

type TransportLinkEvents = {
  /** An ICE server refused or did not answer (e.g. TURN 401): for the failure message. */
  iceError: [detail: string];
  /** No path can work (the relay, typically): the call should stop and say so. */
  unreachable: [];
  /** The path is down and ICE restarts cannot bring it back: only a fresh join can. */
  broken: [error: unknown];
};

export type TransportLinkOptions = {
  transport: Transport;
  signaling: Signaling;
  /** The request the transport's connect waits for (the join that made it), for join metrics. */
  joinTiming(): RequestTiming | undefined;
  /** Whether any transport of the call saw an ICE server error. */
  iceErrorSeen(): boolean;
};

/**
 * One mediasoup-client transport and what keeps its path up: the connect and produce
 * requests, the deadline to connect, and ICE restarts while a lost path stays down.
 */
export class TransportLink extends Emitter<TransportLinkEvents> {
  readonly transport: Transport;
  closed = false;
  /** Its connectTransport request. */
  connectTiming: RequestTiming | undefined;
  /**
   * What its connect waited for (the join): requests on this transport are pipelined
   * right behind the connect, since the server runs a client's requests in order.
   */
  pipelinedAfter: RequestTiming | undefined;
  /** Its last produce request. */
  produceTiming: RequestTiming | undefined;

  readonly #signaling: Signaling;
  readonly #iceErrorSeen: () => boolean;
  /** ICE was restarted and has not connected since. */
  #restarted = false;
  /** It was connected at some point: a lost path is retried. */
  #connectedOnce = false;
  /** The next ICE restart (or the check that the last one worked), and how many so far. */
  #restartTimer: number | undefined;
  #restarts = 0;
  /** Gives up if it is still not connected when this fires. */
  #connectDeadline: number | undefined;

  constructor(options: TransportLinkOptions) {
    super();
    this.transport = options.transport;
    this.#signaling = options.signaling;
    this.#iceErrorSeen = options.iceErrorSeen;
    this.#wire(options.joinTiming);
  }

  /** After signaling is back: a path that went down meanwhile gets its recovery now. */
  recheck(): void {
    const state = this.transport.connectionState;
    if (state === 'failed' || state === 'disconnected') this.#onPathLost(state);
  }

  updateIceServers(iceServers: IceServer[]): void {
    if (this.closed) return;
    this.transport
      .updateIceServers({ iceServers: iceServers as RTCIceServer[] })
      .catch(() => undefined);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    window.clearTimeout(this.#connectDeadline);
    window.clearTimeout(this.#restartTimer);
    this.transport.close();
  }

  #wire(joinTiming: () => RequestTiming | undefined): void {
    const transport = this.transport;
    transport.on('connect', ({ dtlsParameters }, callback) => {
      // ICE and DTLS start now: from here the transport has a deadline to connect.
      this.#armConnectDeadline();
      const after = joinTiming();
      const { timing, response } = this.#signaling.track(
        'connectTransport',
        { transportId: transport.id, dtlsParameters },
        after,
      );
      this.connectTiming = timing;
      this.pipelinedAfter = after;
      // Not waiting for the answer saves a round trip per join: the server handles this
      // connect before anything sent after it. If it fails, the transport cannot work.
      callback();
      response.catch((error: unknown) => {
        if (!this.closed && this.#signaling.connected) this.emit('broken', error);
      });
    });
    transport.on('produce', ({ rtpParameters }, callback, errback) => {
      const { timing, response } = this.#signaling.track(
        'produce',
        {
          transportId: transport.id,
          kind: 'audio',
          rtpParameters: rtpParameters as Request<'produce'>['rtpParameters'],
        },
        this.pipelinedAfter,
      );
      this.produceTiming = timing;
      response.then(({ producerId }) => callback({ id: producerId }), errback);
    });
    transport.on('connectionstatechange', (state) => {
      if (state === 'connected') {
        this.#restarted = false;
        this.#connectedOnce = true;
        window.clearTimeout(this.#connectDeadline);
        window.clearTimeout(this.#restartTimer);
        this.#restartTimer = undefined;
        this.#restarts = 0;
      } else if ((state === 'failed' || state === 'disconnected') && this.#signaling.connected) {
        this.#onPathLost(state);
      }
    });
    transport.on('icecandidateerror', (event) => {
      this.emit('iceError', `${event.errorCode}${event.errorText ? ` ${event.errorText}` : ''}`);
    });
    transport.on('icegatheringstatechange', (state) => {
      if (state === 'complete') void this.#checkCandidates();
    });
  }

  /** ICE is down: restart it now, after a grace, or not yet (one is due). */
  #onPathLost(state: 'failed' | 'disconnected'): void {
    if (!this.#connectedOnce) {
      if (state === 'failed') void this.#recover();
      return;
    }
    if (this.#restartTimer !== undefined) return;
    this.#scheduleIceRestart(state === 'failed' ? 0 : ICE_DISCONNECTED_GRACE_MS);
  }

  #scheduleIceRestart(delayMs: number): void {
    window.clearTimeout(this.#restartTimer);
    this.#restartTimer = window.setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.closed || this.transport.connectionState === 'connected') return;
      // Without signaling nothing can be asked now; recheck() restarts it after the reconnect.
      if (!this.#signaling.connected) return;
      void this.#recover();
    }, delayMs);
  }

  async #recover(): Promise<void> {
    const restarts = this.#restarts;
    const retried = this.#connectedOnce;
    if (retried && restarts < ICE_RESTART_RETRY_MS.length) {
      this.#restarts = restarts + 1;
      // Still not connected by then: restart again (or, when out of restarts, rejoin).
      this.#scheduleIceRestart(ICE_RESTART_RETRY_MS[restarts] ?? 0);
    } else if (!retried && this.#restarted) {
      // An ICE restart did not bring it back: no path works (typically the relay).
      this.emit('unreachable');
      return;
    }
    this.#restarted = true;
    this.#armConnectDeadline();
    try {
      if (retried && restarts >= ICE_RESTART_RETRY_MS.length) {
        throw new Error('ICE restarts did not bring the audio back');
      }
      // An ICE restart keeps everything else in place; a fresh join is the fallback.
      const { iceParameters } = await this.#signaling.request('restartIce', {
        transportId: this.transport.id,
      });
      if (this.closed) return;
      await this.transport.restartIce({ iceParameters });
    } catch (error) {
      if (this.closed || !this.#signaling.connected) return;
      this.emit('broken', error);
    }
  }

  /**
   * Gathering is over: with an ICE server error and no local candidate at all (relay-only
   * and the relay refused or never answered) no path can ever work, so there is no point
   * waiting for the deadline. Only for a path that never worked: one that did may just be
   * offline for a moment (no interfaces, no relay) and gets its ICE restarts instead.
   */
  async #checkCandidates(): Promise<void> {
    if (!this.#iceErrorSeen() || this.#connectedOnce) return;
    const report = await this.transport.getStats().catch(() => undefined);
    if (!report || this.closed || this.transport.connectionState === 'connected') return;
    const candidates = [...report.values()].filter((s) => s.type === 'local-candidate');
    if (candidates.length === 0) this.emit('unreachable');
  }

  #armConnectDeadline(): void {
    window.clearTimeout(this.#connectDeadline);
    this.#connectDeadline = window.setTimeout(() => {
      this.#connectDeadline = undefined;
      if (this.closed || this.transport.connectionState === 'connected') return;
      // Without signaling nothing can be fixed now; the reconnect deals with it.
      if (!this.#signaling.connected) return this.#armConnectDeadline();
      this.emit('unreachable');
    }, MEDIA_CONNECT_TIMEOUT_MS);
  }
}
