import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import {
  iceServersFor,
  iceUrlHost,
  mintTurnCredentials,
  resolveRelayAddresses,
} from '../src/signaling/iceServers.ts';

/** The same HMAC computed by an independent implementation: openssl's command line. */
function opensslHmacSha1Base64(secret: string, message: string): string {
  const raw = execFileSync('openssl', ['dgst', '-sha1', '-hmac', secret, '-binary'], {
    input: message,
  });
  return raw.toString('base64');
}

test('TURN REST credentials match an independently computed HMAC-SHA1', () => {
  const now = Date.UTC(2026, 10, 30, 12, 0, 0);
  const { username, credential, expiresAt } = mintTurnCredentials('s3cret', 'peer-1', 3600, now);
  assert.equal(expiresAt, now / 1000 + 3600);
  assert.equal(username, `${now / 1000 + 3600}:peer-1`);
  assert.equal(credential, opensslHmacSha1Base64('s3cret', username));
  // A known vector, fixed here so a change of algorithm cannot pass unnoticed.
  assert.equal(username, '1796043600:peer-1');
  assert.equal(credential, 'usM0SMj/UJdiKBgdzQTUbWX2x+A=');
  assert.notEqual(credential, mintTurnCredentials('other', 'peer-1', 3600, now).credential);
});

test('ICE servers: STUN only when configured, static or minted TURN credentials', () => {
  assert.deepEqual(iceServersFor({ urls: [], ttlSeconds: 60 }, 'p'), []);
  const urls = ['stun:turn.example.org:3478', 'turn:turn.example.org:3478?transport=udp'];
  assert.deepEqual(iceServersFor({ urls, username: 'u', password: 'p', ttlSeconds: 60 }, 'p'), [
    { urls: ['stun:turn.example.org:3478'] },
    { urls: ['turn:turn.example.org:3478?transport=udp'], username: 'u', credential: 'p' },
  ]);
  const minted = iceServersFor({ urls, secret: 'k', ttlSeconds: 60 }, 'peer-9', 1_000_000);
  assert.equal(minted[1]?.username, '1060:peer-9');
  assert.equal(minted[1]?.credential, opensslHmacSha1Base64('k', '1060:peer-9'));
  assert.ok(!JSON.stringify(minted).includes('"k"'));
});

test('relay addresses come from the TURN URLs, not the STUN ones', async () => {
  assert.equal(iceUrlHost('turn:[::1]:3478?transport=tcp'), '::1');
  assert.equal(iceUrlHost('turns:turn.example.org:5349'), 'turn.example.org');
  const addresses = await resolveRelayAddresses([
    'stun:127.0.0.9:3478',
    'turn:127.0.0.2:3478?transport=udp',
    'turn:localhost:3478',
  ]);
  assert.ok(addresses.has('127.0.0.2'));
  assert.ok(addresses.has('127.0.0.1') || addresses.has('::1'));
  assert.ok(!addresses.has('127.0.0.9'));
});
