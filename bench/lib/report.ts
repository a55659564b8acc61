/**
 * Turns the phases' results into latest.json (the keys the issue asks for, plus the
 * detail behind them), a Markdown table and an SVG chart (and a PNG of it when an SVG
 * renderer is installed).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BaselineResult } from './baseline.ts';
import type { BrowserJoinsResult } from './browserJoins.ts';
import type { CapacityResult } from './capacity.ts';
import { MAX_LOSS_PCT, MAX_WORKER_CPU_PCT } from './capacity.ts';
import type { ClusterResult } from './cluster.ts';
import type { FloorResult } from './floor.ts';
import type { ForwardingCostResult } from './forwardingCost.ts';
import type { BigRoomResult } from './ghostTalkBigRoom.ts';
import type { JoinsResult } from './joins.ts';
import type { Machine } from './machine.ts';
import type { SpanResult } from './span.ts';
import { round } from './stats.ts';
import type { TwoWorkerRoomResult } from './twoWorkerRoom.ts';

const PACKETS_PER_SECOND = 50;
const REALISTIC_TARGET = 2000;

type Inputs = {
  machine: Machine;
  mode: 'short' | 'full';
  durationS: number;
  forwarding?: ForwardingCostResult;
  floor?: FloorResult;
  baseline?: BaselineResult;
  capacity: CapacityResult[];
  joins?: JoinsResult;
  browser?: BrowserJoinsResult;
  twoWorker?: TwoWorkerRoomResult;
  bigRoom?: BigRoomResult;
  cluster?: ClusterResult;
  span?: SpanResult;
};

const perCore = (us: number | undefined) =>
  us ? Math.round(1e6 / (us * PACKETS_PER_SECOND)) : null;

function capacityKey(result: CapacityResult | undefined) {
  if (!result) return null;
  const best = result.best;
  return {
    pattern: result.pattern.name,
    rooms: best?.rooms ?? 0,
    peersPerRoom: result.pattern.peersPerRoom,
    talkersPerRoom: result.pattern.talkersPerRoom,
    lossPct: best?.lossPct ?? null,
    sfuLossPct: best?.sfuLossPct ?? null,
    workerCpuPct: best?.workerCpuPct ?? null,
    usPerPacket: best?.usPerPacket ?? null,
    transitMs: best?.latencyMs ?? null,
    /** Measured: the largest step that passed. */
    peers: best?.peers ?? 0,
    /** Derived: the best step's CPU per peer scaled to 85 % of a core. */
    peersAt85PctCpu: result.peersAt85Pct ?? null,
    srtp: result.srtp,
    consumers: result.consumers,
    limitedBy: (() => {
      const failed = result.steps.find((s) => !s.pass);
      if (!failed) return 'not reached (largest step passed)';
      if (failed.workerCpuPct >= MAX_WORKER_CPU_PCT) return `worker CPU >= ${MAX_WORKER_CPU_PCT} %`;
      return `loss >= ${MAX_LOSS_PCT} %`;
    })(),
    steps: result.steps,
  };
}

/**
 * mediasoup's µs per packet over the floor's µs per copy, like for like: plain consumers
 * against sendto, SRTP PlainTransports (AES-128-GCM) against sendto with AES-128-GCM.
 */
function floorKey(f: ForwardingCostResult | undefined, floor: FloorResult | undefined) {
  if (!floor) return null;
  const ratio = (a: number | undefined, b: number | null) =>
    a !== undefined && b !== null && b > 0 ? round(a / b, 2) : null;
  const us = f?.usPerPacket;
  const user = f?.userUsPerPacket;
  const sendto = floor.modes.sendto;
  const gcm = floor.modes.sendtoGcm;
  const diff = (a: number | null | undefined, b: number | null | undefined) =>
    a === null || a === undefined || b === null || b === undefined ? null : round(a - b, 2);
  return {
    usPerCopy: floor.usPerCopy,
    userUsPerCopy: floor.userUsPerCopy,
    mediasoupOverFloor: {
      plain: ratio(us?.plain, floor.usPerCopy.sendto),
      srtpGcm: ratio(us?.plainSrtpGcm, floor.usPerCopy.sendtoGcm),
      webRtcGcm: ratio(us?.srtpGcm, floor.usPerCopy.sendtoGcm),
    },
    /** Where the gap is: user time (mediasoup's code) and preemptions per packet in. */
    gap: {
      plainUserUs: diff(user?.plain, floor.userUsPerCopy.sendto),
      plainKernelUs: diff(
        diff(us?.plain, user?.plain),
        diff(floor.usPerCopy.sendto, floor.userUsPerCopy.sendto),
      ),
      srtpUserUs: diff(user?.plainSrtpGcm, floor.userUsPerCopy.sendtoGcm),
      cryptoUsFloor: diff(floor.usPerCopy.sendtoGcm, floor.usPerCopy.sendto),
      cryptoUsMediasoup: diff(us?.plainSrtpGcm, us?.plain),
      preemptionsPerPacket: {
        mediasoupPlain: f?.preemptionsPerPacket.plain ?? null,
        mediasoupSrtp: f?.preemptionsPerPacket.plainSrtpGcm ?? null,
        floorSendto: sendto?.perPacket.preemptions ?? null,
        floorSendtoGcm: gcm?.perPacket.preemptions ?? null,
      },
    },
    detail: floor,
  };
}

export function buildResults(inputs: Inputs) {
  const { forwarding: f, baseline: b, joins: j, twoWorker: t, bigRoom: g } = inputs;
  const us = f?.usPerPacket;
  const srtp = f?.defaultSrtpProfile === 'AES_CM_128_HMAC_SHA1_80' ? us?.srtpAesCm : us?.srtpGcm;
  const allTalking = inputs.capacity.find((c) => c.pattern.name === 'allTalking');
  const realistic = inputs.capacity.find((c) => c.pattern.name === 'realistic');
  const realisticKey = capacityKey(realistic);
  return {
    machine: inputs.machine,
    mode: inputs.mode,
    cluster: inputs.cluster ?? null,
    span: inputs.span ?? null,
    /** Real Chromium: join to decoded audio, E2EE CPU per frame and size, plain vs encrypted. */
    browser: inputs.browser ?? null,
    durationS: inputs.durationS,
    producers:
      'plain RTP from Node dgram into PlainTransports (comedia), Opus-sized 100-byte payloads, 50 packets/s per talker, ssrc-audio-level extension',
    workerCpuUsPerPacket: us
      ? {
          srtp: srtp ?? null,
          plain: us.plain,
          srtpProfile: f?.defaultSrtpProfile ?? null,
          srtpGcm: us.srtpGcm,
          srtpAesCm: us.srtpAesCm,
          /** SRTP PlainTransports (the capacity steps' consumers) vs WebRTC (werift): ratio. */
          plainSrtpGcm: us.plainSrtpGcm,
          plainSrtpOverWebRtc: round(us.plainSrtpGcm / us.srtpGcm, 2),
          plainBrowserCaps: us.plainBrowserCaps,
          preemptionsPerPacket: f?.preemptionsPerPacket,
          /** The worker's user time alone (no kernel): what code and crypto changes move. */
          user: f?.userUsPerPacket,
          consumersMeasured: f?.consumersPerVariant,
          detail: f?.steps,
        }
      : null,
    consumersPerCore: us
      ? { srtp: perCore(srtp), plain: perCore(us.plain), atPacketsPerSecond: PACKETS_PER_SECOND }
      : null,
    floor: floorKey(f, inputs.floor),
    capacity: capacityKey(allTalking),
    capacityRealistic: realisticKey,
    realisticPeersPerCore: realisticKey
      ? {
          measured: realisticKey.peers,
          at85PctCpu: realisticKey.peersAt85PctCpu,
          srtp: realisticKey.srtp,
          target: REALISTIC_TARGET,
        }
      : null,
    joinMs: j?.joinMs ?? null,
    joinDetail: j
      ? {
          withoutClientStallsMs: j.joinMsWithoutClientStalls,
          clientStalls: j.clientStalls,
          clientStallNote:
            "joins in which werift's own ICE gathering (createOffer/setLocalDescription) took over 1 s; it stalls ~5 s at times when many connections gather at once, a load-generator artifact (the server's acks and DTLS were fast)",
          sequentialMs: j.sequentialMs,
          burstMs: j.burstMs,
          slowJoins: j.slowJoins,
          rooms: j.rooms,
        }
      : null,
    roundTripsPerJoin: j?.roundTripsPerJoin ?? null,
    requestsPerJoin: j?.requestsPerJoin ?? null,
    nodeCpuMsPerJoin: j?.nodeCpuMsPerJoin ?? null,
    heapKbPerPeer: j?.heapKbPerPeer ?? null,
    bareMediasoupRatio: b?.ratio ?? null,
    baseline: b ?? null,
    sfuAddedLatencyMs: b
      ? {
          p50: b.latency.ghostTalk.p50,
          p99: b.latency.ghostTalk.p99,
          loopbackFloor: b.latency.loopbackFloor,
          bare: b.latency.bare,
          note: 'send time (the RTP timestamp) to receipt at a plain-RTP consumer, one process, loopback; includes two loopback hops and Node event-loop delay (see loopbackFloor for the path without the SFU)',
        }
      : null,
    twoWorkerRoom: {
      ghostTalk: g
        ? {
            setup:
              'one GhostTalk room through signaling + werift (SRTP); server with RTC_WORKERS=1, then RTC_WORKERS=2 with WORKER_CONSUMER_BUDGET at half the room',
            ...g,
          }
        : null,
      bareAtScale: t
        ? {
            setup:
              'bare mediasoup: one room, producers piped with pipeToRouter to a router on the second worker, peers split evenly; plain RTP; same load, windows alternating',
            peers: t.peers,
            talkers: t.talkers,
            consumers: t.consumers,
            oneWorker: t.oneWorker,
            twoWorkers: t.twoWorkers,
            cpuRatio: round(t.twoWorkers.workerCpuPct / t.oneWorker.workerCpuPct, 2),
            busiestWorkerRatio: round(
              Math.max(...t.twoWorkers.perWorkerCpuPct) / Math.max(...t.oneWorker.perWorkerCpuPct),
              2,
            ),
          }
        : null,
    },
  };
}

export type Results = ReturnType<typeof buildResults>;

const rangeText = (r: { min: number; max: number }) =>
  r.min === r.max ? String(r.min) : `${r.min}–${r.max}`;

const fmt = (v: unknown, unit = '') =>
  v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))
    ? '—'
    : `${v}${unit}`;

export function markdown(r: Results): string {
  const m = r.machine;
  const rows: [string, string, string][] = [];
  const w = r.workerCpuUsPerPacket;
  if (w) {
    rows.push([
      '1. Worker CPU per forwarded packet',
      `SRTP to WebRTC ${fmt(w.srtp)} µs (${w.srtpProfile}; AES-CM ${fmt(w.srtpAesCm)} µs) · SRTP PlainTransport ${fmt(w.plainSrtpGcm)} µs (AEAD_AES_128_GCM; ×${fmt(w.plainSrtpOverWebRtc)} of WebRTC) · plain ${fmt(w.plain)} µs · plain with NACK/TWCC ${fmt(w.plainBrowserCaps)} µs`,
      `user time only: SRTP ${fmt(w.user?.srtpGcm)} · SRTP PlainTransport ${fmt(w.user?.plainSrtpGcm)} · plain ${fmt(w.user?.plain)} µs; worker preempted ${fmt(w.preemptionsPerPacket?.plain)} times per packet in (plain); target SRTP ≤ 10 µs; plain-RTP producers`,
    ]);
    rows.push([
      '1. Consumers per core at 50 packets/s',
      `SRTP ${fmt(r.consumersPerCore?.srtp)} · plain ${fmt(r.consumersPerCore?.plain)}`,
      'from the µs above',
    ]);
  }
  const fl = r.floor;
  if (fl) {
    const u = fl.usPerCopy;
    const x = fl.mediasoupOverFloor;
    const g = fl.gap;
    const pre = g.preemptionsPerPacket;
    rows.push([
      '1. The floor: a C forwarder, µs per copy',
      `sendto ${fmt(u.sendto)} · sendmmsg ${fmt(u.sendmmsg)} · sendto + AES-GCM ${fmt(u.sendtoGcm)} · sendmmsg + AES-GCM ${fmt(u.sendmmsgGcm)}`,
      `${fl.detail.producers} producers × ${fl.detail.consumersPerProducer} copies, same load and receivers as the row above; ${fl.detail.crypto ?? 'no OpenSSL'}`,
    ]);
    rows.push([
      '1. mediasoup ÷ floor (µs per packet ÷ µs per copy)',
      `plain ×${fmt(x.plain)} · SRTP ×${fmt(x.srtpGcm)} (PlainTransport GCM) · WebRTC ×${fmt(x.webRtcGcm)}`,
      `gap per copy: mediasoup's user time +${fmt(g.plainUserUs)} µs plain, +${fmt(g.srtpUserUs)} µs SRTP; kernel +${fmt(g.plainKernelUs)} µs (preempted ${fmt(pre.mediasoupPlain)} vs ${fmt(pre.floorSendto)} times per packet in: each preemption is a switch away and back); encryption costs ${fmt(g.cryptoUsMediasoup)} µs in mediasoup vs ${fmt(g.cryptoUsFloor)} µs in the floor`,
    ]);
  }
  for (const c of [r.capacity, r.capacityRealistic]) {
    if (!c) continue;
    rows.push([
      `2. Capacity, ${c.pattern === 'allTalking' ? 'everyone talking' : 'realistic (1 speaker in 10, DTX)'}`,
      `${c.rooms} rooms × ${c.peersPerRoom} = ${c.peers} peers at ${fmt(c.workerCpuPct, ' %')} CPU, loss ${fmt(c.lossPct, ' %')} (SFU ${fmt(c.sfuLossPct, ' %')}), ${fmt(c.usPerPacket)} µs/packet, transit p50/p99 ${fmt(c.transitMs?.p50)}/${fmt(c.transitMs?.p99)} ms`,
      `${c.consumers}; at ${MAX_WORKER_CPU_PCT} % CPU ≈ ${fmt(c.peersAt85PctCpu)} peers (derived); next step: ${c.limitedBy}`,
    ]);
  }
  if (r.joinMs) {
    const bursts = Object.entries(r.joinDetail?.burstMs ?? {})
      .map(([n, s]) => `bursts of ${n}: p50 ${s.p50} / max ${s.max}`)
      .join('; ');
    rows.push([
      '3. Join → first audio (ms)',
      `p50 ${r.joinMs.p50} · p95 ${r.joinMs.p95} · max ${r.joinMs.max} (n=${r.joinMs.n})`,
      `without werift's own gathering stalls (${r.joinDetail?.clientStalls} joins): p95 ${r.joinDetail?.withoutClientStallsMs.p95} · max ${r.joinDetail?.withoutClientStallsMs.max}; one at a time p50 ${r.joinDetail?.sequentialMs.p50}; ${bursts}`,
    ]);
    rows.push([
      '3. Signaling round trips per join, werift clients',
      `${r.roundTripsPerJoin} (${r.requestsPerJoin} requests)`,
      "the benchmark's own client, which does not pipeline as the browser app does (see the browser row)",
    ]);
    rows.push([
      '4. Server Node CPU per join',
      `${fmt(r.nodeCpuMsPerJoin, ' ms')}`,
      'connect + join + leave, idle subtracted',
    ]);
    rows.push([
      '4. Server heap per connected peer',
      `${fmt(r.heapKbPerPeer, ' kB')}`,
      'rooms of 10',
    ]);
  }
  const br = r.browser;
  if (br) {
    const j = br.joinMs;
    const line = (m: (typeof j)['plain']) =>
      `p50 ${m.all.p50} · p95 ${m.all.p95} · max ${m.all.max} (n=${m.all.n}${m.failed ? `, ${m.failed} not heard` : ''})`;
    rows.push([
      '3. Browser join → first decoded audio (ms), plain vs encrypted room',
      `plain ${line(j.plain)} · encrypted ${line(j.encrypted)}`,
      `Chromium, click to decoded audio (totalSamplesReceived − concealedSamples) from both people already in the room; one at a time p50 ${j.plain.sequential.p50} vs ${j.encrypted.sequential.p50}; bursts of ${br.burstSize}: p50 ${j.plain.burst.p50} / max ${j.plain.burst.max} vs ${j.encrypted.burst.p50} / max ${j.encrypted.burst.max}; first RTP packet p50 ${j.plain.firstPacketMs.p50} vs ${j.encrypted.firstPacketMs.p50}; modes alternating; a wrong key: ${br.wrongKey.packets} packets, ${br.wrongKey.decodedSamples} samples decoded`,
    ]);
    const trips = (m: (typeof j)['plain']) =>
      m.roundTrips && m.requests
        ? `${rangeText(m.roundTrips)} (${rangeText(m.requests)} requests)`
        : '—';
    rows.push([
      '3. Browser signaling round trips per join',
      `plain ${trips(j.plain)} · encrypted ${trips(j.encrypted)}`,
      `as the page counts them (stats panel: data-join-round-trips); app join time p50 ${j.plain.appJoinMs.p50} vs ${j.encrypted.appJoinMs.p50} ms`,
    ]);
    const c = br.crypto;
    const worker = c.workerThread
      ? `worker thread ${c.workerThread.pctOfCore} % of a core per person (${c.workerThread.usPerFrame} µs per frame)`
      : 'worker thread not found in /proc';
    const chromium = c.chromiumPctPerPerson
      ? `; whole Chromium per person ${c.chromiumPctPerPerson.plain} % vs ${c.chromiumPctPerPerson.encrypted} % of a core (+${c.chromiumAddedUsPerFrame} µs per frame)`
      : '';
    rows.push([
      '3. Browser E2EE CPU per frame (Chromium)',
      `encrypt ${fmt(c.encryptUsPerFrame, ' µs')} · decrypt ${fmt(c.decryptUsPerFrame, ' µs')}`,
      `the worker's own counters (time in the cipher calls ÷ frames, ${c.frames.encrypt} + ${c.frames.decrypt} frames; 100 µs jittered timer), mostly waiting for WebCrypto's thread: one call takes ${c.webCryptoCallUs.backToBack} µs back to back, ${c.webCryptoCallUs.paced} µs paced at 20 ms; ${worker}${chromium}`,
    ]);
    const z = br.size;
    rows.push([
      '3. Browser E2EE size per stream',
      `+${z.bytesPerPacket.added} bytes per packet (${z.bytesPerPacket.plain} → ${z.bytesPerPacket.encrypted}) · +${z.payloadKbps.added} kbit/s per speaker (${z.payloadKbps.plain} → ${z.payloadKbps.encrypted})`,
      `outbound-rtp payload, same tones in both rooms, ${z.packetsPerSecond.encrypted} packets/s; the worker adds ${fmt(z.workerAddedBytesPerFrame.encrypt)} bytes per frame (FRAME_OVERHEAD_BYTES ${z.frameOverheadBytes}: +${z.expectedAddedKbps} kbit/s)`,
    ]);
  }
  if (r.baseline) {
    rows.push([
      '5. GhostTalk ÷ bare mediasoup (µs/packet)',
      `${r.bareMediasoupRatio} (${r.baseline.ghostTalk.usPerPacket} ÷ ${r.baseline.bare.usPerPacket} µs)`,
      `${r.baseline.rooms} rooms × ${r.baseline.peersPerRoom} talking, same run`,
    ]);
  }
  if (r.sfuAddedLatencyMs) {
    const s = r.sfuAddedLatencyMs;
    rows.push([
      '6. SFU transit p50 / p99 (ms)',
      `${s.p50} / ${s.p99}`,
      `loopback without SFU ${s.loopbackFloor.p50} / ${s.loopbackFloor.p99}`,
    ]);
  }
  const g = r.twoWorkerRoom.ghostTalk;
  if (g) {
    const one = g.oneWorker;
    const two = g.twoWorkers;
    rows.push([
      'Large room through GhostTalk: 1 vs 2 workers',
      `${g.peers} peers, ${g.talkers} talking (SRTP): 1 worker ${one.workerCpuPct} % (${one.usPerPacket} µs/packet), 2 workers ${two.perWorkerCpuPct.join(' % + ')} % (${two.usPerPacket} µs/packet, ${two.routers} routers, consumers ${two.consumersPerWorker.join(' + ')})`,
      `loss ${one.lossPct} % vs ${two.lossPct} %; join p50 ${one.joinMs.p50} vs ${two.joinMs.p50} ms`,
    ]);
  }
  if (r.twoWorkerRoom.bareAtScale) {
    const t = r.twoWorkerRoom.bareAtScale;
    rows.push([
      'Large room, bare mediasoup at scale: 1 vs 2 workers',
      `${t.peers} peers, ${t.talkers} talking (${t.consumers} consumers): 1 worker ${t.oneWorker.workerCpuPct} %, 2 workers ${t.twoWorkers.perWorkerCpuPct.join(' % + ')} %`,
      `busiest worker ×${t.busiestWorkerRatio}, total CPU ×${t.cpuRatio}; loss ${t.oneWorker.lossPct} % vs ${t.twoWorkers.lossPct} %; transit p99 ${t.oneWorker.latencyMs.p99} vs ${t.twoWorkers.latencyMs.p99} ms`,
    ]);
  }
  const c = r.cluster;
  if (c) {
    const p = c.perJoin;
    rows.push([
      "Cluster: join through the room's node vs another (relayed) node",
      `p50 ${c.joinMs.ownNode.p50} vs ${c.joinMs.otherNode.p50} ms (+${c.joinMs.extraMsP50}); p95 ${c.joinMs.ownNode.p95} vs ${c.joinMs.otherNode.p95} ms (+${c.joinMs.extraMsP95})`,
      `signaling join (request to ack), ${c.joinMs.ownNode.n} + ${c.joinMs.otherNode.n} joins, ${c.nodes} nodes on one Redis`,
    ]);
    rows.push([
      'Cluster: Redis commands / Node CPU per join',
      `single node 0 / ${p.singleNode.nodeCpuMs} ms · own node ${p.clusterOwnNode.redisCommands} / ${p.clusterOwnNode.nodeCpuMs} ms · relayed ${p.clusterOtherNode.redisCommands} / ${p.clusterOtherNode.nodeCpuMs} ms · new room ${p.clusterNewRoom.redisCommands} / ${p.clusterNewRoom.nodeCpuMs} ms`,
      `connect + join + leave; Node CPU summed over all nodes; Redis CPU per relayed join ${p.clusterOtherNode.redisCpuMs} ms`,
    ]);
    rows.push([
      'Cluster: joins per second, 3 nodes vs 1',
      `${c.joinsPerSecond.cluster} vs ${c.joinsPerSecond.singleNode} (×${c.joinsPerSecond.ratio})`,
      `${c.joinsPerSecond.concurrency} clients for ${c.joinsPerSecond.seconds} s. ${c.note}`,
    ]);
  }
  const sp = r.span;
  if (sp) {
    const signed = (v: number) => `${v >= 0 ? '+' : ''}${v}`;
    for (const p of sp.pipeCost.points) {
      const at = `${p.talkers} talkers + ${p.listeners} listeners`;
      const t = p.latencyTogetherMs;
      rows.push([
        `Span: worker CPU per packet, listener on the room's node vs on another node (${at})`,
        `${p.local.usPerPacket} vs ${p.remote.usPerPacket} µs (×${p.ratio}); remote: room's node ${p.remote.usPerPacketByNode.roomNode} + other node ${p.remote.usPerPacketByNode.otherNode} µs; the pipe itself ${p.pipeUsPerPipedPacket} µs per packet crossing it`,
        `${p.local.forwardedPps} packets/s to listeners, workers ${p.local.perWorkerCpuPct.join(' % + ')} % vs ${p.remote.perWorkerCpuPct.join(' % + ')} %; loss ${p.local.lossPct} % vs ${p.remote.lossPct} %; plain RTP, muted listeners, everyone producing, placed by NODE_CONSUMER_BUDGET; one SRTP pipe per talker; both nodes' workers counted`,
      ]);
      rows.push([
        `Span: talker → listener latency, same node vs across the pipe (${at}, ms)`,
        `p50 ${t.local.p50} vs ${t.remote.p50} (${signed(p.addedLatencyMs.p50)}) · p99 ${t.local.p99} vs ${t.remote.p99} (${signed(p.addedLatencyMs.p99)})`,
        `send time (RTP timestamp) to receipt in the load generator, loopback, both rooms talking at once (${t.local.packets} + ${t.remote.packets} packets); in the alternating CPU windows p50 ${p.local.latencyMs.p50} vs ${p.remote.latencyMs.p50}, p99 ${p.local.latencyMs.p99} vs ${p.remote.latencyMs.p99}; the first listener on the other node heard everyone ${p.firstRemoteListenerMs} ms after its join`,
      ]);
    }
    const l = sp.largestRoom;
    const best = (run: typeof l.oneNode) =>
      run.best
        ? `${run.best.people} people at ${run.best.perWorkerCpuPct.join(' % + ')} % CPU, loss ${run.best.lossPct} % (consumers ${run.best.consumersPerNode.join(' + ')}; people ${run.best.peoplePerNode.join(' + ')})`
        : 'no step passed';
    const same = l.sameSize
      ? `; at ${l.sameSize.people} people: ${l.sameSize.usPerPacket.oneNode} vs ${l.sameSize.usPerPacket.threeNodes} µs/packet, total worker CPU ×${l.sameSize.workerCpuPct.ratio}`
      : '';
    const atLimit = l.oneNode.peopleAtCpuLimit
      ? `; one node's worker would reach ${MAX_WORKER_CPU_PCT} % at about ${l.oneNode.peopleAtCpuLimit} people (extrapolated)`
      : '';
    rows.push([
      'Span: largest room, 1 node vs 3 nodes',
      `1 node: ${best(l.oneNode)} · 3 nodes: ${best(l.threeNodes)}`,
      `${l.talkers} talking, the rest muted; next step: ${l.oneNode.limitedBy} vs ${l.threeNodes.limitedBy}${atLimit}${same}. ${l.note}`,
    ]);
  }
  const table = [
    '| What | Result | Notes |',
    '| --- | --- | --- |',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
  return [
    `### Benchmark (${r.mode}, ${m.date.slice(0, 10)})`,
    '',
    `${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, Node ${m.node}, mediasoup ${m.mediasoup}; worker SRTP crypto: ${m.workerBinary.srtpCrypto}; load average at start ${m.loadAverageAtStart}; run took ${r.durationS} s.`,
    '',
    headline(r),
    '',
    'The detail:',
    '',
    table,
    '',
  ].join('\n');
}

/**
 * What an operator sizes by and a user feels, first; every figure from this run, on
 * this machine, marked as measured or derived (computed from measured ones).
 */
function headline(r: Results): string {
  const m = r.machine;
  const machine = `${m.cpu}, ${m.cores} cores, load ${m.loadAverageAtStart}`;
  const rows: [string, string, 'measured' | 'derived', string][] = [];
  const cap = (c: Results['capacity']) =>
    c
      ? `${c.peers} peers (${c.rooms} rooms of ${c.peersPerRoom}) at ${fmt(c.workerCpuPct, ' %')} of a core, loss ${fmt(c.sfuLossPct, ' %')}`
      : '—';
  const rp = r.realisticPeersPerCore;
  if (rp && r.capacityRealistic) {
    rows.push([
      `Realistic peers per core, SRTP (${rp.srtp ?? 'plain'}; 1 speaker in 10, DTX)`,
      cap(r.capacityRealistic),
      'measured',
      `largest passing step on one worker; ${fmt(rp.at85PctCpu)} at ${MAX_WORKER_CPU_PCT} % CPU (derived); goal ${rp.target}`,
    ]);
  }
  if (r.capacity) {
    rows.push([
      'Everyone-talking peers per core, SRTP',
      cap(r.capacity),
      'measured',
      `${fmt(r.capacity.peersAt85PctCpu)} at ${MAX_WORKER_CPU_PCT} % CPU (derived)`,
    ]);
  }
  const br = r.browser;
  if (br) {
    const j = br.joinMs;
    rows.push([
      'Chromium join: click → first decoded audio, p50 / p95 (ms)',
      `plain room ${j.plain.all.p50} / ${j.plain.all.p95} · encrypted ${j.encrypted.all.p50} / ${j.encrypted.all.p95}`,
      'measured',
      `${j.plain.all.n} + ${j.encrypted.all.n} joins, one at a time and in bursts of ${br.burstSize}, Chromium pages on the same cores; goal p50 < 200, p95 < 400`,
    ]);
  }
  const w = r.workerCpuUsPerPacket;
  const fl = r.floor;
  if (w) {
    rows.push([
      'Worker µs per forwarded packet (CPU time)',
      `SRTP ${fmt(w.plainSrtpGcm)} (PlainTransport) / ${fmt(w.srtp)} (WebRTC) · plain ${fmt(w.plain)}`,
      'measured',
      `${w.consumersMeasured} consumers on one router, 50 packets/s per producer`,
    ]);
  }
  if (fl) {
    rows.push([
      'Worker ÷ the floor (a C forwarder)',
      `SRTP ×${fmt(fl.mediasoupOverFloor.srtpGcm)} · plain ×${fmt(fl.mediasoupOverFloor.plain)}`,
      'derived',
      `from the µs above and the floor's ${fmt(fl.usPerCopy.sendtoGcm)} / ${fmt(fl.usPerCopy.sendto)} µs per copy (sendto + AES-GCM / sendto), measured in this run`,
    ]);
  }
  if (r.baseline) {
    rows.push([
      'GhostTalk ÷ bare mediasoup (µs per packet)',
      `×${r.bareMediasoupRatio}`,
      'derived',
      `${r.baseline.ghostTalk.usPerPacket} ÷ ${r.baseline.bare.usPerPacket} µs, ${r.baseline.rooms} rooms of ${r.baseline.peersPerRoom} talking, measured side by side`,
    ]);
  }
  if (rows.length === 0) return '';
  return [
    '| Figure | Value | Kind | Machine | How |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map(
      ([what, value, kind, how]) => `| ${what} | ${value} | ${kind} | ${machine} | ${how} |`,
    ),
  ].join('\n');
}

/** Capacity steps (CPU vs peers) and µs per packet, as one SVG. */
export function svgChart(r: Results): string {
  const W = 900;
  const H = 360;
  const parts: string[] = [];
  const text = (x: number, y: number, s: string, extra = '') =>
    `<text x="${x}" y="${y}" ${extra}>${s.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`;
  // Left panel: capacity steps.
  const L = { x: 60, y: 40, w: 440, h: 260 };
  const series = [r.capacity, r.capacityRealistic].filter((c) => c !== null);
  const maxPeers = Math.max(100, ...series.flatMap((c) => c.steps.map((s) => s.peers))) * 1.05;
  const px = (peers: number) => L.x + (peers / maxPeers) * L.w;
  const py = (pct: number) => L.y + L.h - (Math.min(pct, 110) / 110) * L.h;
  parts.push(
    text(L.x, 24, 'Worker CPU (% of one core) vs peers on one worker', 'font-weight="bold"'),
  );
  parts.push(
    `<rect x="${L.x}" y="${L.y}" width="${L.w}" height="${L.h}" fill="none" stroke="#999"/>`,
  );
  for (const pct of [0, 25, 50, 85, 100]) {
    const y = py(pct);
    const color = pct === 85 ? '#d33' : '#ddd';
    parts.push(
      `<line x1="${L.x}" y1="${y}" x2="${L.x + L.w}" y2="${y}" stroke="${color}"${pct === 85 ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    parts.push(text(L.x - 8, y + 4, `${pct}%`, 'text-anchor="end" font-size="11"'));
  }
  for (let p = 0; p <= maxPeers; p += maxPeers > 2000 ? 500 : 250) {
    parts.push(text(px(p), L.y + L.h + 16, String(p), 'text-anchor="middle" font-size="11"'));
  }
  parts.push(
    text(
      L.x + L.w / 2,
      L.y + L.h + 34,
      'peers (rooms of 10)',
      'text-anchor="middle" font-size="12"',
    ),
  );
  const colors = ['#1f77b4', '#2ca02c'];
  series.forEach((c, i) => {
    const color = colors[i] ?? '#555';
    const points = c.steps.map((s) => `${px(s.peers).toFixed(1)},${py(s.workerCpuPct).toFixed(1)}`);
    parts.push(
      `<polyline points="${points.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`,
    );
    for (const s of c.steps) {
      const fill = s.pass ? color : '#d33';
      parts.push(
        `<circle cx="${px(s.peers).toFixed(1)}" cy="${py(s.workerCpuPct).toFixed(1)}" r="4" fill="${fill}"/>`,
      );
    }
    const label =
      c.pattern === 'allTalking' ? 'everyone talking' : 'realistic (1 of 10 talks, DTX)';
    // Legend at the lower right, clear of the steep everyone-talking line.
    const ly = L.y + L.h - 58 + i * 18;
    const lx = L.x + L.w - 290;
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color}"/>`);
    parts.push(text(lx + 18, ly, `${label}: ${c.peers} peers pass`, 'font-size="12"'));
  });
  parts.push(
    text(
      L.x + L.w - 290,
      L.y + L.h - 58 + series.length * 18,
      'red dot: first step over the limit',
      'font-size="11" fill="#d33"',
    ),
  );
  // Right panel: µs per packet.
  const R = { x: 580, y: 40, w: 290, h: 260 };
  parts.push(text(R.x - 20, 24, 'Worker CPU µs per forwarded packet', 'font-weight="bold"'));
  const bars: [string, number | null | undefined][] = [
    [
      `SRTP ${r.workerCpuUsPerPacket?.srtpProfile === 'AES_CM_128_HMAC_SHA1_80' ? 'AES-CM' : 'GCM'}`,
      r.workerCpuUsPerPacket?.srtp,
    ],
    ['SRTP AES-CM', r.workerCpuUsPerPacket?.srtpAesCm],
    ['SRTP plain tr.', r.workerCpuUsPerPacket?.plainSrtpGcm],
    ['floor GCM', r.floor?.usPerCopy.sendtoGcm],
    ['floor plain', r.floor?.usPerCopy.sendto],
    ['plain', r.workerCpuUsPerPacket?.plain],
    ['plain+NACK/TWCC', r.workerCpuUsPerPacket?.plainBrowserCaps],
    ['rooms, bare *', r.baseline?.bare.usPerPacket],
    ['rooms, GhostTalk *', r.baseline?.ghostTalk.usPerPacket],
  ];
  const maxUs = Math.max(12, ...bars.map(([, v]) => v ?? 0)) * 1.1;
  const barH = R.h / bars.length;
  const bx = (v: number) => R.x + 110 + (v / maxUs) * (R.w - 110);
  bars.forEach(([label, value], i) => {
    const y = R.y + i * barH + 6;
    parts.push(text(R.x + 104, y + barH / 2, label, 'text-anchor="end" font-size="12"'));
    if (value) {
      parts.push(
        `<rect x="${R.x + 110}" y="${y}" width="${(bx(value) - R.x - 110).toFixed(1)}" height="${barH - 14}" fill="#1f77b4"/>`,
      );
      parts.push(text(bx(value) + 4, y + barH / 2, value.toFixed(1), 'font-size="12"'));
    }
  });
  const target = bx(10);
  parts.push(
    `<line x1="${target}" y1="${R.y}" x2="${target}" y2="${R.y + R.h}" stroke="#d33" stroke-dasharray="6 4"/>`,
  );
  parts.push(
    text(
      target,
      R.y + R.h + 16,
      'SRTP target 10 µs',
      'text-anchor="middle" font-size="11" fill="#d33"',
    ),
  );
  parts.push(
    text(
      R.x - 30,
      R.y + R.h + 32,
      `top four: ${r.workerCpuUsPerPacket?.consumersMeasured ?? '?'} consumers, ${r.workerCpuUsPerPacket?.detail?.plain?.forwardedPps ?? '?'} pkt/s; * all talking, ${r.baseline?.ghostTalk.forwardedPps ?? '?'} pkt/s`,
      'font-size="10" fill="#555"',
    ),
  );
  const m = r.machine;
  parts.push(
    text(
      20,
      H - 12,
      `${m.cpu}, ${m.cores} cores · mediasoup ${m.mediasoup} · ${m.date.slice(0, 16)}Z · ${r.mode} run`,
      'font-size="11" fill="#555"',
    ),
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`;
}

/** A PNG of the SVG when a real renderer is installed (rsvg-convert, ImageMagick). */
function renderPng(svgPath: string, pngPath: string): boolean {
  const attempts: [string, string[]][] = [
    ['rsvg-convert', ['-o', pngPath, svgPath]],
    ['/usr/bin/convert', [svgPath, pngPath]],
  ];
  for (const [command, args] of attempts) {
    try {
      execFileSync(command, args, { stdio: 'ignore', timeout: 30_000 });
      return true;
    } catch {
      // Try the next renderer.
    }
  }
  return false;
}

/**
 * `name.json`, `name.md`, a dated copy of the JSON, and for a whole run (`latest`) the
 * chart. A run of some phases only passes another name, so it never replaces latest.*
 * (which would lose the other phases' figures).
 */
export async function writeResults(r: Results, dir: string, name = 'latest') {
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(r, null, 2)}\n`;
  const stamp = r.machine.date.replace(/[:.]/g, '-').slice(0, 19);
  const md = markdown(r);
  const whole = name === 'latest';
  const paths = [
    join(dir, `${name}.json`),
    join(dir, `${stamp}-${r.mode}${whole ? '' : `-${name}`}.json`),
    join(dir, `${name}.md`),
  ];
  writeFileSync(paths[0] as string, json);
  writeFileSync(paths[1] as string, json);
  writeFileSync(paths[2] as string, md);
  if (whole) {
    const svg = join(dir, 'latest.svg');
    writeFileSync(svg, svgChart(r));
    paths.push(svg);
    const png = join(dir, 'latest.png');
    if (renderPng(svg, png)) paths.push(png);
  }
  return { paths, markdown: md };
}
