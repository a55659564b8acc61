import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { types } from 'mediasoup';
import winston from 'winston';
import { redact } from '../src/logging/redact.ts';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

const KEY = 'logs-test-admin-key-SECRET';
const TURN_PASS = 'turn-password-SECRET';
let ts: TestServer;

before(async () => {
  ts = await startTestServer({
    ADMIN_KEY: KEY,
    TURN_SERVER: 'turn:127.0.0.1:3478',
    TURN_USER: 'ghost',
    TURN_PASS,
  });
});

after(async () => {
  await ts.stop();
});

function readLog(): Record<string, unknown>[] {
  const text = readFileSync(join(ts.dataDir, 'server.log'), 'utf8');
  return text
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('server.log', () => {
  test('JSON lines with timestamp, level, message and the documented context', async () => {
    const c = await SignalingClient.connect(ts.url);
    const { routerRtpCapabilities } = await c.call('capabilities', {});
    const { peerId } = await c.call('join', {
      roomId: 'logged',
      nickname: 'Zoë',
      rtpCapabilities: routerRtpCapabilities as types.RtpCapabilities,
    });
    c.close();
    // Admin traffic with the key in the URL and in a header, and a failed attempt.
    await fetch(`${ts.url}/admin?key=${KEY}&action=stats`);
    await fetch(`${ts.url}/admin?action=ban&ip=192.0.2.1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}` },
    });
    await fetch(`${ts.url}/admin?key=not-${KEY}&action=stats`);
    await sleep(500);

    const entries = readLog();
    for (const entry of entries) {
      assert.ok(!Number.isNaN(Date.parse(String(entry.timestamp))), 'ISO timestamp');
      assert.ok(['error', 'warn', 'info', 'debug'].includes(String(entry.level)));
      assert.equal(typeof entry.message, 'string');
    }
    const joined = entries.find((e) => e.message === 'peer joined' && e.peer === peerId);
    assert.deepEqual(
      { room: joined?.room, nickname: joined?.nickname, ip: joined?.ip },
      { room: 'logged', nickname: 'Zoë', ip: '127.0.0.1' },
    );
    const left = entries.find((e) => e.message === 'peer left' && e.peer === peerId);
    assert.equal(typeof left?.durationMs, 'number');
    assert.ok(entries.some((e) => e.message === 'room created' && e.room === 'logged'));
    const banned = entries.find((e) => e.message === 'admin banned address');
    assert.deepEqual(banned?.admin, { via: 'http', ip: '127.0.0.1' });
    assert.ok(entries.some((e) => e.message === 'admin login refused' && e.ip === '127.0.0.1'));
  });

  test('never holds the admin key or the TURN password', () => {
    const text = readFileSync(join(ts.dataDir, 'server.log'), 'utf8');
    assert.ok(text.length > 0);
    assert.equal(text.includes('SECRET'), false, 'no secret in server.log');
  });

  test('the redaction format masks secret fields, key= parameters and known values', () => {
    const format = winston.format.combine(
      redact({ secrets: ['s3cr3t-value'] }),
      winston.format.json(),
    );
    const info = format.transform({
      level: 'info',
      message: 'GET /admin?key=abc123&action=stats carrying s3cr3t-value',
      key: 'k',
      adminKey: 'k',
      password: 'p',
      turnPass: 'p',
      nested: { credential: 'c', authorization: 'Bearer x', secretToken: 't', room: 'r' },
      ip: '127.0.0.1',
    }) as Record<string | symbol, unknown>;
    const out = JSON.parse(String(info[Symbol.for('message')])) as Record<string, unknown>;
    assert.equal(out.message, 'GET /admin?key=[redacted]&action=stats carrying [redacted]');
    for (const field of ['key', 'adminKey', 'password', 'turnPass']) {
      assert.equal(out[field], '[redacted]', field);
    }
    assert.deepEqual(out.nested, {
      credential: '[redacted]',
      authorization: '[redacted]',
      secretToken: '[redacted]',
      room: 'r',
    });
    assert.equal(out.ip, '127.0.0.1');
  });
});
