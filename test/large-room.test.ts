import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePortRange } from './support/ports.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { WeriftClient } from './support/weriftClient.ts';

let ts: TestServer;
const clients: WeriftClient[] = [];

before(async () => {
  // A tiny consumer budget makes a four-person room outgrow its first worker.
  ts = await startTestServer({
    RTC_WORKERS: '2',
    RTC_UDP_PORT: String(await freePortRange(2)),
    WORKER_CONSUMER_BUDGET: '2',
  });
});

after(async () => {
  for (const client of clients) client.close();
  await ts.stop();
});

test('a room that outgrows one worker spans two, and everyone hears everyone', {
  timeout: 60_000,
}, async () => {
  for (const nickname of ['A', 'B', 'C', 'D']) {
    clients.push(await WeriftClient.create({ url: ts.url, roomId: 'big', nickname }));
  }
  const room = ts.server.rooms.get('big');
  assert.ok(room);
  assert.equal(room.routers.length, 2, 'the room got a router on the second worker');
  const workersUsed = new Set(
    [...room.peers.values()].map((peer) => room.routers.indexOf(peer.router)),
  );
  assert.deepEqual([...workersUsed].sort(), [0, 1], 'peers sit on both workers');

  const sending = setInterval(() => {
    for (const client of clients) client.sendRtp(Buffer.alloc(100, client.peerId.charCodeAt(0)));
  }, 20);
  try {
    await Promise.all(
      clients.flatMap((receiver) =>
        clients
          .filter((sender) => sender !== receiver)
          .map((sender) => receiver.waitForPackets(sender.peerId, 25, 15_000)),
      ),
    );
  } finally {
    clearInterval(sending);
  }
  for (const client of clients) assert.equal(client.receivedFrom(client.peerId), 0);

  for (const client of clients) await client.leave();
  const deadline = Date.now() + 5000;
  while (ts.server.rooms.size > 0 && Date.now() < deadline) await sleep(50);
  assert.equal(ts.server.rooms.size, 0);
  for (const worker of ts.server.workers.workers) {
    const dump = await worker.worker.dump();
    assert.deepEqual(dump.routerIds, [], `worker ${worker.index} has no routers left`);
  }
});
