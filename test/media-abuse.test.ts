import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { WeriftClient } from './support/weriftClient.ts';

let ts: TestServer;
const clients: WeriftClient[] = [];

before(async () => {
  // Default budget: 192 kbit/s averaged over 5 s.
  ts = await startTestServer();
});

after(async () => {
  for (const client of clients) client.close();
  await ts.stop();
});

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function logEntries(): Record<string, unknown>[] {
  return readFileSync(join(ts.dataDir, 'server.log'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('a microphone sending ~1 Mbit/s is turned off; speech-rate talkers and the room carry on', {
  timeout: 60_000,
}, async () => {
  const url = ts.url;
  const listener = await WeriftClient.create({ url, roomId: 'abuse', nickname: 'Listener' });
  clients.push(listener);
  const talker = await WeriftClient.create({ url, roomId: 'abuse', nickname: 'Talker' });
  clients.push(talker);
  const flooder = await WeriftClient.create({ url, roomId: 'abuse', nickname: 'Flooder' });
  clients.push(flooder);
  const room = ts.server.rooms.get('abuse');
  assert.ok(room);
  const producerOf = (client: WeriftClient) => room.peer(client.peerId).producer;

  const [sendStats] = await room.peer(flooder.peerId).sendTransport.getStats();
  assert.equal(sendStats?.maxIncomingBitrate, 192_000, 'send transport capped at the budget');

  const told = new Map<WeriftClient, string[]>();
  for (const client of clients) {
    told.set(client, []);
    client.signaling.socket.on('producerClosed', ({ reason }) => told.get(client)?.push(reason));
  }
  const closedAtListener: string[] = [];
  listener.signaling.socket.on('consumerClosed', ({ consumerId }) => {
    closedAtListener.push(consumerId);
  });

  // Speech: a 100-byte frame every 20 ms, ~45 kbit/s with RTP headers. Flood: two
  // 1200-byte packets every 20 ms, ~970 kbit/s, on the same SSRC as a real producer.
  const sending = setInterval(() => {
    talker.sendRtp(Buffer.alloc(100, 1));
    flooder.sendRtp(Buffer.alloc(1200, 2));
    flooder.sendRtp(Buffer.alloc(1200, 3));
  }, 20);
  try {
    // The flood reached the others before the server stepped in.
    await listener.waitForPackets(flooder.peerId, 20, 10_000);
    await listener.waitForPackets(talker.peerId, 20, 10_000);
    const floodConsumer = [...listener.consumers.values()].find((c) => c.peerId === flooder.peerId);
    assert.ok(floodConsumer);

    await until('the flooder to be told', () => (told.get(flooder)?.length ?? 0) > 0);
    assert.match(told.get(flooder)?.[0] ?? '', /turned off.*\d+ kbit\/s.*limit is 192/);
    assert.equal(producerOf(flooder)?.closed, true, 'the flooding producer is closed');
    await until('the listener’s consumer of it to close', () =>
      closedAtListener.includes(floodConsumer.id),
    );

    await until('the log line', () =>
      logEntries().some((e) => e.message === 'producer closed over its bitrate budget'),
    );
    const logged = logEntries().find(
      (e) => e.message === 'producer closed over its bitrate budget',
    );
    assert.equal(logged?.level, 'warn');
    assert.deepEqual(
      { room: logged?.room, peer: logged?.peer, ip: logged?.ip, maxKbps: logged?.maxKbps },
      { room: 'abuse', peer: flooder.peerId, ip: '127.0.0.1', maxKbps: 192 },
    );
    assert.ok(Number(logged?.kbps) > 500, `measured ${logged?.kbps} kbit/s`);

    // The flooder keeps sending; for a whole budget window more, nothing of it is fanned
    // out, while the talker is heard by both others and stays within budget.
    await sleep(500);
    const floodHeard = listener.receivedFrom(flooder.peerId);
    const talkerAtListener = listener.receivedFrom(talker.peerId);
    const talkerAtFlooder = flooder.receivedFrom(talker.peerId);
    await sleep(6000);
    assert.equal(listener.receivedFrom(flooder.peerId), floodHeard, 'no flood after closing');
    assert.ok(listener.receivedFrom(talker.peerId) >= talkerAtListener + 150, 'talker heard');
    assert.ok(flooder.receivedFrom(talker.peerId) >= talkerAtFlooder + 150, 'flooder still hears');
    assert.equal(producerOf(talker)?.closed, false, 'the speech-rate producer is open');
    assert.deepEqual(told.get(talker), []);
    assert.deepEqual(told.get(listener), []);
    assert.equal(room.peers.size, 3, 'everyone is still in the room');
  } finally {
    clearInterval(sending);
  }

  // A fresh producer on the same transport would start over with a fresh window.
  const again = await flooder.signaling.request('produce', {
    transportId: flooder.joined.sendTransport.id,
    kind: 'audio',
    rtpParameters: {
      codecs: [
        {
          mimeType: 'audio/opus',
          payloadType: 111,
          clockRate: 48000,
          channels: 2,
          parameters: {},
          rtcpFeedback: [],
        },
      ],
      headerExtensions: [],
      encodings: [{ ssrc: 424242 }],
      rtcp: { cname: 'again', reducedSize: true },
    },
  });
  assert.equal(again.ok, false);
  assert.match(again.ok ? '' : again.error.message, /join again/);
  // Muting a closed producer is harmless.
  assert.equal((await flooder.signaling.request('setMuted', { muted: true })).ok, true);
});
