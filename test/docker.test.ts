import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { settings } from '../src/config/settings.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(`${root}/${path}`, 'utf8');
const settingEnvNames = new Set(Object.values(settings).map((s) => s.env));
/** Build-time names that are not server settings. */
const buildOnly = new Set(['GHOSTTALK_WORKER']);

/** Names set by `ENV A=1 B=2` (with continuations) and `ARG NAME` in a Dockerfile. */
function dockerfileEnvNames(text: string): { env: string[]; args: string[] } {
  const joined = text.replace(/\\\n/g, ' ');
  const env: string[] = [];
  const args: string[] = [];
  for (const line of joined.split('\n')) {
    const envMatch = /^\s*ENV\s+(.*)$/.exec(line);
    if (envMatch?.[1]) {
      for (const m of envMatch[1].matchAll(/([A-Z_][A-Z0-9_]*)=/g)) if (m[1]) env.push(m[1]);
    }
    const argMatch = /^\s*ARG\s+([A-Z_][A-Z0-9_]*)/.exec(line);
    if (argMatch?.[1]) args.push(argMatch[1]);
  }
  return { env, args };
}

describe('deployment files agree with the config module', () => {
  test('every ENV in the Dockerfile is a setting (or a build argument)', () => {
    const { env, args } = dockerfileEnvNames(read('Dockerfile'));
    assert.ok(env.includes('DATA_DIR') && env.includes('PORT'));
    for (const name of env) {
      assert.ok(settingEnvNames.has(name) || args.includes(name), `Dockerfile ENV ${name}`);
    }
    for (const name of args) assert.ok(buildOnly.has(name), `Dockerfile ARG ${name}`);
    const dockerfile = read('Dockerfile');
    assert.match(dockerfile, /^VOLUME \/data$/m);
    assert.match(dockerfile, /^USER node$/m);
    assert.match(dockerfile, /^EXPOSE .*8080\/tcp/m);
    assert.match(dockerfile, /^EXPOSE .*50000\/udp.*50000\/tcp/m);
    assert.match(dockerfile, /^HEALTHCHECK .*\n?.*\/healthz/m);
  });

  test('docker-compose.yml only sets settings the server knows', () => {
    const compose = read('docker-compose.yml');
    const ghosttalk = compose.slice(compose.indexOf('  ghosttalk:'), compose.indexOf('  coturn:'));
    const environment = ghosttalk.slice(
      ghosttalk.indexOf('environment:'),
      ghosttalk.indexOf('volumes:'),
    );
    const names = [...environment.matchAll(/^\s+([A-Z_][A-Z0-9_]*):/gm)].map((m) => m[1]);
    assert.ok(names.length > 0);
    for (const name of names) assert.ok(settingEnvNames.has(name as string), `compose ${name}`);
    for (const m of compose.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)) {
      assert.ok(settingEnvNames.has(m[1] as string), `compose \${${m[1]}}`);
    }
    assert.match(compose, /network_mode: host[\s\S]*coturn[\s\S]*network_mode: host/);
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
