import { Redis, type RedisOptions } from 'ioredis';

/** REDIS_URL cannot be used: wrong address, refused password. Nothing was started. */
export class RedisConfigError extends Error {
  override name = 'RedisConfigError';
}

/** The URL as it may be logged: its password replaced. */
export function redactRedisUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

export type RedisClients = {
  /**
   * Claims, heartbeats, bans, rate limits and relay publishes. No offline queue and a
   * short command timeout: while Redis is away a command fails at once, so a join gets
   * a retryable error instead of hanging.
   */
  command: Redis;
  /** Subscribed to this node's relay channel. */
  subscriber: Redis;
  /**
   * socket.io's Redis adapter publishes without handling rejections, so its client
   * queues while Redis is away instead of failing (and never crashes the process).
   */
  adapterPublisher: Redis;
  adapterSubscriber: Redis;
  close(): void;
};

const CONNECT_TIMEOUT_MS = 3000;
const COMMAND_TIMEOUT_MS = 1000;

function options(role: string): RedisOptions {
  return {
    lazyConnect: true,
    connectionName: `ghosttalk-${role}`,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Keep trying, quickly at first: everything recovers by itself when Redis returns.
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  };
}

/**
 * Connects every client and checks that Redis answers as this URL says (address,
 * password, database). Rejects with a RedisConfigError naming REDIS_URL otherwise.
 */
export async function connectRedis(url: string): Promise<RedisClients> {
  const make = (role: string, extra: RedisOptions) =>
    new Redis(url, { ...options(role), ...extra });
  const clients = {
    command: make('command', {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: COMMAND_TIMEOUT_MS,
    }),
    subscriber: make('relay', {}),
    adapterPublisher: make('adapter-pub', { maxRetriesPerRequest: null }),
    adapterSubscriber: make('adapter-sub', {}),
  };
  const all = Object.values(clients);
  const close = () => {
    for (const client of all) client.disconnect();
  };
  let lastError: Error | undefined;
  for (const client of all) {
    client.on('error', (error: Error) => {
      lastError = error;
    });
  }
  try {
    await Promise.all(all.map((client) => client.connect()));
    await clients.command.ping();
  } catch (error) {
    close();
    const reason = (lastError ?? (error as Error)).message;
    throw new RedisConfigError(
      `-redis-url / REDIS_URL: cannot use Redis at ${redactRedisUrl(url)}: ${reason}`,
    );
  }
  return { ...clients, close };
}
