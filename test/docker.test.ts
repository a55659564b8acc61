import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { settings } from '../src/config/settings.ts';
import { freePort } from './support/ports.ts';
import { startTestServer } from './support/testServer.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(`${root}/${path}`, 'utf8');
const settingEnvNames = new Set(Object.values(settings).map((s) => s.env));
/** Build-time names that are not server settings. */
const buildOnly = new Set(['GHOSTTALK_WORKER']);

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
  network_mode?: string;
  env_file?: string | string[];
  environment?: Record<string, string>;
  volumes?: string[];
};

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
    const probe = (port: number) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, args, {
          env: { ...process.env, PORT: String(port) },
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
  });

  test('docker-compose.yml: GhostTalk and coturn on the host network, known settings only', () => {
    const compose = parseYaml(read('docker-compose.yml')) as {
      services: Record<string, ComposeService>;
      volumes?: Record<string, unknown>;
    };
    const { ghosttalk, coturn } = compose.services;
    assert.ok(ghosttalk && coturn, 'both services');
    assert.equal(ghosttalk.build, '.');
    assert.equal(ghosttalk.network_mode, 'host');
    assert.equal(coturn.network_mode, 'host');
    // ghosttalk.env is made from the example (see DEPLOY.md).
    assert.deepEqual([ghosttalk.env_file].flat(), ['ghosttalk.env']);
    const names = Object.keys(ghosttalk.environment ?? {});
    assert.ok(names.length > 0);
    for (const name of names) assert.ok(settingEnvNames.has(name), `compose ${name}`);
    for (const m of read('docker-compose.yml').matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)) {
      assert.ok(settingEnvNames.has(m[1] as string), `compose \${${m[1]}}`);
    }
    // Data lands on the named volume, at the image's DATA_DIR.
    const dataDir = dockerfile(read('Dockerfile')).finalEnv.get('DATA_DIR');
    assert.equal(ghosttalk.environment?.DATA_DIR ?? dataDir, dataDir);
    const mount = ghosttalk.volumes
      ?.map((v) => v.split(':'))
      .find(([, target]) => target === dataDir);
    assert.ok(mount?.[0] && compose.volumes && mount[0] in compose.volumes, 'named data volume');
    // coturn reads the copy of the example config that DEPLOY.md has you make.
    assert.ok(coturn.volumes?.includes('./turnserver.conf:/etc/coturn/turnserver.conf:ro'));
    assert.ok(existsSync(`${root}/config/turnserver.conf.example`));
  });

  test("coturn's relay range is the one README's TURN table tells you to open", () => {
    const conf = read('config/turnserver.conf.example');
    const min = /^min-port=(\d+)$/m.exec(conf)?.[1];
    const max = /^max-port=(\d+)$/m.exec(conf)?.[1];
    assert.ok(min && max);
    assert.match(read('README.md'), new RegExp(`^\\| ${min}–${max} \\| UDP \\|`, 'm'));
    assert.match(read('DEPLOY.md'), new RegExp(`^\\| ${min}-${max} \\| UDP \\|`, 'm'));
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
});
