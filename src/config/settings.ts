import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ipFamily, parseCidr } from '../net/addresses.ts';

/**
 * Every setting the server reads, in one table: it drives flag parsing, environment
 * lookup, validation and `--help`, so the three can never drift apart.
 */
type Setting<T extends z.ZodType> = {
  /** Flag name, used as `-name` (Go style) or `--name`. */
  flag: string;
  env: string;
  schema: T;
  /** Shown in --help; `undefined` defaults are computed at start-up. */
  help: string;
  /** Never printed or logged (admin key, TURN password). */
  secret?: boolean;
};

const port = z.coerce
  .number({ error: 'must be a number' })
  .int('must be a whole number')
  .min(1, 'must be 1-65535')
  .max(65535, 'must be 1-65535');

const ipAddress = z
  .string()
  .refine((value) => ipFamily(value) !== undefined, 'must be an IPv4 or IPv6 address');

const hostOrIp = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:-]+$/, 'must be an IP address or a DNS hostname');

/** A comma-separated list: blanks dropped, each item trimmed. */
function commaList(item: z.ZodType<string, string>) {
  return z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== ''),
    )
    .pipe(z.array(item));
}

/** `turn:host:port?transport=udp`, `turns:host`, `stun:host:port` (RFC 7064/7065). */
const iceServerUrl = z
  .string()
  .regex(
    /^(turns?|stun):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=(udp|tcp))?$/,
    'each URL must look like turn:host:3478, turns:host:5349 or stun:host:3478 (comma-separated)',
  );

/** Express `trust proxy` values: an IP, a CIDR range or loopback/linklocal/uniquelocal. */
const proxyKeywords = ['loopback', 'linklocal', 'uniquelocal'];
const trustedProxy = z.string().refine((value) => {
  return proxyKeywords.includes(value) || parseCidr(value) !== undefined;
}, 'each item must be an IP, a CIDR range like 10.0.0.0/8, or loopback, linklocal, uniquelocal');

const origin = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}, 'each item must be an origin like https://voice.example.com (scheme, host, optional port; no path)');

/** redis:// or rediss:// with a host; a password may ride in the URL, so it is secret. */
const redisUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (
      (url.protocol === 'redis:' || url.protocol === 'rediss:') &&
      url.hostname !== '' &&
      /^(\/\d{0,2})?$/.test(url.pathname)
    );
  } catch {
    return false;
  }
}, 'must be a URL like redis://:password@redis.internal:6379/0 or rediss://… (for TLS)');

export const DEFAULT_ADMIN_KEY = 'change-me-123';

export const settings = {
  port: {
    flag: 'port',
    env: 'PORT',
    schema: port.default(8080),
    help: 'HTTP port, HTTPS with -tls-cert (default 8080)',
  },
  httpHost: {
    flag: 'http-host',
    env: 'HTTP_HOST',
    schema: ipAddress.default('0.0.0.0'),
    help: 'IP address the HTTP server listens on (default 0.0.0.0)',
  },
  tlsCert: {
    flag: 'tls-cert',
    env: 'TLS_CERT',
    schema: z.string().optional(),
    help: 'PEM certificate file (full chain, leaf first) for HTTPS on -port, with -tls-key; reread when it changes and on SIGHUP (default none: plain HTTP)',
  },
  tlsKey: {
    flag: 'tls-key',
    env: 'TLS_KEY',
    schema: z.string().optional(),
    help: 'PEM private key file of -tls-cert, unencrypted',
  },
  httpRedirectPort: {
    flag: 'http-redirect-port',
    env: 'HTTP_REDIRECT_PORT',
    schema: port.optional(),
    help: 'Plain-HTTP port that answers every request with a 308 redirect to https:// on -port, e.g. 80 (needs -tls-cert; default none)',
  },
  rtcUdpPort: {
    flag: 'rtc-udp-port',
    env: 'RTC_UDP_PORT',
    schema: port.default(50000),
    help: 'WebRTC media port, UDP and TCP (default 50000)',
  },
  rtcListenIp: {
    flag: 'rtc-listen-ip',
    env: 'RTC_LISTEN_IP',
    schema: ipAddress.default('0.0.0.0'),
    help: 'IP address the media port binds to (default 0.0.0.0)',
  },
  rtcAnnouncedAddress: {
    flag: 'rtc-announced-address',
    env: 'RTC_ANNOUNCED_ADDRESS',
    schema: hostOrIp.optional(),
    help: "Public IP or hostname put in ICE candidates (default: the host's primary IPv4)",
  },
  roomCapacity: {
    flag: 'room-capacity',
    env: 'ROOM_CAPACITY',
    schema: z.coerce.number().int().min(2).max(1000).default(10),
    help: 'Most people in one room (default 10)',
  },
  roomEmptyGraceMs: {
    flag: 'room-empty-grace-ms',
    env: 'ROOM_EMPTY_GRACE_MS',
    schema: z.coerce.number().int().min(0).max(3_600_000).default(15_000),
    help: 'How long an empty room waits for someone to rejoin before it closes (default 15000)',
  },
  reconnectGraceMs: {
    flag: 'reconnect-grace-ms',
    env: 'RECONNECT_GRACE_MS',
    schema: z.coerce.number().int().min(0).max(600_000).default(10_000),
    help: 'How long a dropped connection keeps its place in the room (default 10000)',
  },
  joinTimeoutMs: {
    flag: 'join-timeout-ms',
    env: 'JOIN_TIMEOUT_MS',
    schema: z.coerce.number().int().min(1000).max(600_000).default(30_000),
    help: 'A join whose media does not connect within this is released (default 30000)',
  },
  maxRooms: {
    flag: 'max-rooms',
    env: 'MAX_ROOMS',
    schema: z.coerce.number().int().min(1).max(1_000_000).default(1000),
    help: 'Most rooms on this server (default 1000)',
  },
  maxPeers: {
    flag: 'max-peers',
    env: 'MAX_PEERS',
    schema: z.coerce.number().int().min(1).max(1_000_000).default(5000),
    help: 'Most people on this server (default 5000)',
  },
  connectionsPerMinute: {
    flag: 'connections-per-minute',
    env: 'CONNECTIONS_PER_MINUTE',
    schema: z.coerce.number().int().min(1).max(1_000_000).default(60),
    help: 'New signaling connections per IP per minute (default 60)',
  },
  joinsPerMinute: {
    flag: 'joins-per-minute',
    env: 'JOINS_PER_MINUTE',
    schema: z.coerce.number().int().min(1).max(1_000_000).default(30),
    help: 'Joins per IP per minute (default 30)',
  },
  roomCreationsPerMinute: {
    flag: 'room-creations-per-minute',
    env: 'ROOM_CREATIONS_PER_MINUTE',
    schema: z.coerce.number().int().min(1).max(1_000_000).default(10),
    help: 'New rooms per IP per minute (default 10)',
  },
  messagesPer10s: {
    flag: 'messages-per-10s',
    env: 'MESSAGES_PER_10S',
    schema: z.coerce.number().int().min(10).max(1_000_000).default(200),
    help: 'Signaling requests per connection per 10 seconds (default 200)',
  },
  maxSocketsPerIp: {
    flag: 'max-sockets-per-ip',
    env: 'MAX_SOCKETS_PER_IP',
    schema: z.coerce.number().int().min(1).max(1_000_000).default(20),
    help: 'Signaling connections one IP may hold open at once; room for a household behind one NAT with several tabs (default 20)',
  },
  socketIdleMs: {
    flag: 'socket-idle-ms',
    env: 'SOCKET_IDLE_MS',
    schema: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
    help: 'A signaling connection that is not in a room is closed after this long; a minute to type a nickname, and the app reconnects on Join (default 60000)',
  },
  ipv6RateLimitPrefix: {
    flag: 'ipv6-rate-limit-prefix',
    env: 'IPV6_RATE_LIMIT_PREFIX',
    schema: z.coerce.number().int().min(48).max(128).default(64),
    help: 'IPv6 clients share the per-IP limits per network of this prefix length, since one host is handed a whole /64; 128 counts each address (default 64)',
  },
  adminKey: {
    flag: 'admin-key',
    env: 'ADMIN_KEY',
    schema: z
      .string()
      .min(12, 'must be at least 12 characters')
      .max(256, 'must be at most 256 characters')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .default(DEFAULT_ADMIN_KEY),
    help: `Admin console secret. The default ${DEFAULT_ADMIN_KEY} is refused in production and replaced by a random key printed once otherwise`,
    secret: true,
  },
  turnServer: {
    flag: 'turn-server',
    env: 'TURN_SERVER',
    schema: commaList(iceServerUrl).default([]),
    help: 'TURN/STUN URLs handed to clients, comma-separated, e.g. turn:turn.example.com:3478 (default none)',
  },
  turnUser: {
    flag: 'turn-user',
    env: 'TURN_USER',
    schema: z.string().max(256).optional(),
    help: 'TURN username (with -turn-pass)',
  },
  turnPass: {
    flag: 'turn-pass',
    env: 'TURN_PASS',
    schema: z.string().max(256).optional(),
    help: 'TURN password (with -turn-user)',
    secret: true,
  },
  turnSecret: {
    flag: 'turn-secret',
    env: 'TURN_SECRET',
    schema: z.string().min(16, 'must be at least 16 characters').max(256).optional(),
    help: 'coturn static-auth-secret: mint per-peer TURN credentials (recommended over -turn-user/-turn-pass)',
    secret: true,
  },
  turnTtl: {
    flag: 'turn-ttl',
    env: 'TURN_TTL',
    schema: z.coerce
      .number()
      .int()
      .min(60)
      .max(7 * 86_400)
      .default(14_400),
    help: 'Lifetime of minted TURN credentials in seconds; refreshed before expiry (default 14400)',
  },
  iceTransportPolicy: {
    flag: 'ice-transport-policy',
    env: 'ICE_TRANSPORT_POLICY',
    schema: z.enum(['all', 'relay']).default('all'),
    help: 'relay sends every client through TURN (to check a TURN setup); default all',
  },
  rtcWorkers: {
    flag: 'rtc-workers',
    env: 'RTC_WORKERS',
    schema: z.coerce.number().int().min(1).max(256).default(availableParallelism()),
    help: 'mediasoup workers, one media port each from -rtc-udp-port up (default: one per CPU core)',
  },
  workerConsumerBudget: {
    flag: 'worker-consumer-budget',
    env: 'WORKER_CONSUMER_BUDGET',
    schema: z.coerce.number().int().min(1).max(1_000_000).default(500),
    help: 'Consumers on one worker before a growing room spreads to another worker (default 500)',
  },
  producerMaxKbps: {
    flag: 'producer-max-kbps',
    env: 'PRODUCER_MAX_KBPS',
    schema: z.coerce.number().int().min(64).max(10_000).default(192),
    help: 'Most one microphone may send in kbit/s, RTP headers included, averaged over -producer-budget-window-ms; past it, it is turned off. Opus speech needs 6-64, stereo music up to 128 (default 192)',
  },
  producerBudgetWindowMs: {
    flag: 'producer-budget-window-ms',
    env: 'PRODUCER_BUDGET_WINDOW_MS',
    schema: z.coerce.number().int().min(1000).max(60_000).default(5000),
    help: 'Window in ms over which a microphone is held to -producer-max-kbps on average (default 5000)',
  },
  trustedProxies: {
    flag: 'trusted-proxies',
    env: 'TRUSTED_PROXIES',
    schema: commaList(trustedProxy).default([]),
    help: 'Reverse proxies whose X-Forwarded-For is believed: IPs, CIDR ranges or loopback/linklocal/uniquelocal, comma-separated (default none: the TCP peer address is the client)',
  },
  allowedOrigins: {
    flag: 'allowed-origins',
    env: 'ALLOWED_ORIGINS',
    schema: commaList(origin).default([]),
    help: 'Extra web origins allowed to open socket.io connections, comma-separated (same origin is always allowed)',
  },
  redisUrl: {
    flag: 'redis-url',
    env: 'REDIS_URL',
    schema: redisUrl.optional(),
    help: 'Redis that joins this node to a cluster: redis://[:password@]host:6379[/db], rediss:// for TLS (default none: a single node)',
    secret: true,
  },
  nodeId: {
    flag: 'node-id',
    env: 'NODE_ID',
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, dots, dashes or underscores')
      .optional(),
    help: "This node's name in the cluster, unique among its nodes (default: the host name and -port)",
  },
  clusterLeaseMs: {
    flag: 'cluster-lease-ms',
    env: 'CLUSTER_LEASE_MS',
    schema: z.coerce.number().int().min(1000).max(60_000).default(6000),
    help: "How long a node's record and its room claims outlive its last heartbeat: a dead node's rooms move after this (default 6000)",
  },
  nodeConsumerBudget: {
    flag: 'node-consumer-budget',
    env: 'NODE_CONSUMER_BUDGET',
    schema: z.coerce.number().int().min(1).max(10_000_000).default(2000),
    help: "Consumers on one node (all its workers) before a growing room's new people go to another node, over pipes between the two (default 2000; cluster only)",
  },
  pipeListenIp: {
    flag: 'pipe-listen-ip',
    env: 'PIPE_LISTEN_IP',
    schema: ipAddress.optional(),
    help: 'IP address the pipes to other nodes (rooms spanning nodes) bind to (default: -rtc-listen-ip)',
  },
  pipeAnnouncedAddress: {
    flag: 'pipe-announced-address',
    env: 'PIPE_ANNOUNCED_ADDRESS',
    schema: ipAddress.optional(),
    help: 'IP address other nodes send piped media to, reachable from them (default: -rtc-announced-address if it is an IP, else the pipe listen IP or the primary IPv4)',
  },
  pipePorts: {
    flag: 'pipe-ports',
    env: 'PIPE_PORTS',
    schema: z
      .string()
      .regex(/^\d{1,5}-\d{1,5}$/, 'must be a range like 40000-40999')
      .transform((value) => {
        const [min, max] = value.split('-').map(Number) as [number, number];
        return { min, max };
      })
      .refine(
        ({ min, max }) => min >= 1 && min <= max && max <= 65535,
        'must be low-high within 1-65535',
      )
      .default({ min: 40000, max: 40999 }),
    help: 'UDP ports for pipes to other nodes, one per room and other node (default 40000-40999)',
  },
  nodeEnv: {
    flag: 'node-env',
    env: 'NODE_ENV',
    schema: z
      .enum(['production', 'development', 'test'], {
        error: 'must be production, development or test',
      })
      .default('development'),
    help: 'production refuses the default admin key (default development)',
  },
  dataDir: {
    flag: 'data-dir',
    env: 'DATA_DIR',
    schema: z.string().min(1).default('./data'),
    help: 'Folder for server.log and banned_ips.json (default ./data)',
  },
  logLevel: {
    flag: 'log-level',
    env: 'LOG_LEVEL',
    schema: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
    help: 'error, warn, info or debug (default info)',
  },
} satisfies Record<string, Setting<z.ZodType>>;

export type SettingName = keyof typeof settings;
