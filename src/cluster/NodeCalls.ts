import { UnavailableError } from '../media/errors.ts';
import type { RelayChannel } from './RelayChannel.ts';
import { replySchemas, type SpanCall, type SpanReply, type ToNode } from './spanMessages.ts';

/** A call another node never answers fails after this. */
const CALL_TIMEOUT_MS = 5_000;

type Pending = { m: SpanCall['m']; resolve: (body: unknown) => void; reject: (e: Error) => void };

/**
 * Requests between nodes over their relay channels, each answered once: a reply is
 * validated against the schema of the call it answers before the caller sees it.
 */
export class NodeCalls {
  readonly #channel: RelayChannel;
  readonly #nodeId: string;
  readonly #handle: (from: string, call: SpanCall) => Promise<unknown>;
  readonly #pending = new Map<number, Pending & { timer: NodeJS.Timeout; node: string }>();
  #next = 0;

  constructor(options: {
    channel: RelayChannel;
    nodeId: string;
    /** Answers a call from another node; a rejection is sent back as a failed reply. */
    handle: (from: string, call: SpanCall) => Promise<unknown>;
  }) {
    this.#channel = options.channel;
    this.#nodeId = options.nodeId;
    this.#handle = options.handle;
  }

  call<C extends SpanCall>(node: string, call: C): Promise<SpanReply<C['m']>> {
    const n = this.#next++;
    return new Promise<SpanReply<C['m']>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle(n, () => reject(new UnavailableError(`node ${node} did not answer`)));
      }, CALL_TIMEOUT_MS);
      timer.unref();
      this.#pending.set(n, {
        m: call.m,
        node,
        timer,
        resolve: resolve as (body: unknown) => void,
        reject,
      });
      this.#channel.send(node, { t: 'call', from: this.#nodeId, n, call }).catch(() => {
        this.#settle(n, () => reject(new UnavailableError('the cluster is unreachable')));
      });
    });
  }

  receive(message: Extract<ToNode, { t: 'call' | 'reply' }>): void {
    if (message.t === 'call') {
      const { from, n } = message;
      this.#handle(from, message.call).then(
        (body) => this.#reply(from, n, true, body),
        (error: Error) => this.#reply(from, n, false, error.message),
      );
      return;
    }
    const pending = this.#pending.get(message.n);
    if (!pending || pending.node !== message.from) return;
    this.#settle(message.n, () => {
      if (!message.ok) {
        pending.reject(new UnavailableError(`node ${message.from}: ${String(message.body)}`));
        return;
      }
      const body = replySchemas[pending.m].safeParse(message.body);
      if (body.success) pending.resolve(body.data);
      else pending.reject(new Error(`node ${message.from} answered ${pending.m} with garbage`));
    });
  }

  /** Calls in flight to a node that died fail now rather than at their timeout. */
  nodeLost(node: string): void {
    for (const [n, pending] of this.#pending) {
      if (pending.node !== node) continue;
      this.#settle(n, () => pending.reject(new UnavailableError(`node ${node} is gone`)));
    }
  }

  #settle(n: number, settle: () => void): void {
    const pending = this.#pending.get(n);
    if (!pending) return;
    this.#pending.delete(n);
    clearTimeout(pending.timer);
    settle();
  }

  #reply(node: string, n: number, ok: boolean, body: unknown): void {
    this.#channel.send(node, { t: 'reply', from: this.#nodeId, n, ok, body }).catch(() => {});
  }

  close(): void {
    for (const [n, pending] of this.#pending) {
      this.#settle(n, () => pending.reject(new UnavailableError('closing')));
    }
  }
}
