import type { types } from 'mediasoup';
import type { PipeEnd } from './spanMessages.ts';

/** Where this node's pipe transports listen (PIPE_LISTEN_IP, PIPE_ANNOUNCED_ADDRESS, PIPE_PORTS). */
export type PipeSettings = {
  listenIp: string;
  announcedAddress: string;
  portRange: { min: number; max: number };
};

/**
 * One room's pipe to one other node: a PipeTransport on the room's main router, SRTP
 * encrypted, carrying both ways what `pipeToRouter` would: pipe consumers of this node's
 * producers out, and pipe producers of the other node's in. One per room and node pair;
 * closing it closes every pipe it carries.
 */
export class PipeLink {
  readonly node: string;
  readonly transport: types.PipeTransport;
  readonly #announcedAddress: string;
  /** This node's producers sent to the other node, by producer id. */
  readonly out = new Map<string, types.Consumer>();
  /** The other node's producers received here, by producer id (kept by mediasoup). */
  readonly in = new Map<string, types.Producer>();
  #connected: Promise<void> | undefined;

  static async create(
    router: types.Router,
    node: string,
    settings: PipeSettings,
  ): Promise<PipeLink> {
    const transport = await router.createPipeTransport({
      listenInfo: {
        protocol: 'udp',
        ip: settings.listenIp,
        announcedAddress: settings.announcedAddress,
        portRange: settings.portRange,
      },
      enableSrtp: true,
      enableRtx: false,
      enableSctp: false,
    });
    return new PipeLink(node, transport, settings.announcedAddress);
  }

  private constructor(node: string, transport: types.PipeTransport, announcedAddress: string) {
    this.node = node;
    this.transport = transport;
    this.#announcedAddress = announcedAddress;
  }

  get closed(): boolean {
    return this.transport.closed;
  }

  /** What the other node connects its end to. */
  get end(): PipeEnd {
    const srtp = this.transport.srtpParameters;
    if (!srtp) throw new Error('pipe transport without SRTP');
    return { ip: this.#announcedAddress, port: this.transport.tuple.localPort, srtp };
  }

  /** Points this end at the other one; both sides may ask at once, so only the first counts. */
  connect(remote: PipeEnd): Promise<void> {
    this.#connected ??= this.transport.connect({
      ip: remote.ip,
      port: remote.port,
      srtpParameters: remote.srtp,
    });
    return this.#connected;
  }

  /** connect() has been called (by either side's open). */
  get connecting(): boolean {
    return this.#connected !== undefined;
  }

  /** Resolves once connected; rejects if the connect failed. */
  get connected(): Promise<void> {
    return this.#connected ?? Promise.reject(new Error('pipe not connected'));
  }

  close(): void {
    this.transport.close();
  }
}
