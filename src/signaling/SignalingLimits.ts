import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { SignalingError } from './SignalingError.ts';

export type SignalingLimitSettings = {
  /** New socket.io connections per IP per minute. */
  connectionsPerIpPerMinute: number;
  joinsPerIpPerMinute: number;
  roomCreationsPerIpPerMinute: number;
  /** Requests per socket per 10 s. */
  messagesPerSocketPer10s: number;
};

async function take(limiter: RateLimiterMemory, key: string): Promise<boolean> {
  try {
    await limiter.consume(key);
    return true;
  } catch (error) {
    if (error instanceof RateLimiterRes) return false;
    throw error;
  }
}

export class SignalingLimits {
  readonly settings: SignalingLimitSettings;
  readonly #connections: RateLimiterMemory;
  readonly #joins: RateLimiterMemory;
  readonly #roomCreations: RateLimiterMemory;
  readonly #messages: RateLimiterMemory;

  /** Defaults (in the settings table) are generous enough for an honest client that
   * reconnects with backoff, and tight enough that one address cannot flood the server. */
  constructor(settings: SignalingLimitSettings) {
    this.settings = settings;
    this.#connections = new RateLimiterMemory({
      points: settings.connectionsPerIpPerMinute,
      duration: 60,
    });
    this.#joins = new RateLimiterMemory({ points: settings.joinsPerIpPerMinute, duration: 60 });
    this.#roomCreations = new RateLimiterMemory({
      points: settings.roomCreationsPerIpPerMinute,
      duration: 60,
    });
    this.#messages = new RateLimiterMemory({
      points: settings.messagesPerSocketPer10s,
      duration: 10,
    });
  }

  allowConnection(ip: string): Promise<boolean> {
    return take(this.#connections, ip);
  }

  allowMessage(socketId: string): Promise<boolean> {
    return take(this.#messages, socketId);
  }

  /** Throws a RATE_LIMITED error the client can show. (Server-wide caps: RoomRegistry.) */
  async checkJoin(ip: string, load: { createsRoom: boolean }): Promise<void> {
    if (!(await take(this.#joins, ip))) {
      throw new SignalingError('RATE_LIMITED', 'too many joins from your address, wait a minute');
    }
    if (load.createsRoom && !(await take(this.#roomCreations, ip))) {
      throw new SignalingError(
        'RATE_LIMITED',
        'too many new rooms from your address, wait a minute',
      );
    }
  }
}
