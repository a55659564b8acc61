import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { waitFor } from './support/wait.ts';
import { WeriftClient } from './support/weriftClient.ts';

/**
 * /metrics tells what people feel, from real WebRTC clients (werift): join durations up
 * to media connected, paths, forwarded packets, loss and RTT samples, ICE restarts,
 * rejoins and media failures; and the Grafana dashboard asks only for metrics that exist.
 */
let ts: TestServer;

async function metrics(): Promise<string> {
  return (await fetch(`${ts.url}/metrics`)).text();
}

/** One sample's value, labels given as in the exposition (`{kind="resumed"}`). */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

before(async () => {
  ts = await startTestServer({ JOIN_TIMEOUT_MS: '1500', RECONNECT_GRACE_MS: '5000' });
});

after(async () => {
  await ts.stop();
});

describe('media metrics', { timeout: 60_000 }, () => {
  test('joins, paths, forwarding, loss and RTT samples, ICE restarts and rejoins', async () => {
    const roomId = 'metrics-room';
    const ann = await WeriftClient.create({ url: ts.url, roomId, nickname: 'Ann' });
    const bob = await WeriftClient.create({ url: ts.url, roomId, nickname: 'Bob' });
    const pacer = setInterval(() => {
      for (const c of [ann, bob]) if (!c.closed) c.sendRtp(Buffer.alloc(60, 1));
    }, 20);
    try {
      await bob.waitForPackets(ann.peerId, 50, 10_000);
      await ann.waitForPackets(bob.peerId, 50, 10_000);
      await ts.server.mediaMetrics.sample();
      let text = await metrics();
      assert.equal(value(text, 'ghosttalk_join_duration_seconds_count'), 2, 'two media connected');
      assert.ok(value(text, 'ghosttalk_join_duration_seconds_sum') > 0);
      // werift's transports reach 127.0.0.1 directly, over UDP: two each.
      assert.equal(value(text, 'ghosttalk_transports{path="direct",protocol="udp"}'), 4);
      const packets = value(text, 'ghosttalk_forwarded_packets_total');
      assert.ok(packets >= 100, `forwarded packets counted (${packets})`);
      assert.ok(value(text, 'ghosttalk_forwarded_bytes_total') >= packets * 60);
      assert.equal(value(text, 'ghosttalk_consumer_loss_ratio_count'), 2, 'one loss sample each');
      // A second read adds only what was sent since.
      await new Promise((resolve) => setTimeout(resolve, 400));
      await ts.server.mediaMetrics.sample();
      text = await metrics();
      const later = value(text, 'ghosttalk_forwarded_packets_total');
      assert.ok(later > packets && later < packets + 100, `${packets} then ${later}`);

      // An ICE restart, and a drop that takes its place back (then one whose place is gone).
      await ann.signaling.call('restartIce', { transportId: ann.joined.recvTransport.id });
      const c = await SignalingClient.connect(ts.url);
      const caps = (await c.call('capabilities', {})).routerRtpCapabilities;
      const first = await c.call('join', { roomId, nickname: 'Cy', rtpCapabilities: caps });
      (c.socket.io as unknown as { engine: { close(): void } }).engine.close();
      await waitFor('Cy detached', () => ts.server.rooms.get(roomId)?.isDetached(first.peerId));
      c.close();
      const back = await SignalingClient.connect(ts.url);
      const resume = { peerId: first.peerId, token: first.resumeToken };
      const again = await back.call('join', {
        roomId,
        nickname: 'Cy',
        rtpCapabilities: caps,
        resume,
      });
      assert.equal(again.resumed, true);
      const gone = await SignalingClient.connect(ts.url);
      const stale = { peerId: 'gone', token: 'gone-token' };
      await gone.call('join', { roomId, nickname: 'Di', rtpCapabilities: caps, resume: stale });
      // Neither Cy nor Di ever connects media: both are released at JOIN_TIMEOUT_MS.
      await waitFor(
        'the join timeouts',
        async () =>
          value(await metrics(), 'ghosttalk_media_failures_total{reason="join_timeout"}') === 2,
        { timeoutMs: 8_000 },
      );
      text = await metrics();
      assert.equal(value(text, 'ghosttalk_ice_restarts_total'), 1);
      assert.equal(value(text, 'ghosttalk_rejoins_total{kind="resumed"}'), 1);
      assert.equal(value(text, 'ghosttalk_rejoins_total{kind="fresh"}'), 1);
      back.close();
      gone.close();
    } finally {
      clearInterval(pacer);
      ann.close({ abrupt: true });
      bob.close({ abrupt: true });
    }
  });

  test('every query of the Grafana dashboard names a metric the server exports', async () => {
    const path = fileURLToPath(new URL('../config/grafana-dashboard.json', import.meta.url));
    const dashboard = JSON.parse(readFileSync(path, 'utf8')) as { panels: unknown[] };
    const exprs: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'expr' && typeof v === 'string') exprs.push(v);
          else walk(v);
        }
      }
    };
    walk(dashboard.panels);
    assert.ok(exprs.length >= 10, `the dashboard has its queries (${exprs.length})`);
    const text = await metrics();
    const exported = new Set<string>();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      if (!name) continue;
      exported.add(name);
      if (type === 'histogram')
        for (const s of ['_bucket', '_sum', '_count']) exported.add(name + s);
    }
    const named = new Set(exprs.flatMap((e) => e.match(/\bghosttalk_[a-z0-9_]+/g) ?? []));
    const missing = [...named].filter((n) => !exported.has(n));
    assert.deepEqual(missing, [], 'metrics the dashboard asks for that the server lacks');
    // No query groups by an unbounded label.
    for (const e of exprs) assert.doesNotMatch(e, /\b(room|peer|peerId|roomId)\b/, e);
  });
});
