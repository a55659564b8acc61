/** The E2EE crypto core of the browser app (client/src/e2ee), run on Node's WebCrypto. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  deriveSenderKey,
  FRAME_OVERHEAD_BYTES,
  FrameDecryptor,
  FrameEncryptor,
} from '../client/src/e2ee/frameCipher.ts';
import { newRoomKey, parseRoomKey, safetyCode } from '../client/src/e2ee/roomKey.ts';

const ROOM_KEY = 'AAECAwQFBgcICQoLDA0ODw'; // bytes 0..15
const OTHER_KEY = 'AQIDBAUGBwgJCgsMDQ4PEA'; // bytes 1..16
const TOC = 0x78; // Opus SILK WB 20 ms, mono, one frame

function opusFrame(length: number, seed = 1): ArrayBuffer {
  const bytes = new Uint8Array(length);
  bytes[0] = TOC;
  for (let i = 1; i < length; i++) bytes[i] = (i * 31 + seed) & 255;
  return bytes.buffer;
}

const bytesOf = (buffer: ArrayBuffer) => [...new Uint8Array(buffer)];
const ivOf = (sealed: ArrayBuffer) => Buffer.from(sealed.slice(-12)).toString('hex');

async function pair(roomKey = ROOM_KEY, senderId = 'peer-a') {
  const key = await deriveSenderKey(roomKey, senderId);
  return { encryptor: new FrameEncryptor(key), decryptor: new FrameDecryptor(key) };
}

describe('frame encryption', () => {
  test('a frame round-trips, with the TOC byte in the clear and exactly the overhead', async () => {
    const { encryptor, decryptor } = await pair();
    for (const length of [1, 2, 60, 120, 1275]) {
      const frame = opusFrame(length, length);
      const sealed = await encryptor.encrypt(frame);
      assert.equal(sealed.byteLength, length + FRAME_OVERHEAD_BYTES);
      assert.equal(new Uint8Array(sealed)[0], TOC);
      if (length > 8) {
        // The payload does not show through.
        assert.notDeepEqual(bytesOf(sealed).slice(1, length), bytesOf(frame).slice(1));
      }
      const opened = await decryptor.decrypt(sealed);
      assert.ok(opened, `frame of ${length} bytes decrypts`);
      assert.deepEqual(bytesOf(opened), bytesOf(frame));
    }
    assert.equal(FRAME_OVERHEAD_BYTES, 28);
    assert.equal(decryptor.decrypted, 5);
    assert.equal(decryptor.failed, 0);
  });

  test('the TOC byte is authenticated: changing it fails the frame', async () => {
    const { encryptor, decryptor } = await pair();
    const sealed = new Uint8Array(await encryptor.encrypt(opusFrame(80)));
    sealed[0] = TOC ^ 0x04; // mono to stereo
    assert.equal(await decryptor.decrypt(sealed.buffer), null);
    assert.equal(decryptor.failed, 1);
  });

  test('any flipped bit in ciphertext, tag or IV fails the frame', async () => {
    const { encryptor, decryptor } = await pair();
    const sealed = await encryptor.encrypt(opusFrame(40));
    for (const at of [1, 20, 40 + 15, sealed.byteLength - 12, sealed.byteLength - 1]) {
      const copy = new Uint8Array(sealed.slice(0));
      copy[at] = (copy[at] as number) ^ 1;
      assert.equal(await decryptor.decrypt(copy.buffer), null, `byte ${at}`);
    }
    assert.equal(decryptor.failed, 5);
    assert.ok(await decryptor.decrypt(sealed), 'the untouched frame still decrypts');
  });

  test("another sender's key or another room's key gives null, counted", async () => {
    const { encryptor } = await pair(ROOM_KEY, 'peer-a');
    const otherSender = new FrameDecryptor(await deriveSenderKey(ROOM_KEY, 'peer-b'));
    const otherRoom = new FrameDecryptor(await deriveSenderKey(OTHER_KEY, 'peer-a'));
    for (let i = 0; i < 3; i++) {
      const sealed = await encryptor.encrypt(opusFrame(60, i));
      assert.equal(await otherSender.decrypt(sealed), null);
      assert.equal(await otherRoom.decrypt(sealed), null);
    }
    assert.deepEqual([otherSender.decrypted, otherSender.failed], [0, 3]);
    assert.deepEqual([otherRoom.decrypted, otherRoom.failed], [0, 3]);
  });

  test('the same room key and sender id give the same key in separate derivations', async () => {
    const encryptor = new FrameEncryptor(await deriveSenderKey(ROOM_KEY, 'peer-a'));
    const decryptor = new FrameDecryptor(await deriveSenderKey(ROOM_KEY, 'peer-a'));
    assert.ok(await decryptor.decrypt(await encryptor.encrypt(opusFrame(50))));
  });

  test('IVs never repeat, within an encryptor and between two with the same key', async () => {
    const key = await deriveSenderKey(ROOM_KEY, 'peer-a');
    const first = new FrameEncryptor(key);
    const second = new FrameEncryptor(key);
    const seen = new Set<string>();
    const prefixes = new Set<string>();
    const counters: bigint[] = [];
    for (let i = 0; i < 2_000; i++) {
      const a = await first.encrypt(opusFrame(20, i));
      const b = await second.encrypt(opusFrame(20, i));
      for (const iv of [ivOf(a), ivOf(b)]) {
        assert.ok(!seen.has(iv), `IV ${iv} repeated`);
        seen.add(iv);
        prefixes.add(iv.slice(0, 8));
      }
      counters.push(new DataView(a, a.byteLength - 8).getBigUint64(0));
    }
    assert.equal(seen.size, 4_000);
    assert.equal(prefixes.size, 2, 'one random prefix per encryptor');
    for (let i = 1; i < counters.length; i++) {
      assert.equal(counters[i], (counters[i - 1] as bigint) + 1n, 'the counter counts up');
    }
  });

  test('the counter refuses to wrap', async () => {
    const key = await deriveSenderKey(ROOM_KEY, 'peer-a');
    const encryptor = new FrameEncryptor(key, 0xffff_ffff_ffff_fffen);
    await encryptor.encrypt(opusFrame(10));
    const last = await encryptor.encrypt(opusFrame(10));
    assert.equal(ivOf(last).slice(8), 'ffffffffffffffff');
    await assert.rejects(encryptor.encrypt(opusFrame(10)), /exhausted/);
  });

  test('a replayed frame is refused, also when the copies arrive at once', async () => {
    const { encryptor, decryptor } = await pair();
    const sealed = await encryptor.encrypt(opusFrame(60));
    assert.ok(await decryptor.decrypt(sealed));
    assert.equal(await decryptor.decrypt(sealed), null);

    const next = await encryptor.encrypt(opusFrame(60, 2));
    const results = await Promise.all([decryptor.decrypt(next), decryptor.decrypt(next.slice(0))]);
    assert.equal(results.filter((r) => r !== null).length, 1, 'only one copy is accepted');
    assert.deepEqual([decryptor.decrypted, decryptor.failed], [2, 2]);
  });

  test('frames out of order within the window are accepted, once; older ones are not', async () => {
    const { encryptor, decryptor } = await pair();
    const frames: ArrayBuffer[] = [];
    for (let i = 0; i < 200; i++) frames.push(await encryptor.encrypt(opusFrame(30, i)));
    const [f0, f1, f2] = frames as [ArrayBuffer, ArrayBuffer, ArrayBuffer];
    assert.ok(await decryptor.decrypt(f2));
    assert.ok(await decryptor.decrypt(f0), 'late but within the window');
    assert.ok(await decryptor.decrypt(f1));
    assert.equal(await decryptor.decrypt(f0), null, 'replayed');
    assert.ok(await decryptor.decrypt(frames[199] as ArrayBuffer));
    assert.equal(await decryptor.decrypt(frames[20] as ArrayBuffer), null, 'behind the window');
    assert.ok(await decryptor.decrypt(frames[150] as ArrayBuffer), 'inside the window');
  });

  test("a sender's new session (new prefix) is accepted, its old frames still not replayable", async () => {
    const key = await deriveSenderKey(ROOM_KEY, 'peer-a');
    const decryptor = new FrameDecryptor(key);
    const before = await new FrameEncryptor(key).encrypt(opusFrame(30));
    assert.ok(await decryptor.decrypt(before));
    const after = new FrameEncryptor(key);
    assert.ok(await decryptor.decrypt(await after.encrypt(opusFrame(30))));
    assert.equal(await decryptor.decrypt(before), null);
  });

  test('truncated and garbage frames give null and never throw', async () => {
    const { encryptor, decryptor } = await pair();
    const sealed = await encryptor.encrypt(opusFrame(60));
    const bad: ArrayBuffer[] = [
      new Uint8Array([TOC]).buffer,
      sealed.slice(0, 28),
      sealed.slice(0, sealed.byteLength - 1),
      sealed.slice(1),
      opusFrame(60), // a clear frame, as an unencrypted sender would send
      crypto.getRandomValues(new Uint8Array(29)).buffer,
      crypto.getRandomValues(new Uint8Array(500)).buffer,
      new Uint8Array(100).buffer,
    ];
    for (const frame of bad) assert.equal(await decryptor.decrypt(frame), null);
    assert.deepEqual([decryptor.decrypted, decryptor.failed], [0, bad.length]);
    assert.ok(await decryptor.decrypt(sealed), 'failures do not spoil the next good frame');
  });

  test('an empty frame passes unchanged both ways', async () => {
    const { encryptor, decryptor } = await pair();
    const empty = new ArrayBuffer(0);
    assert.equal((await encryptor.encrypt(empty)).byteLength, 0);
    assert.equal((await decryptor.decrypt(empty))?.byteLength, 0);
    assert.deepEqual([decryptor.decrypted, decryptor.failed], [0, 0]);
  });

  test('a malformed room key is refused when deriving', async () => {
    await assert.rejects(deriveSenderKey('short', 'peer-a'), /malformed/);
  });
});

describe('room keys', () => {
  test('new keys are 22 characters of base64url, parse, and differ', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const key = newRoomKey();
      assert.match(key, /^[A-Za-z0-9_-]{22}$/);
      assert.deepEqual(parseRoomKey(`#${key}`), { ok: true, key });
      keys.add(key);
    }
    assert.equal(keys.size, 50);
  });

  test('parseRoomKey: ok with or without #, missing when empty, malformed otherwise', () => {
    const k32 = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8'; // 32 bytes, 43 chars
    assert.deepEqual(parseRoomKey(ROOM_KEY), { ok: true, key: ROOM_KEY });
    assert.deepEqual(parseRoomKey(`#${ROOM_KEY}`), { ok: true, key: ROOM_KEY });
    assert.deepEqual(parseRoomKey(k32), { ok: true, key: k32 });
    assert.deepEqual(parseRoomKey('AAECAwQFBgcICQoLDA0ODxA'), {
      ok: true,
      key: 'AAECAwQFBgcICQoLDA0ODxA',
    }); // 17 bytes
    for (const empty of ['', '#']) {
      assert.deepEqual(parseRoomKey(empty), { ok: false, reason: 'missing' }, empty);
    }
    const malformed = [
      'AAECAwQFBgcICQoLDA0OD', // 21 chars: a length no encoding has
      'AAECAwQFBgcICQoLDA0O', // 15 bytes: too short
      'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g', // 33 bytes: too long
      'AAECAwQFBgcICQoLDA0OD+', // '+' is base64, not base64url
      'AAECAwQFBgcICQoLDA0OD/',
      'AAECAwQFBgcICQoLDA0ODw==', // padding
      'AAECAwQFBgcICQoLDA0ODx', // non-zero unused bits: not the canonical spelling
      ` ${ROOM_KEY}`,
      `${ROOM_KEY}&x=1`,
      `##${ROOM_KEY}`,
      'AAECAwQFBgcICQoLDA0ODé',
    ];
    for (const text of malformed) {
      assert.deepEqual(parseRoomKey(text), { ok: false, reason: 'malformed' }, text);
    }
  });

  test('the safety code is stable, two groups of four digits, and differs between keys', async () => {
    const code = await safetyCode(ROOM_KEY);
    assert.match(code, /^\d{4} \d{4}$/);
    assert.equal(await safetyCode(ROOM_KEY), code);
    // Pinned: the same key must give the same code in every browser and every version.
    const digest = new Uint8Array(
      await crypto.subtle.digest(
        'SHA-256',
        Buffer.concat([
          Buffer.from('GhostTalk safety code v1'),
          Buffer.from(ROOM_KEY, 'base64url'),
        ]),
      ),
    );
    const expected = String(Number(Buffer.from(digest.slice(0, 5)).readUIntBE(0, 5) % 1e8))
      .padStart(8, '0')
      .replace(/^(\d{4})/, '$1 ');
    assert.equal(code, expected);
    assert.notEqual(await safetyCode(OTHER_KEY), code);

    const codes = new Set<string>();
    for (let i = 0; i < 200; i++) codes.add(await safetyCode(newRoomKey()));
    assert.ok(codes.size >= 199, 'random keys give different codes');
    await assert.rejects(safetyCode('nope'), /malformed/);
  });
});
