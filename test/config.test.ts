import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, HelpRequested, loadConfig } from '../src/config/loadConfig.ts';
import { DEFAULT_ADMIN_KEY, settings } from '../src/config/settings.ts';
import { exited, startMain } from './support/mainProcess.ts';
import { freePort } from './support/ports.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ghosttalk-config-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const base = { RTC_ANNOUNCED_ADDRESS: '127.0.0.1' };

function configError(argv: string[], env: Record<string, string>): string {
  try {
    loadConfig(argv, { ...base, ...env });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail(`accepted ${argv.join(' ')} ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  test('precedence: flags, then environment, then defaults; Go-style and GNU-style flags', () => {
    const defaults = loadConfig([], base);
    assert.equal(defaults.port, 8080);
    assert.equal(defaults.rtcUdpPort, 50000);
    assert.equal(defaults.dataDir, './data');
    assert.equal(defaults.logLevel, 'info');
    assert.deepEqual(defaults.trustedProxies, []);
    assert.deepEqual(defaults.turnServer, []);
    assert.equal(defaults.production, false);

    const env = { ...base, PORT: '9000', RTC_UDP_PORT: '40000', DATA_DIR: '/tmp/x' };
    assert.equal(loadConfig([], env).port, 9000);
    const flagged = loadConfig(['-port', '9100', '--rtc-udp-port=40100', '-data-dir=/tmp/y'], env);
    assert.deepEqual([flagged.port, flagged.rtcUdpPort, flagged.dataDir], [9100, 40100, '/tmp/y']);
    assert.equal(loadConfig(['--port', '9200'], env).port, 9200);
  });

  test('the predecessor’s flags and env names all work', () => {
    const config = loadConfig(
      [
        '-port',
        '8081',
        '-admin-key',
        'my-secret-key-1',
        '-rtc-udp-port',
        '50001',
        '-turn-server',
        'turn:1.2.3.4:3478',
        '-turn-user',
        'u',
        '-turn-pass',
        'p',
      ],
      base,
    );
    assert.equal(config.adminKey, 'my-secret-key-1');
    assert.deepEqual(config.turnServer, ['turn:1.2.3.4:3478']);
    assert.deepEqual([config.turnUser, config.turnPass], ['u', 'p']);
    const fromEnv = loadConfig([], {
      ...base,
      ADMIN_KEY: 'my-secret-key-2',
      TURN_SERVER: 'turn:a.example:3478?transport=udp, turns:a.example:5349,stun:a.example',
      TURN_USER: 'u',
      TURN_PASS: 'p',
      TRUSTED_PROXIES: 'loopback, 10.0.0.0/8, fd00::/8, 192.0.2.1',
      ALLOWED_ORIGINS: 'https://voice.example.com,http://localhost:5173',
      NODE_ENV: 'production',
    });
    assert.equal(fromEnv.adminKey, 'my-secret-key-2');
    assert.equal(fromEnv.adminKeyGenerated, false);
    assert.equal(fromEnv.production, true);
    assert.equal(fromEnv.turnServer.length, 3);
    assert.deepEqual(fromEnv.trustedProxies, ['loopback', '10.0.0.0/8', 'fd00::/8', '192.0.2.1']);
    assert.deepEqual(fromEnv.allowedOrigins, [
      'https://voice.example.com',
      'http://localhost:5173',
    ]);
  });

  test('the default admin key: replaced by a random one outside production, refused in it', () => {
    const a = loadConfig([], base);
    const b = loadConfig([], { ...base, ADMIN_KEY: DEFAULT_ADMIN_KEY });
    for (const config of [a, b]) {
      assert.equal(config.adminKeyGenerated, true);
      assert.notEqual(config.adminKey, DEFAULT_ADMIN_KEY);
      assert.ok(config.adminKey.length >= 20);
    }
    assert.notEqual(a.adminKey, b.adminKey);
    const message = configError([], { NODE_ENV: 'production' });
    assert.match(message, /ADMIN_KEY/);
    assert.match(message, /change-me-123 is refused when NODE_ENV=production/);
  });

  test('every bad setting is named with its allowed form', () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [[], { PORT: 'abc' }, /-port \/ PORT: must be a number \(got "abc"\)/],
      [[], { PORT: '70000' }, /-port \/ PORT: must be 1-65535/],
      [['-rtc-udp-port', '0'], {}, /-rtc-udp-port \/ RTC_UDP_PORT: must be 1-65535/],
      [['-bogus'], {}, /bogus.*--help/s],
      [
        [],
        { TURN_SERVER: 'http://turn.example' },
        /TURN_SERVER: each URL must look like turn:host:3478.*"http:\/\/turn.example"/,
      ],
      [[], { TURN_SERVER: 'turn:ok.example:3478,turn:bad host' }, /TURN_SERVER.*"turn:bad host"/],
      [
        [],
        { TURN_SERVER: 'turn:a.example', TURN_USER: 'u' },
        /TURN_USER.*TURN_PASS: set both or neither/,
      ],
      [
        [],
        { TRUSTED_PROXIES: 'everyone' },
        /TRUSTED_PROXIES: each item must be an IP, a CIDR range.*"everyone"/,
      ],
      [[], { TRUSTED_PROXIES: '10.0.0.0/33' }, /TRUSTED_PROXIES.*"10.0.0.0\/33"/],
      [
        [],
        { ALLOWED_ORIGINS: 'https://a.example/path' },
        /ALLOWED_ORIGINS: each item must be an origin/,
      ],
      [[], { NODE_ENV: 'staging' }, /NODE_ENV: must be production, development or test/],
      [[], { LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
      [[], { HTTP_HOST: 'localhost' }, /HTTP_HOST: must be an IPv4 or IPv6 address/],
      [[], { ROOM_CAPACITY: '1' }, /ROOM_CAPACITY/],
    ];
    for (const [argv, env, pattern] of cases) assert.match(configError(argv, env), pattern);
  });

  test('pipes between nodes: addresses default to the media ones, ports are a range', () => {
    const defaults = loadConfig([], base);
    assert.equal(defaults.pipeListenIp, '0.0.0.0');
    assert.equal(defaults.pipeAnnouncedAddress, '127.0.0.1', 'the RTC announced IP');
    assert.deepEqual(defaults.pipePorts, { min: 40000, max: 40999 });
    assert.equal(defaults.nodeConsumerBudget, 2000);
    const named = loadConfig([], {
      RTC_ANNOUNCED_ADDRESS: 'voice.example.com',
      RTC_LISTEN_IP: '10.0.0.5',
      PIPE_PORTS: '41000-41009',
      NODE_CONSUMER_BUDGET: '3',
    });
    assert.equal(named.pipeListenIp, '10.0.0.5');
    assert.equal(named.pipeAnnouncedAddress, '10.0.0.5', 'a host name cannot be piped to');
    assert.deepEqual(named.pipePorts, { min: 41000, max: 41009 });
    assert.equal(named.nodeConsumerBudget, 3);
    assert.match(configError([], { PIPE_PORTS: '41000' }), /PIPE_PORTS: must be a range/);
    assert.match(configError([], { PIPE_PORTS: '5000-4000' }), /PIPE_PORTS: must be low-high/);
    assert.match(
      configError([], { PIPE_ANNOUNCED_ADDRESS: 'pipe.example.com' }),
      /PIPE_ANNOUNCED_ADDRESS/,
    );
  });

  test('a rejected secret is never echoed back', () => {
    const message = configError(['-admin-key', 'short-Xy'], {});
    assert.match(message, /-admin-key \/ ADMIN_KEY: must be at least 12 characters/);
    assert.doesNotMatch(message, /short-Xy/);
  });

  test('--help lists every setting', () => {
    assert.throws(
      () => loadConfig(['--help'], base),
      (error: Error) => {
        assert.ok(error instanceof HelpRequested);
        for (const { flag, env } of Object.values(settings)) {
          assert.ok(error.message.includes(`-${flag}`) && error.message.includes(env), flag);
        }
        return true;
      },
    );
  });
});

/** The parent's environment without any GhostTalk setting, plus `env`. */

async function validEnv(dataDir: string): Promise<Record<string, string>> {
  return {
    PORT: String(await freePort()),
    RTC_UDP_PORT: String(await freePort()),
    HTTP_HOST: '127.0.0.1',
    RTC_LISTEN_IP: '127.0.0.1',
    RTC_ANNOUNCED_ADDRESS: '127.0.0.1',
    DATA_DIR: dataDir,
  };
}

async function run(env: Record<string, string>) {
  const { child, out, err } = startMain(env);
  const code = await exited(child);
  return { code, stdout: out(), stderr: err() };
}

describe('node src/main.ts refuses to start on bad data, exit code 2', { timeout: 60_000 }, () => {
  test('an unwritable DATA_DIR', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'not a folder');
    const result = await run({ ...(await validEnv(join(file, 'data'))) });
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /-data-dir \/ DATA_DIR: cannot write to ".*a-file\/data" \(ENOTDIR\)/,
    );
    assert.doesNotMatch(result.stdout, /GhostTalk is running/);
  });

  test('the default admin key in production', async () => {
    const dir = join(scratch, 'prod');
    const result = await run({ ...(await validEnv(dir)), NODE_ENV: 'production' });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /ADMIN_KEY: the default key change-me-123 is refused/);
    assert.equal(existsSync(dir), false, 'nothing created');
  });

  test('a corrupt banned_ips.json: named, left intact', async () => {
    const dir = mkdtempSync(join(scratch, 'corrupt-'));
    const file = join(dir, 'banned_ips.json');
    const content = '["203.0.113.7", "10.0.0.0/8"';
    writeFileSync(file, content);
    const result = await run({ ...(await validEnv(dir)), ADMIN_KEY: 'config-test-key-123' });
    assert.equal(result.code, 2, result.stderr);
    assert.ok(result.stderr.includes(file), result.stderr);
    assert.match(result.stderr, /not valid/);
    assert.equal(readFileSync(file, 'utf8'), content);
    assert.doesNotMatch(result.stdout, /GhostTalk is running/);
  });
});

describe('node src/main.ts with the default admin key outside production', {
  timeout: 60_000,
}, () => {
  test('prints a generated key once on the console; it works; server.log never has it', async () => {
    const dir = mkdtempSync(join(scratch, 'generated-'));
    const env = await validEnv(dir);
    const { child, out, err } = startMain(env);
    try {
      const deadline = Date.now() + 20_000;
      while (!/Admin console: \S+/.test(out())) {
        if (child.exitCode !== null || Date.now() > deadline) assert.fail(`not ready:\n${err()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const key = /generated for this run only:\n {2}(\S+)/.exec(out())?.[1];
      assert.ok(key && key.length >= 20 && key !== DEFAULT_ADMIN_KEY, out());
      const stats = await fetch(`http://127.0.0.1:${env.PORT}/admin?action=stats`, {
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(stats.status, 200);
      const old = await fetch(
        `http://127.0.0.1:${env.PORT}/admin?key=${DEFAULT_ADMIN_KEY}&action=stats`,
      );
      assert.equal(old.status, 403, 'the well-known default opens nothing');
      child.kill('SIGTERM');
      assert.equal(await exited(child), 0);
      const log = readFileSync(join(dir, 'server.log'), 'utf8');
      assert.ok(log.includes('"message":"configuration"'), 'the effective configuration is logged');
      assert.equal(log.includes(key), false, 'key not in server.log');
      assert.equal(out().split(key).length - 1, 2, 'shown once (and in the console URL)');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
