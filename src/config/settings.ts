import { isIP } from 'node:net';
import { z } from 'zod';

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
};

const port = z.coerce
  .number({ error: 'must be a number' })
  .int('must be a whole number')
  .min(1, 'must be 1-65535')
  .max(65535, 'must be 1-65535');

const ipAddress = z
  .string()
  .refine((value) => isIP(value) !== 0, 'must be an IPv4 or IPv6 address');

const hostOrIp = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:-]+$/, 'must be an IP address or a DNS hostname');

export const settings = {
  port: {
    flag: 'port',
    env: 'PORT',
    schema: port.default(8080),
    help: 'HTTP port (default 8080)',
  },
  httpHost: {
    flag: 'http-host',
    env: 'HTTP_HOST',
    schema: ipAddress.default('0.0.0.0'),
    help: 'IP address the HTTP server listens on (default 0.0.0.0)',
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
