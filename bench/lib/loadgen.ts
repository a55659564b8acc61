/**
 * Load generator child process: plain-RTP producers (Node dgram into mediasoup
 * PlainTransports, comedia) and receivers (the sockets mediasoup's consumer
 * PlainTransports send to, plain RTP or SRTP), counting packets and SFU transit times
 * per tag. SRTP packets are counted, never decrypted: their SSRCs were registered with
 * their tag, and header fields (sequence number, timestamp) are in the clear.
 *
 * Run by the benchmark with spawnChild(); see LoadGenerator in plainRtp.ts for the API.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { serve } from './ipc.ts';
import {
  type FrameKind,
  isTalking,
  packetTag,
  RtpWriter,
  rtpPayloadOffset,
  transitUs,
} from './rtpPacket.ts';
import { LatencyHistogram } from './stats.ts';

export type StreamKind = 'talk' | 'dtx';
export type StreamSpec = {
  /** The producer PlainTransport's port on 127.0.0.1. */
  port: number;
  ssrc: number;
  /** Measurement group (0..255): counters, latency and on/off switch are per tag. */
  tag: number;
  /** Consumers of this producer: each packet sent should arrive this many times. */
  fanout: number;
  kind: StreamKind;
  /** Its consumers drop DTX frames (mediasoup's ignoreDtx): those are not expected. */
  consumersIgnoreDtx?: boolean;
};
export type TagCounters = {
  /** Packets sent x fanout: what the consumers should forward. */
  expected: number;
  received: number;
  sent: number;
  /**
   * Packets the receivers know were sent to them, from each consumer's sequence numbers
   * (mediasoup keeps producer-side gaps as gaps). Unlike `expected` it is not fooled by
   * packets still queued at our sockets, so loss is counted from it.
   */
  seqExpected: number;
};
export type Snapshot = {
  tags: Record<number, TagCounters>;
  /** Datagrams the kernel dropped at our receive sockets (our fault, not the SFU's). */
  receiverDrops: number;
  /** Sends that were more than one frame late (the generator falling behind). */
  lateSends: number;
  cpuMs: number;
};

const TICK_MS = 4;
const TALK_INTERVAL_MS = 20;
/** In silence Chromium sends a comfort-noise frame and a DTX frame per ~400 ms, alternating. */
const SILENT_INTERVAL_MS = 200;
const HOST = '127.0.0.1';

type Stream = StreamSpec & { writer: RtpWriter; next: number; interval: number; frames: number };

const receivers: Socket[] = [];
let sender: Socket | undefined;
let streams: Stream[] = [];
const enabled = new Uint8Array(256);
const expected = new Float64Array(256);
const received = new Float64Array(256);
const sent = new Float64Array(256);
const seqExpected = new Float64Array(256);
/** Per consumer SSRC: the highest sequence number seen. */
const lastSeq = new Map<number, number>();
/** SRTP consumers' SSRCs and their tags (their payloads are sealed). */
const srtpTags = new Map<number, number>();
const histograms = new Map<number, LatencyHistogram>();
let lateSends = 0;
let timer: NodeJS.Timeout | undefined;

function onPacket(packet: Buffer): void {
  const offset = rtpPayloadOffset(packet);
  if (offset < 0) return;
  const ssrc = packet.readUInt32BE(8);
  const tag = srtpTags.get(ssrc) ?? packetTag(packet, offset);
  received[tag] = (received[tag] as number) + 1;
  const seq = packet.readUInt16BE(2);
  const last = lastSeq.get(ssrc);
  const advance = last === undefined ? 1 : (seq - last) & 0xffff;
  if (advance > 0 && advance < 0x8000) {
    seqExpected[tag] = (seqExpected[tag] as number) + advance;
    lastSeq.set(ssrc, seq);
  }
  if (!isTalking(packet, offset)) return;
  const latencyUs = transitUs(packet, performance.now());
  let histogram = histograms.get(tag);
  if (!histogram) {
    histogram = new LatencyHistogram();
    histograms.set(tag, histogram);
  }
  histogram.record(latencyUs);
}

function tick(): void {
  const socket = sender;
  if (!socket) return;
  const now = performance.now();
  for (const stream of streams) {
    if (!enabled[stream.tag]) continue;
    if (stream.next > now) continue;
    if (now - stream.next > stream.interval) {
      lateSends++;
      stream.next = now;
    }
    const frame: FrameKind =
      stream.kind === 'talk' ? 'talk' : stream.frames % 2 === 0 ? 'comfortNoise' : 'dtx';
    stream.frames += 1;
    socket.send(stream.writer.write(frame, performance.now()), stream.port, HOST);
    stream.next += stream.interval;
    sent[stream.tag] = (sent[stream.tag] as number) + 1;
    if (frame !== 'dtx' || !stream.consumersIgnoreDtx) {
      expected[stream.tag] = (expected[stream.tag] as number) + stream.fanout;
    }
  }
}

function bind(recvBufferBytes: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: 'udp4', recvBufferSize: recvBufferBytes });
    socket.once('error', reject);
    socket.bind(0, HOST, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/** Kernel drop counters of our receive sockets, from /proc/net/udp. */
function receiverDrops(): number {
  const ports = new Set(receivers.map((s) => s.address().port));
  let drops = 0;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    if (!local) continue;
    const port = Number.parseInt(local.split(':')[1] ?? '', 16);
    if (ports.has(port)) drops += Number(fields[12] ?? 0);
  }
  return drops;
}

serve({
  init: async ({ sockets, recvBufferBytes }: { sockets: number; recvBufferBytes: number }) => {
    for (let i = 0; i < sockets; i++) {
      const socket = await bind(recvBufferBytes);
      socket.on('message', onPacket);
      receivers.push(socket);
    }
    sender = await bind(1 << 20);
    sender.on('message', () => undefined); // mediasoup's RTCP receiver reports
    timer = setInterval(tick, TICK_MS);
    return { ports: receivers.map((s) => s.address().port) };
  },
  addStreams: ({ streams: specs }: { streams: StreamSpec[] }) => {
    const now = performance.now();
    for (const spec of specs) {
      const interval = spec.kind === 'talk' ? TALK_INTERVAL_MS : SILENT_INTERVAL_MS;
      streams.push({
        ...spec,
        writer: new RtpWriter(spec.ssrc, spec.tag),
        interval,
        frames: 0,
        // Spread the streams' phases so packets do not leave in one burst per frame.
        next: now + Math.random() * interval,
      });
    }
    return { streams: streams.length };
  },
  removeStreams: ({ tag }: { tag: number }) => {
    streams = streams.filter((s) => s.tag !== tag);
    for (const [ssrc, t] of srtpTags) if (t === tag) srtpTags.delete(ssrc);
    return { streams: streams.length };
  },
  /** SRTP consumers' SSRCs, counted for `tag` (until its streams are removed). */
  tagSrtpSsrcs: ({ tag, ssrcs }: { tag: number; ssrcs: number[] }) => {
    for (const ssrc of ssrcs) srtpTags.set(ssrc, tag);
  },
  /** Sets the fanout of every stream of a tag (a room that grew or shrank). */
  setFanout: ({ tag, fanout }: { tag: number; fanout: number }) => {
    for (const s of streams) if (s.tag === tag) s.fanout = fanout;
  },
  /** Starts or stops every stream of a tag (phases are re-spread on start). */
  setEnabled: ({ tag, on }: { tag: number; on: boolean }) => {
    enabled[tag] = on ? 1 : 0;
    const now = performance.now();
    if (on) for (const s of streams) if (s.tag === tag) s.next = now + Math.random() * s.interval;
  },
  snapshot: (): Snapshot => {
    const tags: Record<number, TagCounters> = {};
    for (let tag = 0; tag < 256; tag++) {
      if (sent[tag] || received[tag]) {
        tags[tag] = {
          expected: expected[tag] as number,
          received: received[tag] as number,
          sent: sent[tag] as number,
          seqExpected: seqExpected[tag] as number,
        };
      }
    }
    const cpu = process.cpuUsage();
    return {
      tags,
      receiverDrops: receiverDrops(),
      lateSends,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
  },
  /** Transit-time histogram of one tag since the last reset. */
  latency: ({ tag, reset }: { tag: number; reset: boolean }) => {
    const histogram = histograms.get(tag);
    const sparse = histogram?.toSparse() ?? [];
    if (reset) histogram?.clear();
    return sparse;
  },
  close: () => {
    clearInterval(timer);
    for (const socket of receivers) socket.close();
    sender?.close();
  },
});
