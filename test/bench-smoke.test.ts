/**
 * The benchmark's machinery in a few seconds: plain-RTP load through GhostTalk's rooms
 * and a bare mediasoup, packets counted and timed, results turned into JSON, Markdown
 * and SVG; Chromium joining a plain and an encrypted room (the browser phase). No timing or capacity assertions (those numbers are the benchmark's to
 * report, not a test's to judge); `npm run bench -- --short` is the full smoke run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { measureBaseline } from '../bench/lib/baseline.ts';
import { measureBrowserJoins } from '../bench/lib/browserJoins.ts';
import { FLOOR_MODES, measureFloor } from '../bench/lib/floor.ts';
import { GhostTalkRooms } from '../bench/lib/ghostTalkRooms.ts';
import { spawnChild } from '../bench/lib/ipc.ts';
import { describeMachine } from '../bench/lib/machine.ts';
import { measureWindow } from '../bench/lib/measure.ts';
import { LoadGenerator, PlainRoom } from '../bench/lib/plainRtp.ts';
import { buildResults, markdown, writeResults } from '../bench/lib/report.ts';
import { measureSpan } from '../bench/lib/span.ts';
import { FRAME_OVERHEAD_BYTES } from '../client/src/e2ee/frameCipher.ts';
import { audioConsumerOptions } from '../src/media/mediaCodecs.ts';

let load: LoadGenerator;
let ghostTalk: GhostTalkRooms;

before(async () => {
  load = await LoadGenerator.start(1);
  ghostTalk = await GhostTalkRooms.start({ RTC_WORKERS: '1' });
});

after(async () => {
  await load?.stop();
  await ghostTalk?.stop();
});

test('plain-RTP load crosses GhostTalk rooms and bare mediasoup, and a report is written', async () => {
  const baseline = await measureBaseline({
    load,
    ghostTalk,
    rooms: 1,
    peersPerRoom: 3,
    rounds: 1,
    windowMs: 1000,
    log: () => undefined,
  });
  for (const side of [baseline.bare, baseline.ghostTalk]) {
    assert.ok(side.forwardedPps > 0, 'consumers forwarded packets');
    assert.ok(Number.isFinite(side.usPerPacket) && side.usPerPacket > 0);
  }
  assert.ok(baseline.latency.ghostTalk.packets > 0, 'transit times were recorded');
  assert.ok(Number.isFinite(baseline.ratio));

  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  try {
    const results = buildResults({
      machine: describeMachine(),
      mode: 'short',
      durationS: 1,
      baseline,
      capacity: [],
    });
    const { paths, markdown } = await writeResults(results, dir);
    const json = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8'));
    for (const key of ['machine', 'bareMediasoupRatio', 'sfuAddedLatencyMs', 'twoWorkerRoom']) {
      assert.ok(key in json, `latest.json has ${key}`);
    }
    assert.match(markdown, /GhostTalk ÷ bare mediasoup/);
    assert.ok(paths.some((p) => p.endsWith('latest.svg')));
    assert.match(readFileSync(join(dir, 'latest.svg'), 'utf8'), /^<svg /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SRTP consumers are counted by their SSRCs and timed; DTX frames stop at the SFU', async () => {
  const tag = 33;
  const room = await ghostTalk.room('smoke-srtp');
  const plain = await PlainRoom.create({
    routers: [room.router],
    peers: 3,
    talkers: 1,
    silent: 'dtx',
    consumerCaps: 'browser',
    srtp: 'AEAD_AES_256_GCM',
    consumerOptions: audioConsumerOptions,
    tag,
    load,
    audioLevelObserver: room.observer,
  });
  try {
    await load.addStreams(plain.streams);
    await load.setEnabled(tag, true);
    await load.latency(tag, true);
    const window = await measureWindow(ghostTalk.workers, load, 2000);
    const histogram = await load.latency(tag, true);
    await load.setEnabled(tag, false);
    const counted = window.tags[tag];
    assert.ok(counted && counted.received > 0, 'sealed packets counted for their tag');
    // Sealed payloads read as tags would scatter the counts over other tags.
    for (const [other, c] of Object.entries(window.tags)) {
      if (Number(other) !== tag) assert.equal(c.received, 0, `nothing counted for tag ${other}`);
    }
    assert.ok(histogram.total > 0, 'transit times read off the RTP timestamps');
    // Two listeners hear the talker; each hears the other silent person's comfort noise
    // but not their DTX frames, which are not expected either: nothing counts as lost.
    assert.ok(counted.received <= counted.expected, `${counted.received} ≤ ${counted.expected}`);
    assert.ok(counted.received >= 0.9 * counted.seqExpected, 'no gaps where DTX was dropped');
  } finally {
    await load.removeStreams(tag);
    plain.close();
    room.close();
  }
});

test('the floor: the C forwarder builds and forwards, plain and sealed', {
  timeout: 60_000,
}, async () => {
  const floor = await measureFloor({
    load,
    producers: 1,
    consumersPerProducer: 3,
    rounds: 1,
    windowMs: 800,
    log: () => undefined,
  });
  assert.ok(floor.binary, `built: ${floor.note}`);
  assert.ok(floor.crypto, 'built with OpenSSL (setup installs libssl-dev)');
  for (const mode of FLOOR_MODES) {
    const m = floor.modes[mode];
    assert.ok(m, `${mode} measured`);
    assert.ok(m.packets.received > 0, `${mode}: packets in`);
    assert.equal(m.packets.copies, 3 * m.packets.received, `${mode}: three copies of each`);
    assert.ok(Number.isFinite(m.usPerCopy) && m.usPerCopy > 0);
  }
  const results = buildResults({
    machine: describeMachine(),
    mode: 'short',
    durationS: 1,
    capacity: [],
    floor,
  });
  assert.match(markdown(results), /The floor: a C forwarder/);
});

test('a room spanning nodes: talkers piped to listeners on another node, and the span report', {
  timeout: 180_000,
}, async () => {
  const span = await measureSpan({
    load,
    pipe: { points: [{ talkers: 2, listeners: 2 }], rounds: 1, windowMs: 1000, paceMs: 300 },
    room: {
      talkers: 2,
      firstListeners: 2,
      maxSteps: 1,
      extraSteps: 0,
      maxPeople: 10,
      windows: 1,
      windowMs: 1000,
    },
    log: () => undefined,
  });
  const { pipeCost, largestRoom } = span;
  const point = pipeCost.points[0];
  assert.ok(point, 'one operating point measured');
  // The remote room's listeners all sit on the other node: what they hear crossed the pipe.
  assert.deepEqual(point.placement.remote, {
    roomNode: { talkers: 2, listeners: 0 },
    otherNode: { talkers: 0, listeners: 2 },
  });
  assert.equal(pipeCost.otherNodePipes.producers, 2, 'one pipe producer per talker');
  assert.ok(point.remote.deliveredPps > 0, 'listeners on the other node received packets');
  assert.ok(point.remote.pipeBytesPerSecond > 0, 'RTP went through the pipe transport');
  assert.equal(point.local.pipeBytesPerSecond, 0, 'nothing piped for the local room');
  assert.ok(point.local.deliveredPps > 0);
  for (const side of [point.local, point.remote]) {
    assert.ok(Number.isFinite(side.usPerPacket) && side.usPerPacket > 0);
    assert.ok(side.latencyMs.packets > 0, 'transit times were recorded');
  }
  assert.ok(Number.isFinite(point.ratio));
  assert.ok(point.latencyTogetherMs.remote.packets > 0, 'piped packets were timed');
  assert.ok(point.latencyTogetherMs.local.packets > 0);
  for (const run of [largestRoom.oneNode, largestRoom.threeNodes]) {
    assert.equal(run.steps.length, 1);
    assert.equal(run.steps[0]?.people, 4);
    assert.ok((run.steps[0]?.forwardedPps ?? 0) > 0);
  }
  assert.equal(largestRoom.threeNodes.steps[0]?.peoplePerNode.length, 3);
  assert.ok(
    (largestRoom.threeNodes.steps[0]?.peoplePerNode.filter((n) => n > 0).length ?? 0) >= 2,
    'the room spread over more than one node',
  );

  const results = buildResults({
    machine: describeMachine(),
    mode: 'short',
    durationS: 1,
    capacity: [],
    span,
  });
  assert.equal(results.span?.pipeCost.points[0]?.talkers, 2);
  assert.match(markdown(results), /Span: largest room, 1 node vs 3 nodes/);
});

test('the browser phase: Chromium joins a plain and an encrypted room, and the E2EE counters are read', {
  timeout: 240_000,
}, async () => {
  const server = await spawnChild(new URL('../bench/lib/serverChild.ts', import.meta.url));
  try {
    const { url } = await server.call<{ url: string }>('start', { env: { RTC_WORKERS: '1' } });
    const browser = await measureBrowserJoins({
      server,
      url,
      sequential: 1,
      bursts: 1,
      burstSize: 2,
      windowMs: 2000,
      log: () => undefined,
    });
    for (const mode of ['plain', 'encrypted'] as const) {
      const joins = browser.joinMs[mode];
      assert.equal(joins.failed, 0, `${mode}: every join heard both residents`);
      assert.equal(joins.all.n, 3, `${mode}: one join alone and a burst of two`);
      assert.equal(joins.sequential.n, 1);
      assert.equal(joins.burst.n, 2);
      assert.ok((joins.roundTrips?.min ?? 0) >= 1, `${mode}: the panel counted round trips`);
    }
    assert.equal(browser.samples.length, 6);
    for (const s of browser.samples) {
      assert.ok(s.decodedMs !== null && s.firstPacketMs !== null, 'both times recorded');
      assert.ok(s.decodedMs >= s.firstPacketMs, 'nothing decodes before its packet arrives');
      assert.ok((s.requests ?? 0) >= (s.roundTrips ?? Number.POSITIVE_INFINITY));
    }
    // The signal means decoded: a wrong key gets every packet and decodes none of them.
    assert.ok(browser.wrongKey.packets > 0, 'a wrong key still receives packets');
    assert.equal(browser.wrongKey.decodedSamples, 0, 'and decodes nothing');
    assert.ok(browser.wrongKey.decryptFailed > 0, "its worker's drops are on the panel");

    // The worker's counters, from the stats panel's data-e2ee-* attributes.
    const { crypto, size } = browser;
    assert.ok(crypto.frames.encrypt > 0 && crypto.frames.decrypt > 0, 'frames counted');
    assert.deepEqual(crypto.failed, { encrypt: 0, decrypt: 0 }, 'the residents share the key');
    assert.ok(crypto.encryptUsPerFrame !== null && crypto.encryptUsPerFrame > 0);
    assert.ok(crypto.decryptUsPerFrame !== null && crypto.decryptUsPerFrame > 0);
    // Encrypted frames are larger than plain ones by exactly the frame overhead.
    assert.equal(size.frameOverheadBytes, FRAME_OVERHEAD_BYTES);
    assert.equal(size.workerAddedBytesPerFrame.encrypt, FRAME_OVERHEAD_BYTES);
    assert.equal(size.workerAddedBytesPerFrame.decrypt, FRAME_OVERHEAD_BYTES);
    assert.ok(size.packetsPerSecond.plain > 0 && size.packetsPerSecond.encrypted > 0);
    assert.ok(size.bytesPerPacket.added > 0, 'encrypted packets carry more than plain ones');

    const results = buildResults({
      machine: describeMachine(),
      mode: 'short',
      durationS: 1,
      capacity: [],
      browser,
    });
    assert.equal(results.browser?.joinMs.encrypted.all.n, 3);
    const md = markdown(results);
    assert.match(md, /Browser join → first decoded audio/);
    assert.match(md, /Browser E2EE CPU per frame/);
    assert.match(md, /Browser E2EE size per stream/);
  } finally {
    await server.call('stop').catch(() => undefined);
    await server.stop();
  }
});
