import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { settings } from '../src/config/settings.ts';
import { compileTrust } from '../src/http/clientIp.ts';
import { selfSignedCertificate } from './support/certificates.ts';
import { freePort } from './support/ports.ts';
import { startTestServer } from './support/testServer.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(`${root}/${path}`, 'utf8');
const settingEnvNames = new Set(Object.values(settings).map((s) => s.env));
/** Build-time names that are not server settings. */
const buildOnly = new Set(['GHOSTTALK_WORKER']);
/** What compose itself reads (from the shell or .env) besides settings: Caddy's site name. */
const composeOnly = new Set(['DOMAIN']);

/**
 * The instructions of a Dockerfile (continuations joined, comments dropped): `ENV A=1 B=2`
 * and `ARG NAME` names, ENV values of the final stage, EXPOSE, HEALTHCHECK and ENTRYPOINT.
 * No Docker engine runs here, so this is what can be checked: the file against the code.
 */
function dockerfile(text: string) {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => !/^\s*#/.test(line));
  const env: string[] = [];
  const args: string[] = [];
  let finalEnv = new Map<string, string>();
  const exposed: string[] = [];
  let healthcheck: string[] = [];
  let entrypoint: string[] = [];
  for (const line of lines) {
    if (/^FROM\s/.test(line)) finalEnv = new Map();
    const envMatch = /^\s*ENV\s+(.*)$/.exec(line);
    if (envMatch?.[1]) {
      for (const m of envMatch[1].matchAll(/([A-Z_][A-Z0-9_]*)=(\S*)/g)) {
        env.push(m[1] as string);
        finalEnv.set(m[1] as string, m[2] as string);
      }
    }
    const argMatch = /^\s*ARG\s+([A-Z_][A-Z0-9_]*)/.exec(line);
    if (argMatch?.[1]) args.push(argMatch[1]);
    const expose = /^EXPOSE\s+(.*)$/.exec(line);
    if (expose?.[1]) exposed.push(...expose[1].trim().split(/\s+/));
    const health = /^HEALTHCHECK\s.*?\bCMD\s+(\[.*\])\s*$/.exec(line);
    if (health?.[1]) healthcheck = JSON.parse(health[1]) as string[];
    const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/.exec(line);
    if (entry?.[1]) entrypoint = JSON.parse(entry[1]) as string[];
  }
  return { env, args, finalEnv, exposed, healthcheck, entrypoint };
}

/** `8080/tcp` or `50000-50255/udp` as a first and last port. */
function exposedRange(exposed: string[], protocol: 'tcp' | 'udp', first: number) {
  for (const entry of exposed) {
    const m = /^(\d+)(?:-(\d+))?\/(tcp|udp)$/.exec(entry);
    if (m && m[3] === protocol && Number(m[1]) === first) {
      return { first, last: Number(m[2] ?? m[1]) };
    }
  }
  return undefined;
}

type ComposeService = {
  build?: string;
  image?: string;
  network_mode?: string;
  ports?: unknown;
  env_file?: string | string[];
  environment?: Record<string, string>;
  volumes?: string[];
};
type Compose = { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };
const composeFile = () => parseYaml(read('docker-compose.yml')) as Compose;

/**
 * Compose's interpolation of `${NAME}`, `${NAME:-default}` and `${NAME:?error}`, with
 * `shell` as the shell's environment (or .env): what a service's environment becomes.
 */
function interpolate(value: string, shell: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}/g,
    (_, name: string, op?: string, arg?: string) => {
      const set = shell[name];
      if (set) return set;
      if (op === '?') throw new Error(`${name}: ${arg}`);
      return op === '-' ? (arg ?? '') : '';
    },
  );
}

function serviceEnv(service: ComposeService, shell: Record<string, string>) {
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), shell)]),
  );
}

/** The named volume a service mounts at `target`, if it is declared at the top level. */
function namedVolume(compose: Compose, service: ComposeService, target: string) {
  const source = service.volumes?.map((v) => v.split(':')).find(([, t]) => t === target)?.[0];
  return source && compose.volumes && source in compose.volumes ? source : undefined;
}

/**
 * Rows of the Markdown port tables in README.md and DEPLOY.md, e.g. `| 8080 (`PORT`) | TCP |`,
 * `| 49160–49200 | UDP |` or `` | `HTTP_REDIRECT_PORT` (none) | TCP | ``.
 */
function portRows(markdown: string) {
  return [...markdown.matchAll(/^\| ([^|]+?) \| (UDP and TCP|TCP|UDP) \|/gm)].map((m) => {
    const cell = (m[1] as string).replaceAll('–', '-');
    const named = /^`([A-Z0-9_]+)` \((.+)\)$/.exec(cell);
    const suffixed = /^(.+) \(`([A-Z0-9_]+)`\)$/.exec(cell);
    const [ports, setting] = named
      ? [named[2], named[1]]
      : suffixed
        ? [suffixed[1], suffixed[2]]
        : [cell, undefined];
    return { ports: ports as string, protocols: m[2] as string, setting };
  });
}

describe('deployment files agree with the config module', () => {
  test('every ENV in the Dockerfile is a setting (or a build argument)', () => {
    const { env, args } = dockerfile(read('Dockerfile'));
    assert.ok(env.includes('DATA_DIR') && env.includes('PORT'));
    for (const name of env) {
      assert.ok(settingEnvNames.has(name) || args.includes(name), `Dockerfile ENV ${name}`);
    }
    for (const name of args) assert.ok(buildOnly.has(name), `Dockerfile ARG ${name}`);
    const text = read('Dockerfile');
    assert.match(text, /^VOLUME \/data$/m);
    assert.match(text, /^USER node$/m);
  });

  test('EXPOSE matches the default ports: HTTP, and one media port per worker, UDP and TCP', () => {
    const { finalEnv, exposed } = dockerfile(read('Dockerfile'));
    const port = settings.port.schema.parse(undefined);
    const rtcPort = settings.rtcUdpPort.schema.parse(undefined);
    assert.equal(Number(finalEnv.get('PORT')), port, 'PORT is the default');
    assert.equal(Number(finalEnv.get('RTC_UDP_PORT')), rtcPort, 'RTC_UDP_PORT is the default');
    assert.deepEqual(exposedRange(exposed, 'tcp', port), { first: port, last: port });
    // Worker i listens on RTC_UDP_PORT + i; the range covers the most workers allowed.
    const udp = exposedRange(exposed, 'udp', rtcPort);
    assert.ok(udp, `${rtcPort}/udp exposed in ${exposed.join(' ')}`);
    assert.deepEqual(exposedRange(exposed, 'tcp', rtcPort), udp, 'TCP like UDP');
    const workers = udp.last - udp.first + 1;
    assert.equal(settings.rtcWorkers.schema.safeParse(String(workers)).success, true);
    assert.equal(
      settings.rtcWorkers.schema.safeParse(String(workers + 1)).success,
      false,
      `RTC_WORKERS allows more than the ${workers} media ports exposed`,
    );
  });

  test('the HEALTHCHECK command passes against a live server and fails without one', async () => {
    const { healthcheck, entrypoint } = dockerfile(read('Dockerfile'));
    assert.deepEqual(entrypoint.slice(0, 1), ['node']);
    for (const file of entrypoint.slice(1)) assert.ok(existsSync(`${root}/${file}`), file);
    const [command, ...args] = healthcheck;
    assert.equal(command, 'node');
    // Asynchronous: the server under test answers from this very process.
    const probe = (port: number, env: Record<string, string> = {}) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, args, {
          env: { ...process.env, TLS_CERT: '', ...env, PORT: String(port) },
          stdio: 'ignore',
          timeout: 10_000,
        });
        child.on('exit', (code) => resolve(code));
      });
    const ts = await startTestServer();
    try {
      assert.equal(await probe(Number(new URL(ts.url).port)), 0);
    } finally {
      await ts.stop();
    }
    assert.notEqual(await probe(await freePort()), 0, 'nothing listening: unhealthy');
    // With built-in HTTPS the probe speaks TLS (to a certificate naming another host).
    const dir = mkdtempSync(join(tmpdir(), 'ghosttalk-health-'));
    const tls = selfSignedCertificate(dir, '192.0.2.1');
    const secure = await startTestServer(tls);
    try {
      const port = Number(new URL(secure.url).port);
      assert.equal(await probe(port, tls), 0, 'healthy over HTTPS');
      assert.notEqual(await probe(port), 0, 'plain HTTP to an HTTPS port fails');
    } finally {
      await secure.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('docker-compose.yml: Caddy, GhostTalk and coturn on the host network, known settings only', () => {
    const compose = composeFile();
    const { caddy, ghosttalk, coturn } = compose.services;
    assert.ok(caddy && ghosttalk && coturn, 'three services');
    for (const [name, service] of Object.entries(compose.services)) {
      assert.equal(service.network_mode, 'host', name);
      assert.equal(service.ports, undefined, `${name}: host networking maps no ports`);
    }
    assert.equal(ghosttalk.build, '.');
    // ghosttalk.env is made from the example (see DEPLOY.md).
    assert.deepEqual([ghosttalk.env_file].flat(), ['ghosttalk.env']);
    const names = Object.keys(ghosttalk.environment ?? {});
    assert.ok(names.length > 0);
    for (const name of names) assert.ok(settingEnvNames.has(name), `compose ${name}`);
    for (const m of read('docker-compose.yml').matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)) {
      const name = m[1] as string;
      assert.ok(settingEnvNames.has(name) || composeOnly.has(name), `compose \${${name}}`);
    }
    // Data lands on the named volume, at the image's DATA_DIR.
    const dataDir = dockerfile(read('Dockerfile')).finalEnv.get('DATA_DIR') ?? '';
    assert.equal(ghosttalk.environment?.DATA_DIR ?? dataDir, dataDir);
    assert.ok(namedVolume(compose, ghosttalk, dataDir), 'named data volume');
    // coturn reads the copy of the example config that DEPLOY.md has you make.
    assert.ok(coturn.volumes?.includes('./turnserver.conf:/etc/coturn/turnserver.conf:ro'));
    assert.ok(existsSync(`${root}/config/turnserver.conf.example`));
    // Caddy: the official image runs the repository's Caddyfile for the DOMAIN given,
    // and keeps its certificates and ACME account on a named volume.
    assert.match(caddy.image ?? '', /^caddy:2\.\d+$/);
    assert.ok(caddy.volumes?.includes('./config/Caddyfile:/etc/caddy/Caddyfile:ro'));
    assert.ok(namedVolume(compose, caddy, '/data'), "Caddy's certificates on a named volume");
    assert.throws(() => serviceEnv(caddy, {}), /DOMAIN/, 'DOMAIN is required');
    assert.equal(serviceEnv(caddy, { DOMAIN: 'voice.example.com' }).DOMAIN, 'voice.example.com');
  });

  test('config/Caddyfile as compose runs it: HTTPS for DOMAIN by ACME, proxied to the one address GhostTalk trusts', () => {
    const { caddy, ghosttalk } = composeFile().services;
    assert.ok(caddy && ghosttalk);
    // The defaults, and PORT moved in .env: Caddy follows it.
    const shells: Record<string, string>[] = [
      { DOMAIN: 'voice.example.com' },
      { DOMAIN: 'v.example.org', PORT: '9000' },
    ];
    for (const shell of shells) {
      const caddyEnv = serviceEnv(caddy, shell);
      const env = serviceEnv(ghosttalk, shell);
      const adapted = execFileSync(
        'caddy',
        ['adapt', '--config', `${root}/config/Caddyfile`, '--adapter', 'caddyfile'],
        { env: { PATH: process.env.PATH, ...caddyEnv }, encoding: 'utf8', stdio: 'pipe' },
      );
      const config = JSON.parse(adapted) as {
        apps: { http: { servers: Record<string, Record<string, unknown>> }; tls?: unknown };
      };
      const servers = Object.values(config.apps.http.servers);
      assert.equal(servers.length, 1);
      const [server] = servers as [Record<string, unknown>];
      assert.deepEqual(server.listen, [':443'], 'the standard HTTPS port (and :80 redirects)');
      assert.equal(server.trusted_proxies, undefined, "a client's own X-Forwarded-For is dropped");
      const routes = server.routes as { match: unknown }[];
      assert.deepEqual(routes[0]?.match, [{ host: [shell.DOMAIN] }]);
      const dials = [...adapted.matchAll(/"dial":"([^"]+)"/g)].map((m) => m[1]);
      assert.deepEqual(dials, [`${env.HTTP_HOST}:${env.PORT}`], 'proxied to GhostTalk');
      // No issuer configured: Caddy's default for a public name, Let's Encrypt by ACME.
      assert.equal(config.apps.tls, undefined);
      // GhostTalk listens only there and believes X-Forwarded-For from Caddy alone.
      assert.equal(env.HTTP_HOST, '127.0.0.1');
      const trust = compileTrust(settings.trustedProxies.schema.parse(env.TRUSTED_PROXIES));
      assert.equal(trust(env.HTTP_HOST, 0), true, 'Caddy connects from 127.0.0.1');
      for (const other of ['127.0.0.2', '::1', '10.0.0.1', '172.17.0.1', '203.0.113.5']) {
        assert.equal(trust(other, 0), false, `${other} is not believed`);
      }
    }
  });

  test('README.md and DEPLOY.md list the ports the code, coturn and Caddy use', () => {
    const conf = read('config/turnserver.conf.example');
    const turn = /^listening-port=(\d+)$/m.exec(conf)?.[1];
    const turnTls = /^# ?tls-listening-port=(\d+)$/m.exec(conf)?.[1];
    const min = /^min-port=(\d+)$/m.exec(conf)?.[1];
    const max = /^max-port=(\d+)$/m.exec(conf)?.[1];
    assert.ok(turn && turnTls && min && max);
    const port = settings.port.schema.parse(undefined);
    const rtc = settings.rtcUdpPort.schema.parse(undefined);
    const key = (r: { ports: string; protocols: string; setting?: string | undefined }) =>
      `${r.ports} ${r.protocols}${r.setting ? ` ${r.setting}` : ''}`;
    const required = [
      '80 TCP', // Caddy: ACME HTTP-01 and the redirect to HTTPS
      '443 UDP and TCP', // Caddy: HTTPS, HTTP/3
      `${port} TCP PORT`,
      `${rtc} … ${rtc}+N−1 UDP and TCP RTC_UDP_PORT`,
      `${turn} UDP and TCP`,
      `${min}-${max} UDP`,
    ];
    const optional = [`${turnTls} TCP`]; // TURN over TLS, off in the example
    const { exposed } = dockerfile(read('Dockerfile'));
    const media = exposedRange(exposed, 'udp', rtc);
    assert.ok(media);
    for (const doc of ['README.md', 'DEPLOY.md']) {
      const text = read(doc);
      const rows = portRows(text);
      for (const row of required)
        assert.ok(
          rows.some((r) => key(r) === row),
          `${doc}: ${row}`,
        );
      for (const row of rows) {
        if (row.setting === undefined) {
          assert.ok([...required, ...optional].includes(key(row)), `${doc}: ${key(row)}`);
          continue;
        }
        const setting = Object.values(settings).find((s) => s.env === row.setting);
        assert.ok(setting, `${doc}: ${row.setting} is a setting`);
        const fallback = setting.schema.safeParse(undefined).data;
        if (typeof fallback === 'number') {
          assert.ok(row.ports.startsWith(String(fallback)), `${doc}: ${key(row)}`);
        }
      }
      assert.ok(text.includes('N = `RTC_WORKERS`'), `${doc}: one media port per worker`);
      assert.ok(
        text
          .replaceAll('–', '-')
          .includes(`${port}/tcp and ${media.first}-${media.last} UDP and TCP`),
        `${doc} states the Dockerfile's EXPOSE`,
      );
    }
  });

  test('DEPLOY.md names real settings only and recommends TURN_SECRET', () => {
    const deploy = read('DEPLOY.md');
    const known = new Set([...settingEnvNames, ...composeOnly, ...buildOnly, 'HEALTHCHECK']);
    for (const m of deploy.matchAll(/`([A-Z][A-Z0-9_]{2,})`/g)) {
      assert.ok(known.has(m[1] as string), `DEPLOY.md: ${m[1]}`);
    }
    const mustSet = /The ones a real deployment sets:\n\n([\s\S]*?)\n\n/.exec(deploy)?.[1] ?? '';
    assert.match(mustSet, /`TURN_SECRET`/);
    assert.doesNotMatch(mustSet, /`TURN_(USER|PASS)`/);
  });

  test('the example env file documents exactly the settings', () => {
    const example = read('config/ghosttalk.env.example');
    const documented = new Set(
      [...example.matchAll(/^#?([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1] as string),
    );
    assert.deepEqual([...documented].sort(), [...settingEnvNames].sort());
  });

  test("the README's settings table lists exactly the settings", () => {
    const readme = read('README.md');
    const listed = new Set(
      [...readme.matchAll(/^\| `-[a-z0-9-]+` \| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]),
    );
    assert.deepEqual([...listed].sort(), [...settingEnvNames].sort());
  });

  test('the example env file parses as a valid configuration (outside production)', async () => {
    const { loadConfig } = await import('../src/config/loadConfig.ts');
    const env = Object.fromEntries(
      read('config/ghosttalk.env.example')
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    const config = loadConfig([], { ...env, RTC_ANNOUNCED_ADDRESS: '127.0.0.1' });
    assert.equal(config.port, 8080);
    assert.equal(config.adminKeyGenerated, true);
    assert.throws(() => loadConfig([], { ...env, NODE_ENV: 'production' }), /ADMIN_KEY/);
  });

  test('secrets and host data stay out of git and out of the image build context', () => {
    const secrets = [
      'ghosttalk.env',
      'turnserver.conf',
      '.env',
      'data/banned_ips.json',
      'data/server.log',
      'server.log',
      'certs/privkey.pem',
      'tls.key',
      'config/ghosttalk.env',
      'node_modules/mediasoup/package.json',
      'dist/client/index.html',
    ];
    const needed = [
      'config/ghosttalk.env.example',
      'config/turnserver.conf.example',
      'config/Caddyfile',
      'src/main.ts',
      'package.json',
      'package-lock.json',
      'scripts/setup.sh',
      'Dockerfile',
      'docker-compose.yml',
    ];
    /** The paths git's rules (in `dir`) ignore; a `!pattern` match means kept. */
    const ignoredIn = (dir: string, paths: string[]) => {
      const result = spawnSync(
        'git',
        [
          '-c',
          'core.excludesFile=',
          'check-ignore',
          '--no-index',
          '-v',
          '--non-matching',
          ...paths,
        ],
        { cwd: dir, encoding: 'utf8' },
      );
      assert.ok(result.status === 0 || result.status === 1, result.stderr);
      return result.stdout
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => line.split('\t'))
        .filter(([source]) => source !== '::' && !source?.split(':')[2]?.startsWith('!'))
        .map(([, path]) => path);
    };
    assert.deepEqual(ignoredIn(root, [...secrets, ...needed]), secrets, '.gitignore');

    // .dockerignore in git's syntax: with every pattern anchored (`/x` or `**/x`), the
    // two read it alike, so git can say what Docker leaves out of the context.
    const rules = read('.dockerignore')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#'));
    for (const rule of rules) assert.match(rule, /^!?(\/|\*\*\/)/, `.dockerignore: ${rule}`);
    const scratch = mkdtempSync(join(tmpdir(), 'ghosttalk-dockerignore-'));
    try {
      execFileSync('git', ['init', '-q', scratch]);
      writeFileSync(join(scratch, '.gitignore'), rules.join('\n'));
      for (const path of [...secrets, ...needed]) {
        mkdirSync(dirname(join(scratch, path)), { recursive: true });
        writeFileSync(join(scratch, path), '');
      }
      assert.deepEqual(ignoredIn(scratch, [...secrets, ...needed]), secrets, '.dockerignore');
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test('setup.sh says which Node runs GhostTalk and stops if it cannot run .ts files', () => {
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines;
    assert.equal(engines.node, '^22.18.0 || >=23.6.0', 'the first unflagged type stripping');
    assert.ok(read('README.md').includes(`engines: ${engines.node}`), 'README states engines');
    /** setup.sh in a scratch tree with stub npm and node (`strips`: what -p answers). */
    const setup = (host: { version: string; strips: boolean }, bundled?: string) => {
      const dir = mkdtempSync(join(tmpdir(), 'ghosttalk-setup-'));
      try {
        const stub = (path: string, body: string) => {
          mkdirSync(dirname(join(dir, path)), { recursive: true });
          writeFileSync(join(dir, path), `#!/bin/sh\n${body}\n`);
          chmodSync(join(dir, path), 0o755);
        };
        const node = (version: string, strips: boolean) =>
          `case "$1" in --version) echo ${version} ;; -p) echo ${strips ? 'strip' : "''"} ;; esac`;
        mkdirSync(join(dir, 'scripts'));
        copyFileSync(`${root}/scripts/setup.sh`, join(dir, 'scripts/setup.sh'));
        stub('bin/npm', `echo "npm $*" >> "${dir}/npm.log"`);
        stub('bin/node', node(host.version, host.strips));
        if (bundled) stub('node_modules/.bin/node', node(bundled, true));
        const run = spawnSync('bash', [join(dir, 'scripts/setup.sh')], {
          env: { PATH: `${dir}/bin:/usr/bin:/bin`, GHOSTTALK_WORKER: 'prebuilt' },
          encoding: 'utf8',
        });
        const npm = existsSync(join(dir, 'npm.log'))
          ? readFileSync(join(dir, 'npm.log'), 'utf8')
          : '';
        return { status: run.status, stderr: run.stderr.replaceAll(dir, '<dir>'), npm };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    // arm64 and the like: no bundled Node, so the host's; too old stops before the build.
    const old = setup({ version: 'v22.17.1', strips: false });
    assert.equal(old.status, 1, old.stderr);
    assert.match(old.stderr, /no bundled Node 24 .*use <dir>\/bin\/node v22\.17\.1/);
    assert.match(
      old.stderr,
      /cannot run TypeScript files: GhostTalk needs Node 22\.18\+ or 23\.6\+/,
    );
    assert.doesNotMatch(old.npm, /run build/);
    const recent = setup({ version: 'v24.1.0', strips: true });
    assert.equal(recent.status, 0, recent.stderr);
    assert.match(recent.stderr, /use <dir>\/bin\/node v24\.1\.0/);
    assert.match(recent.npm, /npm ci[\s\S]*npm run build/);
    // x86-64 Linux: the bundled Node 24 runs it, whatever the host has.
    const bundled = setup({ version: 'v18.19.0', strips: false }, 'v24.22.3');
    assert.equal(bundled.status, 0, bundled.stderr);
    assert.doesNotMatch(bundled.stderr, /no bundled Node/);
    assert.match(bundled.stderr, /done: Node v24\.22\.3/);
  });

  test('the shell scripts parse, and deploy_ssh.sh explains itself', () => {
    for (const script of ['scripts/deploy_ssh.sh', 'scripts/setup.sh']) {
      execFileSync('bash', ['-n', `${root}/${script}`]);
    }
    const help = execFileSync('bash', [`${root}/scripts/deploy_ssh.sh`, '--help'], {
      encoding: 'utf8',
    });
    assert.match(help, /user@host/);
    let status = 0;
    try {
      execFileSync('bash', [`${root}/scripts/deploy_ssh.sh`], { stdio: 'pipe' });
    } catch (error) {
      status = (error as { status: number }).status;
    }
    assert.equal(status, 2, 'no target: usage and exit 2');
  });
  test('docker-compose.cluster.yml: Redis, two nodes and Caddy; nodes that differ where they must', () => {
    const compose = parseYaml(read('docker-compose.cluster.yml')) as Compose;
    const { redis, caddy } = compose.services;
    const nodes = ['ghosttalk-a', 'ghosttalk-b'].map((n) => compose.services[n]);
    assert.ok(redis && caddy && nodes.every(Boolean), 'redis, caddy and two nodes');
    const shell = {
      DOMAIN: 'voice.example.com',
      REDIS_PASSWORD: 'a1b2c3d4e5f6',
      NODE_A_ADDRESS: '203.0.113.10',
      NODE_B_ADDRESS: '203.0.113.10',
    };
    const clusterOnly = new Set([...composeOnly, ...Object.keys(shell), 'GHOSTTALK_UPSTREAMS']);
    for (const m of read('docker-compose.cluster.yml').matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)) {
      const name = m[1] as string;
      assert.ok(settingEnvNames.has(name) || clusterOnly.has(name), `compose \${${name}}`);
    }
    const envs = nodes.map((node) => serviceEnv(node as ComposeService, shell));
    for (const env of envs) {
      for (const name of Object.keys(env)) assert.ok(settingEnvNames.has(name), name);
      assert.equal(settings.redisUrl.schema.safeParse(env.REDIS_URL).success, true, 'REDIS_URL');
      assert.equal(settings.nodeId.schema.safeParse(env.NODE_ID).success, true, 'NODE_ID');
      assert.ok(String(redis.environment?.REDIS_PASSWORD ?? '').includes('REDIS_PASSWORD'));
    }
    const [a, b] = envs as [Record<string, string>, Record<string, string>];
    assert.notEqual(a.NODE_ID, b.NODE_ID, 'each node its own NODE_ID');
    assert.notEqual(a.PORT, b.PORT, 'each node its own HTTP port');
    // Worker i of a node takes RTC_UDP_PORT + i: room for the workers of either node.
    assert.ok(Math.abs(Number(a.RTC_UDP_PORT) - Number(b.RTC_UDP_PORT)) >= 256, 'media ports');
    assert.throws(() => serviceEnv(nodes[0] as ComposeService, {}), /REDIS_PASSWORD/);
    // The load balancer sends each node's health check and traffic to the address it listens on.
    const caddyEnv = serviceEnv(caddy, shell);
    const adapted = execFileSync(
      'caddy',
      ['adapt', '--config', `${root}/config/Caddyfile.cluster`, '--adapter', 'caddyfile'],
      { env: { PATH: process.env.PATH, ...caddyEnv }, encoding: 'utf8', stdio: 'pipe' },
    );
    for (const env of envs)
      assert.ok(adapted.includes(`${env.HTTP_HOST}:${env.PORT}`), env.NODE_ID);
    assert.match(adapted, /"\/healthz"/);
  });
});
