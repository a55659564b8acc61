import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/createLogger.ts';
import { keys, type ToEdge, type ToOwner, toEdgeSchema, toOwnerSchema } from './clusterRecords.ts';
import { type ToNode, toNodeSchema } from './spanMessages.ts';

export type RelayChannelEvents = {
  toOwner: [message: ToOwner];
  toEdge: [message: ToEdge];
  /** About a room spanning nodes. */
  toNode: [message: ToNode];
};

/**
 * This node's mailbox: one Redis pub/sub channel per node. Redis keeps the order of one
 * connection's publishes to one channel, so a session's acks and events arrive in the
 * order they were sent. Every message is validated before anything acts on it.
 */
export class RelayChannel extends EventEmitter<RelayChannelEvents> {
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #channel: string;
  readonly #logger: Logger;
  readonly #onMessage: (channel: string, message: string) => void;

  private constructor(options: {
    publisher: Redis;
    subscriber: Redis;
    nodeId: string;
    logger: Logger;
  }) {
    super();
    this.#publisher = options.publisher;
    this.#subscriber = options.subscriber;
    this.#channel = keys.relayChannel(options.nodeId);
    this.#logger = options.logger;
    this.#onMessage = (channel, message) => {
      if (channel === this.#channel) this.#dispatch(message);
    };
    this.#subscriber.on('message', this.#onMessage);
  }

  static async create(options: {
    publisher: Redis;
    subscriber: Redis;
    nodeId: string;
    logger: Logger;
  }): Promise<RelayChannel> {
    const channel = new RelayChannel(options);
    await options.subscriber.subscribe(keys.relayChannel(options.nodeId));
    return channel;
  }

  #dispatch(message: string): void {
    let data: unknown;
    try {
      data = JSON.parse(message);
    } catch {
      this.#logger.warn('relay message is not JSON; dropped');
      return;
    }
    const owner = toOwnerSchema.safeParse(data);
    if (owner.success) {
      this.emit('toOwner', owner.data);
      return;
    }
    const edge = toEdgeSchema.safeParse(data);
    if (edge.success) {
      this.emit('toEdge', edge.data);
      return;
    }
    const node = toNodeSchema.safeParse(data);
    if (node.success) {
      this.emit('toNode', node.data);
      return;
    }
    this.#logger.warn('relay message refused', { issue: node.error.issues[0]?.message });
  }

  /** Rejects while Redis is away (the command client has no offline queue). */
  async send(nodeId: string, message: ToOwner | ToEdge | ToNode): Promise<void> {
    await this.#publisher.publish(keys.relayChannel(nodeId), JSON.stringify(message));
  }

  close(): void {
    this.#subscriber.off('message', this.#onMessage);
    this.removeAllListeners();
  }
}
