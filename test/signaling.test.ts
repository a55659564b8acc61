import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { types } from 'mediasoup';
import { io } from 'socket.io-client';
import { fakeDtlsParameters, opusRtpParameters } from './support/fakeMedia.ts';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

let ts: TestServer;
let caps: types.RtpCapabilities;
const clients: SignalingClient[] = [];

async function client(): Promise<SignalingClient> {
  const c = await SignalingClient.connect(ts.url);
  clients.push(c);
  return c;
}

async function joined(roomId: string, nickname = 'Ann') {
  const c = await client();
  const data = await c.call('join', { roomId, nickname, rtpCapabilities: caps });
  return { c, data };
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  ts = await startTestServer({ ROOM_CAPACITY: '3' });
  const c = await client();
  caps = (await c.call('capabilities', {})).routerRtpCapabilities;
});

after(async () => {
  for (const c of clients) c.close();
  await ts.stop();
});

describe('join', () => {
  test('capabilities match the router a room actually gets', async () => {
    await joined('caps-room');
    const room = ts.server.rooms.get('caps-room');
    assert.ok(room);
    assert.deepEqual(caps, room.router.rtpCapabilities);
  });

  test('one round trip gives transports, peers and consumers of existing talkers', async () => {
    const a = await joined('talk', 'Ann');
    const { producerId } = await a.c.call('produce', {
      transportId: a.data.sendTransport.id,
      kind: 'audio',
      rtpParameters: opusRtpParameters(1111),
    });
    const b = await joined('talk', 'Bob');
    assert.deepEqual(b.data.peers, [{ id: a.data.peerId, nickname: 'Ann', muted: false }]);
    assert.equal(b.data.consumers.length, 1);
    assert.equal(b.data.consumers[0]?.producerId, producerId);
    assert.equal(b.data.consumers[0]?.peerId, a.data.peerId);
    assert.ok(b.data.sendTransport.iceCandidates.every((c) => c.address === '127.0.0.1'));
    assert.deepEqual(
      new Set(b.data.sendTransport.iceCandidates.map((c) => c.protocol)),
      new Set(['udp', 'tcp']),
    );
    await b.c.call('resumeConsumers', { consumerIds: [b.data.consumers[0]?.id] });
  });

  test('a join can be muted from the start: its producer is made paused, no setMuted needed', async () => {
    const c = await client();
    const data = await c.call('join', {
      roomId: 'muted-start',
      nickname: 'Ann',
      rtpCapabilities: caps,
      muted: true,
    });
    await c.call('produce', {
      transportId: data.sendTransport.id,
      kind: 'audio',
      rtpParameters: opusRtpParameters(4242),
    });
    const peer = ts.server.rooms.get('muted-start')?.peers.get(data.peerId);
    assert.deepEqual([peer?.muted, peer?.producer?.paused], [true, true]);
    const other = await joined('muted-start', 'Bob');
    assert.deepEqual(other.data.peers, [{ id: data.peerId, nickname: 'Ann', muted: true }]);
  });

  test('an end-to-end encrypted room takes only encrypting clients, and the reverse', async () => {
    const c = await client();
    const first = await c.call('join', {
      roomId: 'sealed',
      nickname: 'Ann',
      rtpCapabilities: caps,
      e2ee: true,
    });
    assert.equal(ts.server.rooms.get('sealed')?.encrypted, true);
    const plain = await client();
    const refused = await plain.request('join', {
      roomId: 'sealed',
      nickname: 'Eve',
      rtpCapabilities: caps,
    });
    assert.equal(!refused.ok && refused.error.code, 'ROOM_ENCRYPTED');
    assert.match(!refused.ok ? refused.error.message : '', /no key/);
    const keyed = await client();
    await keyed.call('join', { roomId: 'open-room', nickname: 'Bob', rtpCapabilities: caps });
    assert.equal(ts.server.rooms.get('open-room')?.encrypted, false);
    const other = await client();
    const wrong = await other.request('join', {
      roomId: 'open-room',
      nickname: 'Cy',
      rtpCapabilities: caps,
      e2ee: true,
    });
    assert.equal(!wrong.ok && wrong.error.code, 'ROOM_NOT_ENCRYPTED');
    // A resume that drops the key is no way in either (after a network drop).
    (c.socket.io as unknown as { engine: { close(): void } }).engine.close();
    await waitFor(() => ts.server.rooms.get('sealed')?.isDetached(first.peerId) === true);
    const again = await client();
    const resumed = await again.request('join', {
      roomId: 'sealed',
      nickname: 'Ann',
      rtpCapabilities: caps,
      resume: { peerId: first.peerId, token: first.resumeToken },
    });
    assert.equal(!resumed.ok && resumed.error.code, 'ROOM_ENCRYPTED');
  });

  test('a consumer that closed after the join answer does not fail resuming the others', async () => {
    const talkers = [await joined('gone-talker', 'Ann'), await joined('gone-talker', 'Bob')];
    for (const [i, t] of talkers.entries()) {
      await t.c.call('produce', {
        transportId: t.data.sendTransport.id,
        kind: 'audio',
        rtpParameters: opusRtpParameters(3300 + i),
      });
    }
    const late = await joined('gone-talker', 'Cy');
    assert.equal(late.data.consumers.length, 2);
    // Ann leaves before Cy's client has resumed what its join answer gave it.
    const closed = late.c.next('consumerClosed');
    await talkers[0]?.c.call('leave', {});
    await closed;
    await late.c.call('resumeConsumers', { consumerIds: late.data.consumers.map((c) => c.id) });
    const room = ts.server.rooms.get('gone-talker');
    const cy = room?.peers.get(late.data.peerId);
    assert.deepEqual(
      [...(cy?.consumers.values() ?? [])].map((c) => c.paused),
      [false],
      "Bob's consumer is resumed",
    );
    const bogus = await late.c.request('resumeConsumers', { consumerIds: ['no-such-consumer'] });
    assert.equal(!bogus.ok && bogus.error.code, 'NOT_FOUND', 'nothing known at all is refused');
  });

  test('later producers are pushed to everyone; mute is broadcast and pauses the producer', async () => {
    const a = await joined('push', 'Ann');
    const b = await joined('push', 'Bob');
    const pushed = a.c.next('newConsumer');
    const { producerId } = await b.c.call('produce', {
      transportId: b.data.sendTransport.id,
      kind: 'audio',
      rtpParameters: opusRtpParameters(2222),
    });
    const consumer = await pushed;
    assert.equal(consumer.producerId, producerId);
    assert.equal(consumer.peerId, b.data.peerId);

    const muted = a.c.next('peerMuted');
    await b.c.call('setMuted', { muted: true });
    assert.deepEqual(await muted, { peerId: b.data.peerId, muted: true });
    const peer = ts.server.rooms.get('push')?.peers.get(b.data.peerId);
    assert.equal(peer?.producer?.paused, true);
  });

  test('nicknames are trimmed, 1-32 visible characters, nothing invisible or stacked', async () => {
    const ok = await joined('nick', '  Zoë 👩‍👩‍👧  ');
    assert.equal(ts.server.rooms.get('nick')?.peers.get(ok.data.peerId)?.nickname, 'Zoë 👩‍👩‍👧');
    const c = await client();
    const refused = [
      '',
      '   ',
      'a'.repeat(33),
      'bad\u0007bell',
      'new\nline',
      '\u202Eevil', // a bidi override: shows "live" reversed
      '\u200B\u200B', // zero-width spaces: a blank name
      'Bob\u200B', // looks exactly like Bob
      '\u3164', // Hangul filler: a letter that draws nothing
      'a\u0301\u0301\u0301\u0301\u0301', // marks stacked past the row
    ];
    for (const nickname of refused) {
      const r = await c.request('join', { roomId: 'nick2', nickname, rtpCapabilities: caps });
      assert.equal(r.ok, false, JSON.stringify(nickname));
      if (!r.ok) assert.equal(r.error.code, 'BAD_REQUEST');
    }
    // The reason reaches the client in words.
    const bidi = await c.request('join', {
      roomId: 'nick2',
      nickname: '\u202Eevil',
      rtpCapabilities: caps,
    });
    assert.ok(!bidi.ok && /invisible characters/.test(bidi.error.message), JSON.stringify(bidi));
    const r = await c.request('join', {
      roomId: 'nick2',
      nickname: 'e'.repeat(32),
      rtpCapabilities: caps,
    });
    assert.equal(r.ok, true);
  });

  test('a full room refuses the next person with ROOM_FULL', async () => {
    for (const name of ['A', 'B', 'C']) await joined('full', name);
    const c = await client();
    const r = await c.request('join', { roomId: 'full', nickname: 'D', rtpCapabilities: caps });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, 'ROOM_FULL');
    assert.equal(ts.server.rooms.get('full')?.peers.size, 3);
  });

  test('simultaneous first joins create exactly one room', async () => {
    const before = (await ts.worker().worker.dump()).routerIds.length;
    const cs = await Promise.all([client(), client(), client()]);
    const results = await Promise.all(
      cs.map((c, i) =>
        c.call('join', { roomId: 'race', nickname: `P${i}`, rtpCapabilities: caps }),
      ),
    );
    assert.equal(new Set(results.map((r) => r.peerId)).size, 3);
    assert.equal(ts.server.rooms.get('race')?.peers.size, 3);
    const afterDump = await ts.worker().worker.dump();
    assert.equal(afterDump.routerIds.length, before + 1);
  });
});

describe('transports', () => {
  test('a client on HTTP long-polling (no WebSocket through its proxy) joins as well', async () => {
    const polling = io(ts.url, { transports: ['polling'], reconnection: false, forceNew: true });
    try {
      await new Promise<void>((resolve, reject) => {
        polling.once('connect', () => resolve());
        polling.once('connect_error', reject);
      });
      const answer = await polling
        .timeout(5000)
        .emitWithAck('join', { roomId: 'polling', nickname: 'Pat', rtpCapabilities: caps });
      assert.equal(answer.ok, true, JSON.stringify(answer).slice(0, 200));
      assert.equal(polling.io.engine.transport.name, 'polling');
    } finally {
      polling.close();
    }
  });
});

describe('event order', () => {
  test('no room event reaches a client before its own join ack', async () => {
    const cs = await Promise.all([client(), client(), client()]);
    const orders = cs.map((c) => {
      const seen: string[] = [];
      c.socket.on('peerJoined', () => seen.push('peerJoined'));
      return seen;
    });
    // Recorded in the ack callback itself: a resolved promise would run after events
    // that arrived in the same read.
    await Promise.all(
      cs.map(
        (c, i) =>
          new Promise<void>((resolve) => {
            const payload = { roomId: 'order', nickname: `O${i}`, rtpCapabilities: caps };
            c.socket.emit('join', payload as never, (response) => {
              assert.equal(response.ok, true);
              orders[i]?.push('ack');
              resolve();
            });
          }),
      ),
    );
    // Each of the three hears of those who joined after it: 2 + 1 + 0 events.
    await waitFor(() => orders.flat().filter((e) => e === 'peerJoined').length === 3);
    for (const seen of orders) assert.equal(seen[0], 'ack', seen.join(' '));
  });
});

describe('bad requests get a clear error ack and harm nothing', () => {
  test('malformed payloads, unknown events and out-of-order requests', async () => {
    // A healthy room elsewhere, checked afterwards.
    const healthy = await joined('healthy', 'Hal');
    await healthy.c.call('produce', {
      transportId: healthy.data.sendTransport.id,
      kind: 'audio',
      rtpParameters: opusRtpParameters(3333),
    });

    const c = await client();
    const cases: Array<[string, unknown, string]> = [
      ['join', { roomId: 5, nickname: 'x', rtpCapabilities: caps }, 'BAD_REQUEST'],
      ['join', { nickname: 'x', rtpCapabilities: caps }, 'BAD_REQUEST'],
      ['join', { roomId: 'a/b', nickname: 'x', rtpCapabilities: caps }, 'BAD_REQUEST'],
      ['join', { roomId: 'r'.repeat(30_000), nickname: 'x', rtpCapabilities: caps }, 'BAD_REQUEST'],
      [
        'join',
        { roomId: 'ok', nickname: 'x'.repeat(10_000), rtpCapabilities: caps },
        'BAD_REQUEST',
      ],
      ['join', { roomId: 'ok', nickname: 'x', rtpCapabilities: { codecs: 'no' } }, 'BAD_REQUEST'],
      ['join', 'just a string', 'BAD_REQUEST'],
      ['join', null, 'BAD_REQUEST'],
      [
        'produce',
        { transportId: 'x', kind: 'audio', rtpParameters: opusRtpParameters(1) },
        'NOT_IN_ROOM',
      ],
      ['connectTransport', { transportId: 'x', dtlsParameters: fakeDtlsParameters }, 'NOT_IN_ROOM'],
      ['resumeConsumers', { consumerIds: ['x'] }, 'NOT_IN_ROOM'],
      ['setMuted', { muted: true }, 'NOT_IN_ROOM'],
      ['leave', {}, 'NOT_IN_ROOM'],
      ['setMuted', { muted: 'yes' }, 'BAD_REQUEST'],
      ['capabilities', { extra: 1 }, 'BAD_REQUEST'],
      ['noSuchEvent', {}, 'UNKNOWN_EVENT'],
      ['__proto__', {}, 'UNKNOWN_EVENT'],
    ];
    for (const [event, payload, code] of cases) {
      const r = await c.request(event as 'join', payload);
      assert.equal(r.ok, false, `${event} ${JSON.stringify(payload)?.slice(0, 80)}`);
      if (!r.ok) {
        assert.equal(r.error.code, code, `${event}: ${r.error.message}`);
        assert.ok(r.error.message.length > 0);
      }
    }

    // Join twice, then address things that belong to someone else.
    const me = await c.call('join', { roomId: 'healthy', nickname: 'Eve', rtpCapabilities: caps });
    const twice = await c.request('join', {
      roomId: 'other',
      nickname: 'Eve',
      rtpCapabilities: caps,
    });
    assert.equal(twice.ok || twice.error.code, 'ALREADY_JOINED');
    const foreignTransport = await c.request('connectTransport', {
      transportId: healthy.data.sendTransport.id,
      dtlsParameters: fakeDtlsParameters,
    });
    assert.equal(foreignTransport.ok || foreignTransport.error.code, 'NOT_FOUND');
    const foreignProduce = await c.request('produce', {
      transportId: healthy.data.sendTransport.id,
      kind: 'audio',
      rtpParameters: opusRtpParameters(4444),
    });
    assert.equal(foreignProduce.ok || foreignProduce.error.code, 'NOT_FOUND');
    // Consume a producer that is not ours to consume: consumer ids are per peer.
    const hal = ts.server.rooms.get('healthy')?.peers.get(healthy.data.peerId);
    const someoneElsesConsumer = [...(hal?.consumers.keys() ?? [])];
    const mine = me.consumers.map((x) => x.id);
    assert.equal(mine.length, 1);
    const foreignResume = await c.request('resumeConsumers', {
      consumerIds: [...someoneElsesConsumer, healthy.data.peerId],
    });
    assert.equal(foreignResume.ok || foreignResume.error.code, 'NOT_FOUND');
    // Parameters that reach mediasoup must be refused before they hurt the worker.
    const badDtls = await c.request('connectTransport', {
      transportId: me.sendTransport.id,
      dtlsParameters: { role: 'client', fingerprints: [] },
    });
    assert.equal(badDtls.ok || badDtls.error.code, 'BAD_REQUEST');
    const badRtp = await c.request('produce', {
      transportId: me.sendTransport.id,
      kind: 'audio',
      rtpParameters: {
        ...opusRtpParameters(5),
        codecs: [{ mimeType: 'audio/nope', payloadType: 100, clockRate: 8000 }],
      },
    });
    assert.equal(badRtp.ok, false);
    const videoRtp = await c.request('produce', {
      transportId: me.sendTransport.id,
      kind: 'video',
      rtpParameters: opusRtpParameters(6),
    });
    assert.equal(videoRtp.ok || videoRtp.error.code, 'BAD_REQUEST');

    // Everything still works: the healthy peer is intact and the worker is alive.
    assert.equal(ts.worker().closed, false);
    const room = ts.server.rooms.get('healthy');
    assert.ok(room?.peers.get(healthy.data.peerId)?.producer);
    const ok = await c.request('resumeConsumers', { consumerIds: mine });
    assert.equal(ok.ok, true);
    const res = await fetch(`${ts.url}/healthz`);
    assert.equal(res.status, 200);
  });

  test('a message over the size limit closes only that socket', async () => {
    const other = await client();
    const c = await client();
    const closed = new Promise((resolve) => c.socket.once('disconnect', resolve));
    c.socket.emit('join' as 'leave', { roomId: 'x'.repeat(100_000) } as never, () => {});
    assert.equal(await closed, 'transport close');
    const r = await other.request('capabilities', {});
    assert.equal(r.ok, true);
  });
});

describe('leaving releases everything', () => {
  test('leave, and an abrupt disconnect, free transports, producers and consumers; empty rooms close', async () => {
    const a = await joined('bye', 'Ann');
    const b = await joined('bye', 'Bob');
    await a.c.call('produce', {
      transportId: a.data.sendTransport.id,
      kind: 'audio',
      rtpParameters: opusRtpParameters(7777),
    });
    await b.c.call('produce', {
      transportId: b.data.sendTransport.id,
      kind: 'audio',
      rtpParameters: opusRtpParameters(8888),
    });
    const room = ts.server.rooms.get('bye');
    assert.ok(room);
    let dump = await room.router.dump();
    assert.equal(dump.transportIds.length, 4);

    const left = a.c.next('peerLeft');
    await b.c.call('leave', {});
    assert.deepEqual(await left, { peerId: b.data.peerId });
    dump = await room.router.dump();
    assert.equal(dump.transportIds.length, 2);
    assert.equal(dump.mapProducerIdConsumerIds.length, 1);
    assert.equal(dump.mapProducerIdConsumerIds[0]?.values.length, 0);

    a.c.socket.disconnect();
    await waitFor(() => room.closed);
    assert.equal(ts.server.rooms.get('bye'), undefined);
    const routers = (await ts.worker().worker.dump()).routerIds;
    assert.ok(!routers.includes(room.router.id));
  });
});

describe('reconnecting', () => {
  test('a dropped connection keeps the place; resuming gets the same peer and media, no spurious leave', async () => {
    const a = await joined('resume', 'Ann');
    const b = await joined('resume', 'Bob');
    await b.c.call('produce', {
      transportId: b.data.sendTransport.id,
      kind: 'audio',
      rtpParameters: opusRtpParameters(9999),
    });
    const aPeer = ts.server.rooms.get('resume')?.peers.get(a.data.peerId);
    assert.equal(aPeer?.consumers.size, 1);
    let spuriousLeave = false;
    b.c.socket.on('peerLeft', () => {
      spuriousLeave = true;
    });

    // A network drop, not a deliberate close: the server sees 'transport close'.
    a.c.socket.io.engine.close();
    await waitFor(() => ts.server.rooms.get('resume')?.isDetached(a.data.peerId) === true);
    assert.equal(ts.server.rooms.get('resume')?.peers.has(a.data.peerId), true);

    const wrong = await client();
    const stolen = await wrong.call('join', {
      roomId: 'resume',
      nickname: 'Mallory',
      rtpCapabilities: caps,
      resume: { peerId: a.data.peerId, token: 'not-the-token' },
    });
    assert.equal(stolen.resumed, false);
    assert.notEqual(stolen.peerId, a.data.peerId);

    const back = await client();
    const again = await back.call('join', {
      roomId: 'resume',
      nickname: 'Ann',
      rtpCapabilities: caps,
      resume: { peerId: a.data.peerId, token: a.data.resumeToken },
    });
    assert.equal(again.resumed, true);
    assert.equal(again.peerId, a.data.peerId);
    assert.equal(again.sendTransport.id, a.data.sendTransport.id);
    assert.deepEqual(
      again.consumers.map((c) => c.peerId),
      [b.data.peerId],
    );
    assert.equal(ts.server.rooms.get('resume')?.isDetached(a.data.peerId), false);
    // Notifications reach the new connection.
    const muted = back.next('peerMuted');
    await b.c.call('setMuted', { muted: true });
    assert.equal((await muted).peerId, b.data.peerId);
    assert.equal(spuriousLeave, false);
  });
});

describe('joins that never connect', () => {
  test('are released after JOIN_TIMEOUT_MS, with a message to the client', async () => {
    const slow = await startTestServer({ JOIN_TIMEOUT_MS: '1000' });
    try {
      const c = await SignalingClient.connect(slow.url);
      clients.push(c);
      const { routerRtpCapabilities } = await c.call('capabilities', {});
      const kicked = c.next('kicked', 5000);
      const me = await c.call('join', {
        roomId: 'stuck',
        nickname: 'Slow',
        rtpCapabilities: routerRtpCapabilities,
      });
      const room = slow.server.rooms.get('stuck');
      assert.equal(room?.peers.has(me.peerId), true);
      assert.match((await kicked).reason, /did not come up/);
      assert.equal(room?.peers.has(me.peerId), false);
      // Its transports are gone (or the whole room already closed, being empty).
      if (room && !room.closed) assert.equal((await room.router.dump()).transportIds.length, 0);
    } finally {
      await slow.stop();
    }
  });
});
