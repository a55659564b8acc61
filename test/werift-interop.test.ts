/**
 * A real mediasoup worker (our build) forwarding Opus RTP between two werift peers over
 * DTLS-SRTP on 127.0.0.1, once per SRTP profile. A worker crash during the DTLS
 * handshake or forwarding fails the test at once instead of hanging it.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { types } from 'mediasoup';
import { closeLogger, createLogger, type Logger } from '../src/logging/createLogger.ts';
import { MediaWorker } from '../src/media/MediaWorker.ts';
import { mediaCodecs } from '../src/media/mediaCodecs.ts';
import { freePort } from './support/ports.ts';
import { type SrtpProfileName, WeriftReceiver, WeriftSender } from './support/weriftPeer.ts';

const PACKETS = 100;
const FRAME_MS = 20;
const profiles: SrtpProfileName[] = ['AEAD_AES_128_GCM', 'AES_CM_128_HMAC_SHA1_80'];

/** 100 distinct Opus-sized payloads: 80-120 random bytes, the index in the first two. */
function makePayloads(): Buffer[] {
  return Array.from({ length: PACKETS }, (_, index) => {
    const payload = randomBytes(randomInt(80, 121));
    payload.writeUInt16BE(index, 0);
    return payload;
  });
}

/** `work`, but rejected as soon as the worker process dies. */
async function unlessWorkerDies<T>(mediaWorker: MediaWorker, work: Promise<T>): Promise<T> {
  let onDied: ((error: Error) => void) | undefined;
  const died = new Promise<never>((_, reject) => {
    onDied = (error) => reject(new Error(`mediasoup worker died: ${error.message}`));
    mediaWorker.once('died', onDied);
  });
  try {
    return await Promise.race([work, died]);
  } finally {
    if (onDied) mediaWorker.off('died', onDied);
  }
}

describe('werift <-> mediasoup interop', () => {
  let logDir: string;
  let logger: Logger;
  let mediaWorker: MediaWorker;
  let router: types.Router;

  before(async () => {
    logDir = mkdtempSync(join(tmpdir(), 'ghosttalk-werift-'));
    logger = createLogger({ dataDir: logDir, level: 'warn', console: false });
    mediaWorker = await MediaWorker.create({
      index: 0,
      rtcPort: await freePort(),
      listenIp: '127.0.0.1',
      announcedAddress: '127.0.0.1',
      logger,
    });
    router = await mediaWorker.createRouter(mediaCodecs);
  });

  after(async () => {
    mediaWorker?.close();
    if (logger) await closeLogger(logger);
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  });

  function createTransport(): Promise<types.WebRtcTransport> {
    return router.createWebRtcTransport({
      webRtcServer: mediaWorker.webRtcServer,
      enableUdp: true,
      enableTcp: false,
    });
  }

  for (const srtpProfile of profiles) {
    test(`forwards ${PACKETS} Opus packets byte-exact over ${srtpProfile}`, {
      timeout: 60_000,
    }, async () => {
      let sender: WeriftSender | undefined;
      let receiver: WeriftReceiver | undefined;
      try {
        await unlessWorkerDies(
          mediaWorker,
          (async () => {
            sender = await WeriftSender.create({ transport: await createTransport(), srtpProfile });
            receiver = await WeriftReceiver.create({
              transport: await createTransport(),
              producerId: sender.producer.id,
              srtpProfile,
            });

            // DTLS completed on mediasoup's side: the worker survived the handshake.
            for (const transport of [sender.transport, receiver.transport]) {
              assert.equal(transport.dtlsState, 'connected');
              assert.ok(['connected', 'completed'].includes(transport.iceState));
              assert.equal(transport.iceSelectedTuple?.localAddress, '127.0.0.1');
              assert.equal(transport.iceSelectedTuple?.remoteIp, '127.0.0.1');
            }
            assert.equal(sender.srtpProfile, srtpProfile);
            assert.equal(receiver.srtpProfile, srtpProfile);

            const received: Buffer[] = [];
            const sequenceNumbers: number[] = [];
            receiver.on('rtp', (payload, header) => {
              received.push(payload);
              sequenceNumbers.push(header.sequenceNumber);
            });
            const payloads = makePayloads();
            for (const payload of payloads) {
              sender.sendRtp(payload);
              await sleep(FRAME_MS);
            }
            await receiver.waitForPackets(PACKETS, 10_000);
            await sleep(200); // anything extra (duplicates) would show up by now

            assert.equal(sender.sent, PACKETS);
            assert.equal(received.length, PACKETS, 'no packet lost or duplicated');
            assert.deepEqual(
              received.map((p) => p.toString('hex')),
              payloads.map((p) => p.toString('hex')),
              'every payload arrives byte-exact and in order',
            );
            for (let i = 1; i < sequenceNumbers.length; i++) {
              assert.equal(sequenceNumbers[i], ((sequenceNumbers[i - 1] ?? 0) + 1) & 0xffff);
            }

            const producerStats = await sender.producer.getStats();
            assert.ok(
              producerStats.some((s) => s.packetCount >= PACKETS),
              'producer counted the packets',
            );
          })(),
        );
      } finally {
        receiver?.close();
        sender?.close();
      }

      assert.ok(sender?.closed && receiver?.closed);
      sender?.close(); // idempotent
      receiver?.close();
      assert.equal(mediaWorker.closed, false, 'worker still alive');
      const dump = await router.dump();
      assert.deepEqual(dump.transportIds, [], 'no transports left on the router');
    });
  }
});
