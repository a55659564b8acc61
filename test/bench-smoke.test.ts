/**
 * The benchmark's machinery in a few seconds: plain-RTP load through GhostTalk's rooms
 * and a bare mediasoup, packets counted and timed, results turned into JSON, Markdown
 * and SVG. No timing or capacity assertions (those numbers are the benchmark's to
 * report, not a test's to judge); `npm run bench -- --short` is the full smoke run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { measureBaseline } from '../bench/lib/baseline.ts';
import { GhostTalkRooms } from '../bench/lib/ghostTalkRooms.ts';
import { describeMachine } from '../bench/lib/machine.ts';
import { LoadGenerator } from '../bench/lib/plainRtp.ts';
import { buildResults, markdown, writeResults } from '../bench/lib/report.ts';
import { measureSpan } from '../bench/lib/span.ts';

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
