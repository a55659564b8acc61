import { randomBytes } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ipFamily } from '../net/addresses.ts';
import { DEFAULT_ADMIN_KEY, type SettingName, settings } from './settings.ts';

type Parsed = { [K in SettingName]: z.output<(typeof settings)[K]['schema']> };

export type Config = Omit<
  Parsed,
  'rtcAnnouncedAddress' | 'nodeId' | 'pipeListenIp' | 'pipeAnnouncedAddress'
> & {
  rtcAnnouncedAddress: string;
  pipeListenIp: string;
  /** Always an IP: mediasoup connects pipe transports to addresses, not names. */
  pipeAnnouncedAddress: string;
  /** NODE_ID, or one derived from the host name and port (used only with REDIS_URL). */
  nodeId: string;
  /** The default admin key was replaced by this random one: show it once on the console. */
  adminKeyGenerated: boolean;
  production: boolean;
};

/** A setting that is wrong: the message names it and the allowed form. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export class HelpRequested extends Error {
  override name = 'HelpRequested';
}

const names = Object.keys(settings) as SettingName[];

/** Go-style `-port 8080` is what existing users type; parseArgs only knows `--port`. */
function normaliseFlags(argv: readonly string[]): string[] {
  return argv.map((arg) => (/^-[a-z][a-z-]+(=.*)?$/.test(arg) ? `-${arg}` : arg));
}

function primaryIPv4(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    const found = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (found) return found.address;
  }
  return undefined;
}

/** Precedence: flags, then environment, then the defaults in `settings`. */
export function loadConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Config {
  const options = Object.fromEntries([
    ...names.map((name) => [settings[name].flag, { type: 'string' as const }]),
    ['help', { type: 'boolean' as const, short: 'h' }],
  ]);
  let flags: Record<string, unknown>;
  try {
    flags = parseArgs({ args: normaliseFlags(argv), options, strict: true }).values;
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}. Run with --help to list the settings.`);
  }
  if (flags.help) throw new HelpRequested(helpText());

  const raw: Record<string, unknown> = {};
  for (const name of names) {
    const { flag, env: envName } = settings[name];
    const fromFlag = flags[flag];
    const fromEnv = env[envName];
    raw[name] = typeof fromFlag === 'string' ? fromFlag : fromEnv === '' ? undefined : fromEnv;
  }
  const shape = Object.fromEntries(names.map((n) => [n, settings[n].schema]));
  const result = z.object(shape).safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = issue.path[0] as SettingName;
      const {
        flag,
        env: envName,
        secret,
      } = settings[name] as { flag: string; env: string; secret?: boolean };
      const value = raw[name];
      const index = issue.path[1];
      // A list names its bad item; a secret is never echoed back.
      const got = secret
        ? ''
        : typeof index === 'number' && typeof value === 'string'
          ? ` (got ${JSON.stringify(
              value
                .split(',')
                .map((v) => v.trim())
                .filter(Boolean)[index],
            )})`
          : ` (got ${JSON.stringify(value)})`;
      return `-${flag} / ${envName}: ${issue.message}${got}`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const parsed = result.data as Parsed;
  if ((parsed.turnUser === undefined) !== (parsed.turnPass === undefined)) {
    throw new ConfigError(
      'Invalid configuration:\n  -turn-user / TURN_USER and -turn-pass / TURN_PASS: set both or neither',
    );
  }
  if ((parsed.tlsCert === undefined) !== (parsed.tlsKey === undefined)) {
    throw new ConfigError(
      'Invalid configuration:\n  -tls-cert / TLS_CERT and -tls-key / TLS_KEY: set both or neither',
    );
  }
  if (parsed.httpRedirectPort !== undefined) {
    if (parsed.tlsCert === undefined) {
      throw new ConfigError(
        'Invalid configuration:\n  -http-redirect-port / HTTP_REDIRECT_PORT: redirects to HTTPS, so it needs -tls-cert / TLS_CERT and -tls-key / TLS_KEY',
      );
    }
    if (parsed.httpRedirectPort === parsed.port) {
      throw new ConfigError(
        `Invalid configuration:\n  -http-redirect-port / HTTP_REDIRECT_PORT: must differ from -port / PORT (both ${parsed.port})`,
      );
    }
  }
  const turnUrls = parsed.turnServer.filter((url) => !url.startsWith('stun:'));
  if (parsed.turnSecret !== undefined && parsed.turnUser !== undefined) {
    throw new ConfigError(
      'Invalid configuration:\n  -turn-secret / TURN_SECRET and -turn-user / TURN_USER: choose one kind of TURN credentials',
    );
  }
  if ((parsed.turnSecret !== undefined || parsed.turnUser !== undefined) && !turnUrls.length) {
    throw new ConfigError(
      'Invalid configuration:\n  -turn-server / TURN_SERVER: TURN credentials are set but no turn: or turns: URL',
    );
  }
  if (parsed.iceTransportPolicy === 'relay' && !turnUrls.length) {
    throw new ConfigError(
      'Invalid configuration:\n  -ice-transport-policy / ICE_TRANSPORT_POLICY: relay needs a turn: or turns: URL in TURN_SERVER',
    );
  }
  const production = parsed.nodeEnv === 'production';
  let adminKeyGenerated = false;
  if (parsed.adminKey === DEFAULT_ADMIN_KEY) {
    if (production) {
      throw new ConfigError(
        `Invalid configuration:\n  -admin-key / ADMIN_KEY: the default key ${DEFAULT_ADMIN_KEY} is refused when NODE_ENV=production; set a secret of 12-256 printable characters, e.g. the output of \`openssl rand -base64 24\``,
      );
    }
    parsed.adminKey = randomBytes(18).toString('base64url');
    adminKeyGenerated = true;
  }
  const announced =
    parsed.rtcAnnouncedAddress ??
    (parsed.rtcListenIp !== '0.0.0.0' && parsed.rtcListenIp !== '::'
      ? parsed.rtcListenIp
      : primaryIPv4());
  if (!announced) {
    throw new ConfigError(
      '-rtc-announced-address / RTC_ANNOUNCED_ADDRESS: no non-loopback IPv4 found; set it to the public IP or hostname',
    );
  }
  // Containers get a host name of their own; nodes sharing a host differ by port.
  const nodeId =
    parsed.nodeId ??
    `${hostname()
      .replace(/[^A-Za-z0-9_.-]/g, '-')
      .slice(0, 50)}-${parsed.port}`;
  const pipeListenIp = parsed.pipeListenIp ?? parsed.rtcListenIp;
  const pipeAnnouncedAddress =
    parsed.pipeAnnouncedAddress ??
    (ipFamily(announced) !== undefined ? announced : undefined) ??
    (pipeListenIp !== '0.0.0.0' && pipeListenIp !== '::' ? pipeListenIp : primaryIPv4());
  if (!pipeAnnouncedAddress) {
    throw new ConfigError(
      '-pipe-announced-address / PIPE_ANNOUNCED_ADDRESS: no IP found for other nodes to reach this one; set it',
    );
  }
  return {
    ...parsed,
    rtcAnnouncedAddress: announced,
    pipeListenIp,
    pipeAnnouncedAddress,
    nodeId,
    adminKeyGenerated,
    production,
  };
}

/** The configuration with secrets masked, for the start-up log line. */
export function describeConfig(config: Config): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const name of names) {
    const setting = settings[name] as { secret?: boolean };
    const value = config[name];
    shown[name] = setting.secret && value !== undefined ? '[set]' : value;
  }
  return shown;
}

export function helpText(): string {
  const lines = names.map((name) => {
    const { flag, env, help } = settings[name];
    return `  -${flag.padEnd(26)} ${env.padEnd(26)} ${help}`;
  });
  return [
    'Usage: npm start -- [flags]',
    '',
    'Every setting is a flag (-name or --name) or an environment variable.',
    'Precedence: flags, then environment variables, then defaults.',
    'Lists (-turn-server, -trusted-proxies, -allowed-origins) are comma-separated.',
    'config/ghosttalk.env.example documents every setting.',
    '',
    `  ${'flag'.padEnd(27)} ${'environment'.padEnd(26)} meaning`,
    ...lines,
  ].join('\n');
}
