/**
 * Real WebRTC receivers for the forwarding-cost step: per receiver one mediasoup
 * WebRtcTransport on the worker's WebRtcServer (ICE + DTLS + SRTP, as a browser would
 * connect) carrying one consumer per producer, received by werift in a child process.
 */
import type { types } from 'mediasoup';
import {
  consumerMediaSection,
  mediasoupSdp,
  type SrtpProfileName,
  weriftRtpCapabilities,
} from '../../test/support/weriftPeer.ts';
import { type Child, spawnChild } from './ipc.ts';

export type SrtpReceiverGroup = {
  transports: types.WebRtcTransport[];
  consumers: types.Consumer[];
  keys: string[];
  /** What DTLS agreed on (all receivers of a group agree). */
  profile: SrtpProfileName | undefined;
};

export class SrtpReceivers {
  readonly #child: Child;
  #nextKey = 0;

  static async start(): Promise<SrtpReceivers> {
    return new SrtpReceivers(await spawnChild(new URL('./weriftReceivers.ts', import.meta.url)));
  }

  private constructor(child: Child) {
    this.#child = child;
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** `count` receivers, each consuming every producer, created paused. */
  async connect(options: {
    router: types.Router;
    webRtcServer: types.WebRtcServer;
    producers: types.Producer[];
    count: number;
    profile?: SrtpProfileName;
  }): Promise<SrtpReceiverGroup> {
    const { router, webRtcServer, producers, count, profile } = options;
    const group: SrtpReceiverGroup = {
      transports: [],
      consumers: [],
      keys: [],
      profile: undefined,
    };
    // A few at a time: each is a DTLS handshake in werift's JavaScript.
    for (let i = 0; i < count; i += 5) {
      await Promise.all(
        Array.from({ length: Math.min(5, count - i) }, async () => {
          const transport = await router.createWebRtcTransport({ webRtcServer, enableUdp: true });
          group.transports.push(transport);
          const consumers = await Promise.all(
            producers.map((p) =>
              transport.consume({
                producerId: p.id,
                rtpCapabilities: weriftRtpCapabilities,
                paused: true,
              }),
            ),
          );
          group.consumers.push(...consumers);
          const key = `r${this.#nextKey++}`;
          group.keys.push(key);
          const sdp = mediasoupSdp({
            transport,
            setup: 'actpass',
            media: consumers.map((c) => consumerMediaSection(c)),
          });
          const dtlsParameters = await this.#child.call<types.DtlsParameters>('answer', {
            key,
            sdp,
            profile,
          });
          await transport.connect({ dtlsParameters });
          const result = await this.#child.call<{ profile?: SrtpProfileName }>('connect', { key });
          group.profile = result.profile;
        }),
      );
    }
    return group;
  }

  /** Packets received by the given receivers so far. */
  async received(keys: readonly string[]): Promise<number> {
    const all = await this.#child.call<Record<string, number>>('received');
    return keys.reduce((sum, key) => sum + (all[key] ?? 0), 0);
  }

  async stop(): Promise<void> {
    await this.#child.call('closeAll').catch(() => undefined);
    await this.#child.stop();
  }
}
