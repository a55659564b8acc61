import type { Redis } from 'ioredis';
import { keys, type NodeLoad, type NodeRecord, nodeRecordSchema } from './clusterRecords.ts';

export type NodeRegistryOptions = {
  redis: Redis;
  self: Omit<NodeRecord, 'heartbeatAt' | 'draining' | 'load'>;
  leaseMs: number;
};

/**
 * The nodes alive now. Each node's record expires `leaseMs` after its last heartbeat,
 * so a node that dies vanishes by itself; the id set only speeds up listing and is
 * pruned as records go.
 */
export class NodeRegistry {
  readonly #o: NodeRegistryOptions;
  #draining = false;

  constructor(options: NodeRegistryOptions) {
    this.#o = options;
  }

  get draining(): boolean {
    return this.#draining;
  }

  set draining(value: boolean) {
    this.#draining = value;
  }

  /** Writes this node's record with a fresh lease. */
  async heartbeat(load: NodeLoad): Promise<void> {
    const record: NodeRecord = {
      ...this.#o.self,
      heartbeatAt: Date.now(),
      draining: this.#draining,
      load,
    };
    await this.#o.redis
      .multi()
      .set(keys.node(record.id), JSON.stringify(record), 'PX', this.#o.leaseMs)
      .sadd(keys.nodes, record.id)
      .exec();
  }

  /** This node's own record as another process left it, if any (for NODE_ID clashes). */
  async current(): Promise<NodeRecord | undefined> {
    const raw = await this.#o.redis.get(keys.node(this.#o.self.id));
    return raw === null ? undefined : parse(raw);
  }

  /** Every node alive now; records that do not parse are left out (and not trusted). */
  async list(): Promise<NodeRecord[]> {
    const ids = await this.#o.redis.smembers(keys.nodes);
    if (ids.length === 0) return [];
    const raws = await this.#o.redis.mget(ids.map(keys.node));
    const gone = ids.filter((_, i) => raws[i] === null);
    if (gone.length) await this.#o.redis.srem(keys.nodes, ...gone);
    return raws.flatMap((raw) => {
      const record = raw === null ? undefined : parse(raw);
      return record ? [record] : [];
    });
  }

  /** Leaves the cluster at once (a clean exit need not wait for the lease). */
  async remove(): Promise<void> {
    await this.#o.redis
      .multi()
      .del(keys.node(this.#o.self.id))
      .srem(keys.nodes, this.#o.self.id)
      .exec();
  }
}

function parse(raw: string): NodeRecord | undefined {
  try {
    const result = nodeRecordSchema.safeParse(JSON.parse(raw));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}
