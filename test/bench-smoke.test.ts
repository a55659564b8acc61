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
import { buildResults, writeResults } from '../bench/lib/report.ts';

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
