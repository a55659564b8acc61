import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { WeriftClient } from './support/weriftClient.ts';

/**
 * A silent person's 1-byte Opus DTX frames stop at the SFU (audioConsumerOptions:
 * ignoreDtx); their comfort-noise frames, and speech, go through. Real WebRTC clients
 * (werift) through signaling and a real worker.
 */
let ts: TestServer;

before(async () => {
  ts = await startTestServer();
});

after(async () => {
  await ts.stop();
});

/** An Opus TOC byte alone (code 0: one frame, of no bytes): what Chromium sends in silence. */
const DTX_FRAME = Buffer.from([0x48]);
/** A comfort-noise frame, the size Chromium's are (35 bytes). */
const COMFORT_NOISE_FRAME = Buffer.alloc(35, 0x48);

test('DTX frames are dropped for listeners, comfort noise is not', {
  timeout: 30_000,
}, async () => {
  const roomId = 'dtx-room';
  const ann = await WeriftClient.create({ url: ts.url, roomId, nickname: 'Ann' });
  const bob = await WeriftClient.create({ url: ts.url, roomId, nickname: 'Bob', produce: false });
  try {
    // Speech first, so the consumer is known to be flowing before silence starts.
    for (let i = 0; i < 10; i++) {
      ann.sendRtp(Buffer.alloc(100, 0x48));
      await sleep(20);
    }
    await bob.waitForPackets(ann.peerId, 10, 10_000);
    const pairs = 40;
    for (let i = 0; i < pairs; i++) {
      ann.sendRtp(COMFORT_NOISE_FRAME);
      await sleep(10);
      ann.sendRtp(DTX_FRAME);
      await sleep(10);
    }
    await bob.waitForPackets(ann.peerId, 10 + pairs, 10_000);
    await sleep(500);
    const silence = bob.receivedFrom(ann.peerId) - 10;
    // Loopback loses nothing here; every DTX frame forwarded would make this 80.
    assert.equal(silence, pairs, `${silence} of ${2 * pairs} silent frames reached Bob`);
  } finally {
    ann.close({ abrupt: true });
    bob.close({ abrupt: true });
  }
});
