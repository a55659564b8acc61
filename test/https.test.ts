/**
 * Built-in HTTPS (TLS_CERT / TLS_KEY, HTTP_REDIRECT_PORT) through the real entry point,
 * `node src/main.ts`: a CA and server certificates made by openssl, node https and
 * socket.io clients that trust that CA only. Certificates are renewed on disk the way
 * certbot does it (symlinks in live/ replaced by rename) and in place plus SIGHUP.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { io } from 'socket.io-client';
import { hostFromHeader, redirectLocation } from '../src/http/httpsRedirect.ts';
import { exited, type MainProcess, startMain } from './support/mainProcess.ts';
import { freePort } from './support/ports.ts';
import type { ClientSocket } from './support/signalingClient.ts';
import { startTestServer } from './support/testServer.ts';
import { waitFor } from './support/wait.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ghosttalk-https-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** `command` split on spaces: the paths in it (under the temp dir) have none. */
function openssl(command: string): void {
  execFileSync('openssl', command.split(' '), { cwd: scratch, stdio: 'pipe' });
}

const EC_KEY = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';

const caKey = join(scratch, 'ca.key');
const caCertFile = join(scratch, 'ca.pem');
openssl(`req -x509 ${EC_KEY} -keyout ${caKey} -out ${caCertFile} -subj /CN=test-ca -days 2`);
const ca = readFileSync(caCertFile, 'utf8');

type Issued = { cert: string; key: string; serial: string };
let issuedCount = 0;

/** A fresh key and a certificate for 127.0.0.1, ::1 and localhost, signed by the test CA. */
function issue({ days = 2 } = {}): Issued {
  issuedCount += 1;
  const dir = join(scratch, `issued-${issuedCount}`);
  mkdirSync(dir);
  const [key, csr, cert, ext] = ['key.pem', 'csr.pem', 'cert.pem', 'ext.cnf'].map((f) =>
    join(dir, f),
  ) as [string, string, string, string];
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n');
  openssl(`req ${EC_KEY} -keyout ${key} -out ${csr} -subj /CN=localhost`);
  const serial = (0x1000 + issuedCount).toString(16).toUpperCase();
  // -days -1 ends the validity a day before it starts: an expired certificate.
  openssl(
    `x509 -req -in ${csr} -CA ${caCertFile} -CAkey ${caKey} -set_serial 0x${serial} -days ${days} -extfile ${ext} -out ${cert}`,
  );
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8'), serial };
}

type Answer = { status: number; headers: Record<string, unknown>; body: string };

/** One HTTPS request on a new connection; `serial` is the certificate it was shown. */
function httpsGet(
  port: number,
  path: string,
  options: { ca?: string; rejectUnauthorized?: boolean } = { ca },
): Promise<Answer & { serial: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, agent: false, ...options }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, serial }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

function httpGet(port: number, path: string, host: string | undefined, method = 'GET') {
  return new Promise<Answer>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    if (host === undefined) req.removeHeader('host');
    else req.setHeader('host', host);
    req.on('error', reject);
    req.end();
  });
}

const servedSerial = async (port: number) => (await httpsGet(port, '/healthz')).serial;

/** The parent's environment without any GhostTalk setting, plus `env`. */

async function baseEnv(dataDir: string): Promise<Record<string, string>> {
  return {
    PORT: String(await freePort()),
    RTC_UDP_PORT: String(await freePort()),
    RTC_WORKERS: '1',
    HTTP_HOST: '127.0.0.1',
    RTC_LISTEN_IP: '127.0.0.1',
    RTC_ANNOUNCED_ADDRESS: '127.0.0.1',
    DATA_DIR: dataDir,
  };
}

function logEntries(dataDir: string): Record<string, unknown>[] {
  return readFileSync(join(dataDir, 'server.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function connectWss(port: number): Promise<ClientSocket> {
  const socket: ClientSocket = io(`https://127.0.0.1:${port}`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ca,
    rejectUnauthorized: true,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return socket;
}

async function joinRoom(socket: ClientSocket, roomId: string, nickname: string) {
  // Payloads untyped, as in signalingClient.ts.
  const emit = (event: string, payload: unknown) =>
    (
      socket.timeout(5000) as unknown as {
        emitWithAck: (
          e: string,
          p: unknown,
        ) => Promise<{ ok: boolean; data?: Record<string, unknown> }>;
      }
    ).emitWithAck(event, payload);
  const capabilities = await emit('capabilities', {});
  assert.ok(capabilities.ok, JSON.stringify(capabilities));
  const joined = await emit('join', {
    roomId,
    nickname,
    rtpCapabilities: capabilities.data?.routerRtpCapabilities,
  });
  assert.ok(joined.ok, JSON.stringify(joined));
}

describe('HTTPS from TLS_CERT / TLS_KEY (node src/main.ts)', { timeout: 120_000 }, () => {
  const dataDir = join(scratch, 'data');
  const live = join(scratch, 'live');
  const archive = join(scratch, 'archive');
  const turnSecret = 'turn-secret-Zq8wX4vB2nK7';
  let port: number;
  let redirectPort: number;
  let server: MainProcess;
  let socket: ClientSocket | undefined;
  let current: Issued;

  /** certbot's way: the new file lands in archive/, then a symlink in live/ is renamed over. */
  function link(name: 'cert' | 'key', version: number): void {
    const tmp = join(live, `.${name}.tmp`);
    symlinkSync(join(archive, `${name}${version}.pem`), tmp);
    renameSync(tmp, join(live, `${name}.pem`));
  }

  function store(issued: Issued, version: number): void {
    writeFileSync(join(archive, `cert${version}.pem`), issued.cert);
    writeFileSync(join(archive, `key${version}.pem`), issued.key);
  }

  const reloadLines = () =>
    logEntries(dataDir).filter((e) => String(e.message).startsWith('TLS certificate '));
  const reloadedLine = (issued: Issued) =>
    waitFor('the reload in server.log', () =>
      reloadLines().find(
        (e) => e.message === 'TLS certificate reloaded' && e.serial === issued.serial,
      ),
    );

  before(async () => {
    mkdirSync(live);
    mkdirSync(archive);
    current = issue();
    store(current, 1);
    link('cert', 1);
    link('key', 1);
    const env: Record<string, string> = {
      ...(await baseEnv(dataDir)),
      TLS_CERT: join(live, 'cert.pem'),
      TLS_KEY: join(live, 'key.pem'),
      HTTP_REDIRECT_PORT: String(await freePort()),
      TURN_SERVER: 'turn:127.0.0.1:3478',
      TURN_SECRET: turnSecret,
    };
    port = Number(env.PORT);
    redirectPort = Number(env.HTTP_REDIRECT_PORT);
    server = startMain(env);
    await waitFor(
      'the server to start',
      () => {
        if (server.child.exitCode !== null) throw new Error(`it exited:\n${server.err()}`);
        return /Admin console: \S+/.test(server.out());
      },
      { timeoutMs: 30_000 },
    );
  });

  after(async () => {
    socket?.disconnect();
    if (server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      assert.equal(await exited(server.child), 0, server.err());
    }
  });

  test('serves the page, the admin console and socket.io over HTTPS; the console says https', async () => {
    assert.match(
      server.out(),
      new RegExp(`GhostTalk is running: open https://127\\.0\\.0\\.1:${port}/`),
    );
    const adminUrl = /Admin console: (\S+)/.exec(server.out())?.[1] ?? '';
    assert.match(adminUrl, new RegExp(`^https://127\\.0\\.0\\.1:${port}/admin\\?key=`));

    const page = await httpsGet(port, '/');
    assert.equal(page.status, 200);
    assert.match(page.body, /<html/i);
    assert.equal(page.serial, current.serial);
    const admin = await httpsGet(port, new URL(adminUrl).pathname + new URL(adminUrl).search);
    assert.equal(admin.status, 200);
    assert.match(String(admin.headers['set-cookie']), /; Secure/i, 'the session cookie is Secure');
    await assert.rejects(httpsGet(port, '/', {}), /unable to verify the first certificate/);

    socket = await connectWss(port);
    await joinRoom(socket, 'tls-room', 'Ann');
  });

  test('a certificate renewed on disk (certbot-style rename) is served without a restart', async () => {
    const renewed = issue();
    store(renewed, 2);
    link('cert', 2);
    link('key', 2);
    await waitFor(
      'the renewed certificate',
      async () => (await servedSerial(port)) === renewed.serial,
    );
    current = renewed;
    assert.equal((await reloadedLine(renewed)).reason, 'file change');
    assert.equal(socket?.connected, true, 'an open socket.io connection stays up');
  });

  test('a broken renewal is not applied: the old certificate stays until the pair is whole', async () => {
    const next = issue();
    store(next, 3);
    link('cert', 3); // the key still belongs to the previous certificate
    const mismatch = await waitFor('a warning', () =>
      reloadLines().find((e) => /is not the private key/.test(String(e.error))),
    );
    assert.equal(mismatch.message, 'TLS certificate not reloaded; still serving the previous one');
    assert.equal(await servedSerial(port), current.serial);

    link('key', 3);
    await waitFor('the completed renewal', async () => (await servedSerial(port)) === next.serial);
    current = next;

    const expired = issue({ days: -1 });
    store(expired, 4);
    link('cert', 4);
    link('key', 4);
    const refused = await waitFor('a warning', () =>
      reloadLines().find((e) => /certificate expired at/.test(String(e.error))),
    );
    assert.equal(refused.serving, current.serial);
    assert.equal(await servedSerial(port), current.serial);
  });

  test('SIGHUP rereads the files, even a change the folder watch cannot see', async () => {
    // Rewritten in place behind the symlinks: live/, the watched folder, does not change.
    const renewed = issue();
    store(renewed, 4);
    server.child.kill('SIGHUP');
    await waitFor(
      'the certificate after SIGHUP',
      async () => (await servedSerial(port)) === renewed.serial,
    );
    current = renewed;
    assert.equal((await reloadedLine(renewed)).reason, 'SIGHUP');
    assert.equal(server.child.exitCode, null);
  });

  test('HTTP_REDIRECT_PORT answers 308 to https:// on PORT, only for names the certificate holds', async () => {
    const answer = await httpGet(
      redirectPort,
      '/r/tls-room?x=1&y=%20',
      `127.0.0.1:${redirectPort}`,
    );
    assert.equal(answer.status, 308);
    assert.equal(answer.headers.location, `https://127.0.0.1:${port}/r/tls-room?x=1&y=%20`);
    const post = await httpGet(redirectPort, '/admin', `LOCALHOST:${redirectPort}`, 'POST');
    assert.equal(post.status, 308);
    assert.equal(post.headers.location, `https://localhost:${port}/admin`);
    const v6 = await httpGet(redirectPort, '//evil.example/', '[::1]');
    assert.equal(v6.headers.location, `https://[::1]:${port}//evil.example/`);
    const followed = await httpsGet(port, new URL(String(answer.headers.location)).pathname);
    assert.equal(followed.status, 200);

    for (const host of [
      undefined,
      'evil.example',
      `evil.example:${port}`,
      'localhost@evil.example',
      '127.0.0.2',
    ]) {
      const refused = await httpGet(redirectPort, '/', host);
      assert.equal(refused.status, 400, `Host ${host}`);
      assert.equal(refused.headers.location, undefined);
    }
  });

  test('TURN_SECRET never reaches server.log, even where a log line holds its value', async () => {
    // The nickname is logged as given: here it is the secret.
    const other = await connectWss(port);
    try {
      await joinRoom(other, 'secret-room', turnSecret);
    } finally {
      other.disconnect();
    }
    const joined = await waitFor('the join in server.log', () =>
      logEntries(dataDir).find((e) => e.message === 'peer joined' && e.room === 'secret-room'),
    );
    assert.equal(joined.nickname, '[redacted]');
    const log = readFileSync(join(dataDir, 'server.log'), 'utf8');
    assert.equal(log.includes(turnSecret), false, 'TURN_SECRET in server.log');
  });
});

describe('unusable TLS files stop the start, exit code 2, naming the file', {
  timeout: 60_000,
}, () => {
  const dir = join(scratch, 'bad');
  const good = issue();
  const other = issue();
  const file = (name: string, content: string | Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  let cert: string;
  let key: string;

  before(() => {
    mkdirSync(dir);
    cert = file('cert.pem', good.cert);
    key = file('key.pem', good.key);
    openssl(`pkey -in ${key} -aes256 -passout pass:secret -out ${join(dir, 'encrypted.pem')}`);
  });

  async function refused(tls: Record<string, string>, pattern: RegExp): Promise<void> {
    const data = mkdtempSync(join(dir, 'data-'));
    const { child, out, err } = startMain({ ...(await baseEnv(data)), ...tls });
    assert.equal(await exited(child), 2, err());
    assert.match(err(), pattern);
    assert.doesNotMatch(out(), /GhostTalk is running/);
  }

  test('a missing file', async () => {
    await refused(
      { TLS_CERT: join(dir, 'missing.pem'), TLS_KEY: key },
      /-tls-cert \/ TLS_CERT: cannot read ".*missing\.pem" \(ENOENT\)/,
    );
  });

  test('a certificate file that is not PEM, or half written', async () => {
    const der = file('cert.der', new X509Certificate(good.cert).raw);
    await refused(
      { TLS_CERT: der, TLS_KEY: key },
      /TLS_CERT: ".*cert\.der" is not a PEM certificate/,
    );
    // A full chain cut off in the middle of the intermediate: the leaf alone parses.
    const half = file('half.pem', good.cert + ca.slice(0, ca.length / 2));
    await refused(
      { TLS_CERT: half, TLS_KEY: key },
      /TLS_CERT: ".*half\.pem": a certificate block has no -----END CERTIFICATE----- line/,
    );
    await refused({ TLS_CERT: key, TLS_KEY: cert }, /TLS_CERT: ".*key\.pem" .*swapped/);
  });

  test('a key that is not the certificate’s, is encrypted, or too weak for OpenSSL', async () => {
    const otherKey = file('other-key.pem', other.key);
    await refused(
      { TLS_CERT: cert, TLS_KEY: otherKey },
      /-tls-key \/ TLS_KEY: ".*other-key\.pem" is not the private key of the certificate in ".*cert\.pem"/,
    );
    await refused(
      { TLS_CERT: cert, TLS_KEY: join(dir, 'encrypted.pem') },
      /TLS_KEY: ".*encrypted\.pem" is encrypted with a passphrase/,
    );
    const weak = join(dir, 'weak');
    openssl(
      `req -x509 -newkey rsa:1024 -nodes -keyout ${weak}.key -out ${weak}.pem -subj /CN=weak`,
    );
    await refused(
      { TLS_CERT: `${weak}.pem`, TLS_KEY: `${weak}.key` },
      /TLS_CERT: ".*weak\.pem" with ".*weak\.key" cannot be used for TLS \(.*key too small\)/,
    );
  });

  test('only one of the pair, or a redirect without TLS', async () => {
    await refused({ TLS_CERT: cert }, /TLS_CERT and -tls-key \/ TLS_KEY: set both or neither/);
    await refused(
      { HTTP_REDIRECT_PORT: String(await freePort()) },
      /HTTP_REDIRECT_PORT: redirects to HTTPS, so it needs -tls-cert/,
    );
  });
});

test('an expired certificate is served with a warning, and /healthz says degraded', {
  timeout: 60_000,
}, async () => {
  const expired = issue({ days: -1 });
  const dir = mkdtempSync(join(scratch, 'expired-'));
  writeFileSync(join(dir, 'cert.pem'), expired.cert);
  writeFileSync(join(dir, 'key.pem'), expired.key);
  const running = await startTestServer({
    TLS_CERT: join(dir, 'cert.pem'),
    TLS_KEY: join(dir, 'key.pem'),
  });
  try {
    const port = running.server.address.port;
    await assert.rejects(httpsGet(port, '/healthz'), /certificate has expired/);
    const health = await httpsGet(port, '/healthz', { rejectUnauthorized: false });
    assert.equal(health.serial, expired.serial);
    const body = JSON.parse(health.body) as { status: string; reasons: string[] };
    assert.equal(body.status, 'degraded');
    assert.match(body.reasons.join(), /the TLS certificate expired at/);
    await waitFor('the warning', () =>
      logEntries(running.dataDir).some(
        (e) => e.level === 'warn' && /certificate expired at/.test(String(e.message)),
      ),
    );
  } finally {
    await running.stop();
  }
});

test('redirect targets: the Host header is parsed strictly and must be a certificate name', () => {
  const leaf = new X509Certificate(issue().cert);
  const at = (host: string | undefined, target = '/', port = 8443) =>
    redirectLocation(host, target, port, leaf);
  assert.equal(at('localhost:8080', '/r/a?x=1', 443), 'https://localhost/r/a?x=1');
  assert.equal(at('LocalHost.', '/'), 'https://localhost:8443/');
  assert.equal(at('[::1]:80', '/x'), 'https://[::1]:8443/x');
  assert.equal(at('127.0.0.1', '/a\\b'), 'https://127.0.0.1:8443/a/b');
  assert.equal(at('127.0.0.1', '//evil.example/x'), 'https://127.0.0.1:8443//evil.example/x');
  for (const host of [
    undefined,
    '',
    'evil.example',
    'localhost@evil.example',
    'localhost/x',
    'localhost\\x',
    'localhost:80:80',
    'local_host',
    '-localhost',
    '[127.0.0.1]',
    '[::1',
    '127.1',
    '0x7f.1',
    'localhost%2f',
  ]) {
    assert.equal(at(host), undefined, `Host ${host}`);
  }
  assert.equal(at('localhost', 'http://evil.example/'), undefined, 'absolute-form target');
  assert.equal(at('localhost', '*'), undefined);
  assert.deepEqual(hostFromHeader('Voice.Example.COM:80'), {
    kind: 'name',
    host: 'voice.example.com',
  });
  assert.deepEqual(hostFromHeader('[2001:DB8::1]:8080'), { kind: 'ip', host: '2001:db8::1' });
});
