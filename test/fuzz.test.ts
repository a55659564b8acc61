/**
 * Signaling fuzz against a real server: thousands of malformed, out-of-order and hostile
 * messages from several real socket.io clients, while a healthy room of two real WebRTC
 * clients (werift) keeps talking. Every request must get exactly one well-formed ack,
 * the healthy receiver must keep receiving, the mediasoup worker must live.
 *
 * The generator is seeded; the seed is printed. Rerun with
 *   FUZZ_SEED=<seed> node --test test/fuzz.test.ts
 * The seed fixes every choice each socket makes; ids come from the server and sockets
 * interleave as they will, so a rerun is close to the failing run, not identical.
 *
 * Also here: regression tests for the server bugs the fuzz found, and the per-socket
 * message limit.
 */
import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { types } from 'mediasoup';
import {
  type ErrorCode,
  errorCodes,
  type RequestName,
  type Responses,
  requestSchemas,
} from '../src/protocol/protocol.ts';
import { fakeDtlsParameters, opusRtpParameters } from './support/fakeMedia.ts';
import { type ClientSocket, SignalingClient } from './support/signalingClient.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';
import { WeriftClient } from './support/weriftClient.ts';

const SEED = Number(process.env.FUZZ_SEED ?? randomInt(2 ** 31));
/** Acked requests from the fuzzing sockets (scripted joins/leaves included). */
const TARGET_MESSAGES = 6000;
const FUZZERS = 6;
/** Requests in flight per socket; the server refuses more than 32 queued. */
const WINDOW = 8;
const ACK_TIMEOUT_MS = 10_000;
/** Keep generated messages under socket.io's 64 kB maxHttpBufferSize. */
const MAX_MESSAGE_BYTES = 60_000;
/** socket.io-parser's maxAttachments: binary parts per message. */
const MAX_ATTACHMENTS = 10;
const HEALTHY_ROOM = 'healthy';
const FRAME_MS = 20;

// ---------------------------------------------------------------- seeded generator

class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** mulberry32: [0, 1). */
  float(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** [min, max) */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(0, items.length)];
    if (item === undefined) throw new Error('pick from empty list');
    return item;
  }

  hex(bytes: number): string {
    return Array.from({ length: bytes }, () => this.int(0, 256).toString(16).padStart(2, '0'))
      .join(':')
      .toUpperCase();
  }

  string(maxLength = 40): string {
    const pools = [
      'abcdefghijklmnopqrstuvwxyz0123456789-_',
      'ABC xyz/.\\:;,=?&%$#@!~`\'"<>{}[]()|^*+',
      'éüñ中文日本語한국어ÄÖß',
      '\u0000\u0001\u0007\n\r\t\u001b\u007f\u2028\u2029',
      '\u200b\u200d\u202e\u2066\ufeff\ufffd',
    ];
    const special = ['👩‍👩‍👧', '🏳️‍🌈', 'e\u0301', '\ud800', '\udfff'];
    let out = '';
    const length = this.int(0, maxLength + 1);
    while (out.length < length) {
      out += this.chance(0.05) ? this.pick(special) : this.pick([...this.pick(pools)]);
    }
    return out;
  }
}

const fieldNames = [
  'roomId',
  'nickname',
  'rtpCapabilities',
  'transportId',
  'dtlsParameters',
  'kind',
  'rtpParameters',
  'consumerIds',
  'muted',
  'resume',
  'codecs',
  'encodings',
  'fingerprints',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '',
];

const numbers = [0, -1, 1, 1.5, 127, 128, 255, 256, 2 ** 31, 0xffffffff, 2 ** 32, 2 ** 53, 1e308];

/** A JSON value exactly as it arrives on the server (no undefined/NaN/-0), or a Buffer. */
function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(0, depth >= 3 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.pick(numbers) : -rng.int(0, 1e9);
    case 3:
      return rng.string();
    case 4:
      return rng.chance(0.5) ? rng.pick(['', 'audio', 'video', randomUUID()]) : rng.string(8);
    case 5:
      return Array.from({ length: rng.int(0, 5) }, () => randomValue(rng, depth + 1));
    case 6:
      return Object.fromEntries(
        Array.from({ length: rng.int(0, 5) }, () => [
          rng.chance(0.6) ? rng.pick(fieldNames) : rng.string(10),
          randomValue(rng, depth + 1),
        ]),
      );
    default:
      return Buffer.from(Array.from({ length: rng.int(0, 64) }, () => rng.int(0, 256)));
  }
}

function deepArray(depth: number): unknown {
  let value: unknown = [];
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function deepObject(depth: number): unknown {
  let value: unknown = {};
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

/** Every place in a JSON tree (above the deep parts) a value can be put: [container, key]. */
function slots(value: unknown, out: Array<[Record<string, unknown>, string]> = [], depth = 0) {
  if (depth < 10 && value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const key of Object.keys(value)) {
      out.push([value as Record<string, unknown>, key]);
      slots((value as Record<string, unknown>)[key], out, depth + 1);
    }
  }
  return out;
}

/** What the server's JSON decoding makes of a value (Buffers, never deep, stay binary). */
function wire(value: unknown): unknown {
  const restore = (v: unknown, depth: number): unknown => {
    if (!v || typeof v !== 'object' || depth > 16) return v;
    const o = v as Record<string, unknown>;
    if (o.type === 'Buffer' && Array.isArray(o.data)) return Buffer.from(o.data as number[]);
    for (const key of Object.keys(o)) {
      const restored = restore(o[key], depth + 1);
      if (restored !== o[key]) o[key] = restored;
    }
    return o;
  };
  return restore(JSON.parse(JSON.stringify(value)), 0);
}

// ---------------------------------------------------------------- expectations

type Expect =
  /** Must fail, with one of these codes. */
  | { kind: 'fail'; codes: readonly ErrorCode[] }
  /** Must succeed. */
  | { kind: 'ok' }
  /** Schema-valid and aimed at the client's own objects: may succeed or fail. */
  | { kind: 'either' };

type Own = { send: string; recv: string; consumers: string[] };

/** Where a fuzzing socket stands: what the server will make of its next request. */
type Context = { joined?: Responses['join'] & { own: Own } };

const isKnown = (event: string): event is RequestName => Object.hasOwn(requestSchemas, event);

/**
 * The oracle: the server validates `args[0]` (or `{}`) with the request's schema first,
 * so anything the schema refuses is BAD_REQUEST; what it accepts depends on state.
 * Returns undefined for a request that would change state (a join or leave that would
 * succeed): generators must not send those as garbage.
 */
function expectationFor(event: string, args: unknown[], ctx: Context): Expect | undefined {
  if (!isKnown(event)) return { kind: 'fail', codes: ['UNKNOWN_EVENT'] };
  const payload = args.length === 0 ? undefined : args[0];
  const parsed = requestSchemas[event].safeParse(payload ?? {});
  if (!parsed.success) return { kind: 'fail', codes: ['BAD_REQUEST'] };
  const data = parsed.data as Record<string, unknown>;
  if (event === 'capabilities') return { kind: 'ok' };
  const me = ctx.joined;
  if (event === 'join') return me ? { kind: 'fail', codes: ['ALREADY_JOINED'] } : undefined;
  if (!me) return { kind: 'fail', codes: ['NOT_IN_ROOM'] };
  const mine = (id: unknown) => id === me.own.send || id === me.own.recv;
  switch (event) {
    case 'leave':
      return undefined;
    case 'setMuted':
      return { kind: 'ok' };
    case 'connectTransport':
    case 'restartIce':
      return mine(data.transportId) ? { kind: 'either' } : { kind: 'fail', codes: ['NOT_FOUND'] };
    case 'produce':
      return data.transportId === me.own.send
        ? { kind: 'either' }
        : { kind: 'fail', codes: ['NOT_FOUND'] };
    case 'resumeConsumers':
      // Ids that are not (or no longer) this peer's are skipped; none of its own is refused.
      return (data.consumerIds as string[]).some((id) => me.own.consumers.includes(id))
        ? { kind: 'either' }
        : { kind: 'fail', codes: ['NOT_FOUND'] };
  }
}

// ---------------------------------------------------------------- message generator

type Ids = { foreign: string[]; stale: string[] };

function goodCapabilities(caps: types.RtpCapabilities, rng: Rng): unknown {
  const opus = caps.codecs?.find((c) => c.mimeType === 'audio/opus');
  return rng.pick([
    caps,
    { codecs: [] },
    { codecs: [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 }] },
    { codecs: Array.from({ length: 64 }, (_, i) => ({ ...opus, preferredPayloadType: i })) },
    { codecs: [{ ...opus, parameters: { 'sprop-stereo': 'yes', x: 1 } }], headerExtensions: [] },
  ]);
}

// biome-ignore lint/suspicious/noExplicitAny: mutations reach into any payload shape
type Mutation = (p: any, rng: Rng, healthy: boolean) => void;

/** Mutations that keep the payload plausible but wrong in one specific way. */
const semantic: Partial<Record<RequestName, Mutation[]>> = {
  join: [
    (p) => (p.roomId = 'a/b'),
    (p) => (p.roomId = 'r'.repeat(65)),
    (p) => (p.roomId = ''),
    (p, rng) => (p.roomId = rng.string(20)),
    (p) => (p.nickname = ''),
    (p) => (p.nickname = 'x'.repeat(33)),
    (p) => (p.nickname = 'bell\u0007'),
    (p, rng) => (p.nickname = rng.string(300)),
    (p) => (p.rtpCapabilities = { codecs: 'no' }),
    (p) => (p.rtpCapabilities.codecs = Array(1000).fill(p.rtpCapabilities.codecs?.[0] ?? {})),
    (p) => (p.rtpCapabilities = { codecs: [{ kind: 'audio', mimeType: 'audio/opus' }] }),
    (p) =>
      (p.rtpCapabilities = {
        codecs: [
          { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, preferredPayloadType: 1e6 },
        ],
      }),
    (p) => (p.rtpCapabilities = { codecs: [{ kind: 'data', mimeType: 'x', clockRate: 1 }] }),
    (p) => (p.rtpCapabilities.headerExtensions = [{ kind: 'audio', uri: 'x', preferredId: 0 }]),
    (p, rng) => (p.resume = { peerId: randomUUID(), token: rng.string(100) }),
    (p) => (p.resume = { peerId: '', token: '' }),
  ],
  connectTransport: [
    (p) => (p.dtlsParameters.fingerprints = []),
    (p) => (p.dtlsParameters.fingerprints[0].value = ''),
    (p) => (p.dtlsParameters.fingerprints[0].value = 'ZZ:'.repeat(31).concat('ZZ')),
    (p, rng) => (p.dtlsParameters.fingerprints[0].value = rng.hex(19)),
    (p, rng) => (p.dtlsParameters.fingerprints[0].value = rng.hex(65)),
    (p, rng) => (p.dtlsParameters.fingerprints[0].value = rng.hex(32).replaceAll(':', '')),
    (p) => (p.dtlsParameters.fingerprints[0].algorithm = 'md5'),
    (p) => (p.dtlsParameters.role = 'both'),
    (p) => (p.dtlsParameters.fingerprints = Array(9).fill(p.dtlsParameters.fingerprints[0])),
    (p) => (p.dtlsParameters = null),
  ],
  produce: [
    (p) => (p.kind = 'video'),
    (p) => (p.rtpParameters.codecs = Array(1000).fill(p.rtpParameters.codecs[0])),
    (p) => (p.rtpParameters.codecs[0].payloadType = 1000),
    (p) => (p.rtpParameters.codecs[0].payloadType = -1),
    (p) => (p.rtpParameters.codecs[0].payloadType = 1.5),
    (p) => (p.rtpParameters.codecs[0].mimeType = 'video/VP8'),
    (p) => (p.rtpParameters.codecs[0].mimeType = 'audio/'),
    (p) => (p.rtpParameters.codecs[0].clockRate = 0),
    (p) => (p.rtpParameters.codecs[0].clockRate = 2e6),
    (p) => (p.rtpParameters.codecs[0].channels = 9),
    (p) => (p.rtpParameters.codecs = []),
    (p) => (p.rtpParameters.encodings = []),
    (p) => (p.rtpParameters.encodings = Array(5).fill({ ssrc: 1 })),
    (p) => (p.rtpParameters.encodings[0].ssrc = 2 ** 32),
    (p) => (p.rtpParameters.encodings[0].ssrc = -1),
    (p) => (p.rtpParameters.headerExtensions = Array(17).fill({ uri: 'x', id: 1 })),
    (p) => (p.rtpParameters.headerExtensions = [{ uri: 'x', id: 256 }]),
    (p) =>
      (p.rtpParameters.codecs[0].parameters = Object.fromEntries(
        Array.from({ length: 33 }, (_, i) => [`k${i}`, i]),
      )),
    (p) => (p.rtpParameters.codecs[0].parameters = { x: { y: 1 } }),
    (p) => (p.rtpParameters.codecs[0].rtcpFeedback = Array(17).fill({ type: 'nack' })),
    (p) => (p.rtpParameters.mid = 'm'.repeat(33)),
    (p) => (p.rtpParameters.rtcp = { cname: 'c'.repeat(257) }),
  ],
  resumeConsumers: [
    (p) => (p.consumerIds = []),
    (p) => (p.consumerIds = Array.from({ length: 1001 }, () => randomUUID())),
    (p) => (p.consumerIds = ['']),
    (p) => (p.consumerIds = ['c'.repeat(65)]),
    (p) => (p.consumerIds = [1, 2, 3]),
    (p) => (p.consumerIds = [[p.consumerIds]]),
  ],
  setMuted: [(p) => (p.muted = 'yes'), (p) => (p.muted = 1), (p) => (p.muted = null)],
  restartIce: [(p) => (p.transportId = ''), (p) => (p.transportId = { id: p.transportId })],
  capabilities: [(p) => (p.extra = 1)],
  leave: [(p) => (p.now = true)],
};

/**
 * Schema-valid oddities, sent on one's own transport: they get past validation and
 * reach mediasoup, which must refuse them (or accept them) without harm.
 */
const reaching: Partial<Record<RequestName, Mutation[]>> = {
  connectTransport: [
    (p, rng) => (p.dtlsParameters.fingerprints[0].value = rng.hex(64)),
    (p) => (p.dtlsParameters.fingerprints[0].algorithm = 'sha-1'),
    (p) => (p.dtlsParameters.role = 'auto'),
    (p) => delete p.dtlsParameters.role,
    (p) => (p.dtlsParameters.fingerprints = Array(8).fill(p.dtlsParameters.fingerprints[0])),
    (p) => (p.dtlsParameters.role = 'server'),
  ],
  produce: [
    (p) => (p.rtpParameters.codecs[0].mimeType = 'audio/nope'),
    (p) => (p.rtpParameters.codecs[0].clockRate = 8000),
    (p) => p.rtpParameters.codecs.push({ ...p.rtpParameters.codecs[0] }),
    (p) => (p.rtpParameters.encodings = [{ ssrc: 5, rid: 'r0' }, { rid: 'r1' }]),
    (p) => (p.rtpParameters.encodings[0].rtx = { ssrc: p.rtpParameters.encodings[0].ssrc }),
    (p) => (p.rtpParameters.headerExtensions = [{ uri: 'urn:x', id: 255, encrypt: true }]),
    (p) =>
      (p.rtpParameters.headerExtensions = [
        { uri: 'a', id: 1 },
        { uri: 'b', id: 1 },
      ]),
    (p) => (p.rtpParameters.codecs[0].channels = 1),
    (p) => (p.rtpParameters.codecs[0].payloadType = 0),
    (p) => (p.rtpParameters.encodings = [{}]),
    (p) => (p.rtpParameters.codecs[0].mimeType = 'audio/rtx'),
    (p, _rng, healthy) => {
      // SDP-looking parameter values: only where no werift client would consume them.
      if (!healthy) p.rtpParameters.codecs[0].parameters = { x: 'a\r\na=inject;b=c' };
    },
    (p, _rng, healthy) => {
      if (!healthy) p.rtpParameters.rtcp = { cname: 'x\r\na=ssrc:1 cname:y' };
    },
    (p) => (p.rtpParameters.encodings[0].ssrc = 0),
    (p) => (p.rtpParameters.encodings = [{ rid: 'a' }]),
    (p) => (p.rtpParameters.encodings = [1, 2, 3, 4].map((ssrc) => ({ ssrc }))),
    (p) => (p.rtpParameters.encodings[0].maxBitrate = 1),
    (p) => (p.rtpParameters.codecs[0].rtcpFeedback = [{ type: 'x'.repeat(32), parameter: '' }]),
    (p) =>
      (p.rtpParameters.headerExtensions = [
        { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 15 },
        { uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 15 },
      ]),
    (p) => (p.rtpParameters.mid = ''),
  ],
};

type Message =
  | { via: 'emit'; event: string; args: unknown[]; ack: boolean; what: string }
  | { via: 'raw'; text: string; what: string; event?: string };

class Generator {
  readonly #rng: Rng;
  readonly #caps: types.RtpCapabilities;
  readonly #ids: Ids;
  readonly #sent: Message[] = [];

  constructor(rng: Rng, caps: types.RtpCapabilities, ids: Ids) {
    this.#rng = rng;
    this.#caps = caps;
    this.#ids = ids;
  }

  #id(ctx: Context): string {
    const rng = this.#rng;
    const own = ctx.joined?.own;
    const pools = [
      this.#ids.foreign,
      this.#ids.stale,
      own ? [own.send, own.recv, ...own.consumers] : [],
      [randomUUID(), rng.string(20), 'x'],
    ].filter((pool) => pool.length > 0);
    return rng.pick(rng.pick(pools));
  }

  template(event: RequestName, ctx: Context): Record<string, unknown> {
    const rng = this.#rng;
    switch (event) {
      case 'join':
        return {
          roomId: rng.chance(0.5) ? HEALTHY_ROOM : `fuzz-${rng.int(0, 6)}`,
          nickname: 'Fuzz',
          rtpCapabilities: structuredClone(this.#caps),
        };
      case 'connectTransport':
        return { transportId: this.#id(ctx), dtlsParameters: structuredClone(fakeDtlsParameters) };
      case 'produce': {
        // In the healthy room a fuzzer never really produces: the werift clients would
        // consume whatever it declared (see the SDP-looking parameters below).
        let transportId = this.#id(ctx);
        if (ctx.joined?.roomId === HEALTHY_ROOM && transportId === ctx.joined.own.send) {
          transportId = ctx.joined.own.recv;
        }
        return {
          transportId,
          kind: 'audio',
          rtpParameters: opusRtpParameters(rng.int(1, 2 ** 31)),
        };
      }
      case 'resumeConsumers':
        return { consumerIds: Array.from({ length: rng.int(1, 4) }, () => this.#id(ctx)) };
      case 'setMuted':
        return { muted: rng.chance(0.5) };
      case 'restartIce':
        return { transportId: this.#id(ctx) };
      default:
        return {};
    }
  }

  /**
   * One garbage message and what the server must answer (undefined: no ack asked).
   * Never a join or leave that would succeed: those change state, and are scripted.
   */
  next(ctx: Context): { message: Message; expect: Expect | undefined } {
    for (;;) {
      const message = this.#candidate(ctx);
      let expect: Expect | undefined;
      if (message.via === 'raw') {
        if (!message.text.includes('{id}')) return { message, expect };
        const [event, ...args] = JSON.parse(message.text.slice(message.text.indexOf('[')));
        expect = expectationFor(event, args, ctx);
      } else {
        const json = JSON.stringify([message.event, ...message.args]) ?? '';
        if (Buffer.byteLength(json) > MAX_MESSAGE_BYTES) continue;
        // socket.io drops a connection whose message has more than 10 binary attachments.
        if (json.split('"type":"Buffer"').length - 1 > MAX_ATTACHMENTS) continue;
        if (!message.ack) {
          if (['join', 'leave'].includes(message.event)) continue; // could change state
          return { message, expect };
        }
        expect = expectationFor(message.event, wire(message.args) as unknown[], ctx);
      }
      if (!expect) continue;
      this.#sent.push(message);
      return { message, expect };
    }
  }

  #candidate(ctx: Context): Message {
    const rng = this.#rng;
    const events = Object.keys(requestSchemas) as RequestName[];
    const roll = rng.float();
    const healthy = ctx.joined?.roomId === HEALTHY_ROOM;
    if (roll < 0.08) {
      const event = rng.pick([
        'noSuchEvent',
        '__proto__',
        'constructor',
        'hasOwnProperty',
        'toString',
        'error',
        'JOIN',
        'join ',
        '',
        'e'.repeat(5000),
        rng.string(30),
      ]);
      return { via: 'emit', event, args: [randomValue(rng)], ack: true, what: 'unknown event' };
    }
    if (roll < 0.18) {
      const event = rng.pick(events);
      return { via: 'emit', event, args: [randomValue(rng)], ack: true, what: 'random json' };
    }
    if (roll < 0.38 && ctx.joined) {
      // Past validation, on one's own objects: down to mediasoup.
      const own = ctx.joined.own;
      const event = rng.pick([
        'connectTransport',
        'restartIce',
        'produce',
        'resumeConsumers',
        'setMuted',
      ] as const);
      const payload = this.template(event, ctx);
      if (event === 'produce') payload.transportId = healthy ? own.recv : own.send;
      else if ('transportId' in payload) payload.transportId = rng.pick([own.send, own.recv]);
      if (event === 'resumeConsumers' && own.consumers.length > 0) {
        payload.consumerIds = rng.chance(0.3)
          ? [...own.consumers, ...own.consumers]
          : own.consumers;
      }
      const mutations = reaching[event] ?? [];
      if (mutations.length > 0 && rng.chance(0.8)) {
        try {
          rng.pick(mutations)(payload, rng, healthy);
        } catch {
          // the mutation did not fit this payload shape
        }
      }
      return { via: 'emit', event, args: [payload], ack: true, what: `own ${event}` };
    }
    if (roll < 0.7) {
      const event = rng.pick(events);
      const payload = this.template(event, ctx);
      const mutations = semantic[event] ?? [];
      for (let i = rng.int(1, 3); i > 0; i--) {
        const kind = rng.float();
        if (kind < 0.55 && mutations.length > 0) {
          try {
            rng.pick(mutations)(payload, rng, healthy);
          } catch {
            // the mutation did not fit this payload shape
          }
        } else {
          const places = slots(payload);
          const place = places.length > 0 ? rng.pick(places) : undefined;
          if (!place) continue;
          const [parent, key] = place;
          if (kind < 0.75) parent[key] = randomValue(rng);
          else if (kind < 0.85) delete parent[key];
          else if (kind < 0.93) parent[key] = 'x'.repeat(rng.int(20_000, 58_000));
          else parent[key] = rng.chance(0.5) ? deepArray(2000) : deepObject(1000);
        }
      }
      return { via: 'emit', event, args: [payload], ack: true, what: `mutated ${event}` };
    }
    if (roll < 0.77) {
      const event = rng.pick(events);
      const shapes: unknown[][] = [
        [],
        [this.template(event, ctx), 'extra', 2],
        [Buffer.alloc(rng.int(0, 100))],
        [[this.template(event, ctx)]],
        [JSON.stringify(this.template(event, ctx))],
      ];
      return { via: 'emit', event, args: rng.pick(shapes), ack: true, what: 'odd arguments' };
    }
    if (roll < 0.82 && this.#sent.length > 0) {
      const replay = rng.pick(this.#sent);
      return { ...replay, what: `replayed ${replay.what}` };
    }
    if (roll < 0.9) {
      const event = rng.pick(events);
      return { via: 'raw', text: this.#rawRequest(rng, event), what: 'raw json', event };
    }
    if (roll < 0.95) {
      const event = rng.pick([...events, 'nope']);
      const args = [this.template(event as RequestName, ctx)];
      return { via: 'emit', event, args, ack: false, what: 'no ack' };
    }
    // A client-to-server ack packet for a request the server never made.
    const id = rng.int(0, 100);
    const text = `3${id}${JSON.stringify([{ ok: true, data: {} }])}`;
    return { via: 'raw', text, what: 'stray ack' };
  }

  /** JSON text the socket.io client cannot produce; `{id}` is replaced by the ack id. */
  #rawRequest(rng: Rng, name: string): string {
    const event = JSON.stringify(name);
    const body = rng.pick([
      '[]'.padStart(20_000, '[').padEnd(39_998, ']'),
      '1e999',
      '-0',
      '123456789012345678901234567890',
      '{"roomId":"a","roomId":{"x":1},"nickname":"n"}',
      '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
      '"\\ud800\\udc00\\u0000"',
      '{"transportId":"\\u0000","dtlsParameters":{"fingerprints":[{"algorithm":"sha-256","value":"AA"}]}}',
      `{"consumerIds":[${Array(1001).fill('"x"').join(',')}]}`,
    ]);
    return `2{id}[${event},${body}]`;
  }
}

// ---------------------------------------------------------------- a fuzzing socket

type Stats = {
  acked: number;
  noAck: number;
  raw: number;
  codes: Map<string, number>;
  successes: Map<string, number>;
  /** Requests answered INTERNAL: a server error a client could trigger. */
  internal: string[];
  failures: string[];
};

function describeMessage(message: Message): string {
  const text =
    message.via === 'raw'
      ? message.text
      : `${message.event.slice(0, 40)} ${JSON.stringify(message.args)?.slice(0, 160)}`;
  return `[${message.what}] ${text.slice(0, 220)}`;
}

function checkResponse(
  response: unknown,
  expect: Expect,
  stats: Stats,
  event: string,
  what: () => string,
) {
  const r = response as {
    ok?: unknown;
    data?: unknown;
    error?: { code?: unknown; message?: unknown };
  };
  const fail = (why: string) =>
    stats.failures.push(`${why}: ${JSON.stringify(response)?.slice(0, 200)} <- ${what()}`);
  if (!r || typeof r !== 'object' || typeof r.ok !== 'boolean') return fail('malformed ack');
  if (r.ok) {
    stats.successes.set(event, (stats.successes.get(event) ?? 0) + 1);
    if (expect.kind === 'fail') return fail(`succeeded, expected ${expect.codes.join('|')}`);
    if (!r.data || typeof r.data !== 'object') return fail('ok without data');
    return;
  }
  const code = r.error?.code;
  const key = String(code);
  stats.codes.set(key, (stats.codes.get(key) ?? 0) + 1);
  if (!errorCodes.includes(code as ErrorCode)) return fail('unknown error code');
  if (code === 'INTERNAL') stats.internal.push(what().slice(0, 200));
  if (typeof r.error?.message !== 'string' || r.error.message.length === 0) {
    return fail('error without message');
  }
  if (expect.kind === 'ok') return fail('failed, expected success');
  if (expect.kind === 'fail' && !expect.codes.includes(code as ErrorCode)) {
    return fail(`expected ${expect.codes.join('|')}`);
  }
}

/** socket.io packet types (socket.io-parser): acks, plain and binary. */
const ACK = 3;
const BINARY_ACK = 6;
const RAW_ID_BASE = 1_000_000;

class FuzzSocket {
  readonly client: SignalingClient;
  readonly #stats: Stats;
  /** Ack packets seen, by id, and the ids we asked acks for. */
  readonly #ackPackets = new Map<number, number>();
  readonly #expectedIds = new Set<number>();
  readonly #rawWaiters = new Map<number, (response: unknown) => void>();
  readonly #pending = new Set<Promise<void>>();
  #nextRawId = RAW_ID_BASE;
  /** The last messages sent, to tell what broke a connection. */
  readonly #recent: string[] = [];
  #closing = false;

  static async connect(url: string, stats: Stats): Promise<FuzzSocket> {
    return new FuzzSocket(await SignalingClient.connect(url), stats);
  }

  private constructor(client: SignalingClient, stats: Stats) {
    this.client = client;
    this.#stats = stats;
    client.socket.io.on('packet', (packet) => {
      if (packet.nsp !== '/' || (packet.type !== ACK && packet.type !== BINARY_ACK)) return;
      const id = packet.id ?? -1;
      this.#ackPackets.set(id, (this.#ackPackets.get(id) ?? 0) + 1);
      this.#rawWaiters.get(id)?.((packet.data as unknown[] | undefined)?.[0]);
    });
    client.socket.on('disconnect', (reason) => {
      if (this.#closing) return;
      stats.failures.push(`fuzz socket dropped (${reason}) after: ${this.#recent.join(' | ')}`);
    });
  }

  /** Closes on purpose, gracefully or like a network drop. */
  close(options: { abrupt?: boolean } = {}): void {
    this.#closing = true;
    if (options.abrupt) this.socket.io.engine.close();
    else this.client.close();
  }

  get socket(): ClientSocket {
    return this.client.socket;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /** Sends one message; resolves when its ack is in (or at once if it has none). */
  send(message: Message, expect: Expect | undefined): Promise<void> {
    const stats = this.#stats;
    this.#recent.push(describeMessage(message).slice(0, 120));
    if (this.#recent.length > 4) this.#recent.shift();
    const socket = this.socket as unknown as {
      ids: number;
      emit: (event: string, ...args: unknown[]) => void;
    };
    if (message.via === 'raw' && !message.text.includes('{id}')) {
      stats.raw++;
      this.socket.io.engine.write(message.text);
      return Promise.resolve();
    }
    if (message.via === 'emit' && !message.ack) {
      stats.noAck++;
      socket.emit(message.event, ...message.args);
      return Promise.resolve();
    }
    if (!expect) throw new Error('acked message without expectation');
    const promise = new Promise<void>((resolve) => {
      let id: number;
      const timer = setTimeout(() => {
        stats.failures.push(`no ack within ${ACK_TIMEOUT_MS} ms <- ${describeMessage(message)}`);
        this.#rawWaiters.delete(id);
        resolve();
      }, ACK_TIMEOUT_MS);
      const onAck = (response: unknown) => {
        clearTimeout(timer);
        this.#rawWaiters.delete(id);
        stats.acked++;
        const event = message.via === 'emit' ? message.event : (message.event ?? '?');
        checkResponse(response, expect, stats, event, () => describeMessage(message));
        resolve();
      };
      if (message.via === 'raw') {
        id = this.#nextRawId++;
        this.#rawWaiters.set(id, onAck);
        stats.raw++;
        this.socket.io.engine.write(message.text.replace('{id}', String(id)));
      } else {
        id = socket.ids;
        socket.emit(message.event, ...message.args, onAck);
        if (socket.ids !== id + 1) throw new Error('socket.io-client ack ids changed');
      }
      this.#expectedIds.add(id);
    });
    this.#pending.add(promise);
    void promise.then(() => this.#pending.delete(promise));
    return promise;
  }

  /** A scripted request: awaited, its response returned. */
  async call(event: RequestName, payload: unknown, expect: Expect): Promise<unknown> {
    await this.drain();
    let response: unknown;
    const socket = this.socket as unknown as { ids: number; emit: (...a: unknown[]) => void };
    await new Promise<void>((resolve) => {
      const id = socket.ids;
      this.#expectedIds.add(id);
      const timer = setTimeout(() => {
        this.#stats.failures.push(`no ack for scripted ${event} within ${ACK_TIMEOUT_MS} ms`);
        resolve();
      }, ACK_TIMEOUT_MS);
      socket.emit(event, payload, (r: unknown) => {
        clearTimeout(timer);
        response = r;
        this.#stats.acked++;
        checkResponse(r, expect, this.#stats, `scripted ${event}`, () => `scripted ${event}`);
        resolve();
      });
    });
    return response;
  }

  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.race(this.#pending);
  }

  /** Every id we asked an ack for got exactly one ack packet, and nothing else came. */
  checkAcks(): void {
    for (const id of this.#expectedIds) {
      const count = this.#ackPackets.get(id) ?? 0;
      if (count !== 1) this.#stats.failures.push(`ack id ${id}: ${count} ack packets`);
    }
    for (const id of this.#ackPackets.keys()) {
      if (!this.#expectedIds.has(id)) this.#stats.failures.push(`unrequested ack id ${id}`);
    }
  }
}

// ---------------------------------------------------------------- the tests

describe('signaling fuzz', () => {
  let ts: TestServer;
  let caps: types.RtpCapabilities;
  const werift: WeriftClient[] = [];
  const sockets: SignalingClient[] = [];
  let sendTimer: NodeJS.Timeout | undefined;

  before(async () => {
    console.log(`# fuzz seed ${SEED} (FUZZ_SEED=${SEED} to reproduce)`);
    ts = await startTestServer({
      MESSAGES_PER_10S: '1000000',
      RECONNECT_GRACE_MS: '300',
      ROOM_EMPTY_GRACE_MS: '0',
      JOIN_TIMEOUT_MS: '600000',
    });
    const probe = await SignalingClient.connect(ts.url);
    sockets.push(probe);
    caps = (await probe.call('capabilities', {})).routerRtpCapabilities;
  });

  after(async () => {
    clearInterval(sendTimer);
    for (const client of werift) client.close();
    for (const client of sockets) client.close();
    await ts?.stop();
  });

  test(`${TARGET_MESSAGES}+ hostile messages; the healthy room keeps talking`, {
    timeout: 150_000,
  }, async () => {
    const started = Date.now();
    const worker = ts.worker();
    const pid = worker.pid;

    // The healthy room: the receiver joins first, so the sender's consumer is pushed.
    const receiver = await WeriftClient.create({
      url: ts.url,
      roomId: HEALTHY_ROOM,
      nickname: 'R',
    });
    werift.push(receiver);
    const sender = await WeriftClient.create({ url: ts.url, roomId: HEALTHY_ROOM, nickname: 'S' });
    werift.push(sender);
    let frame = 0;
    sendTimer = setInterval(() => {
      if (sender.closed) return;
      const payload = Buffer.alloc(100, frame & 0xff);
      payload.writeUInt32BE(frame++, 0);
      sender.sendRtp(payload);
    }, FRAME_MS);
    await receiver.waitForPackets(sender.peerId, 10, 10_000);

    const ids: Ids = {
      foreign: [
        ...[sender, receiver].flatMap((c) => [
          c.joined.sendTransport.id,
          c.joined.recvTransport.id,
          c.peerId,
          c.producerId ?? 'none',
          ...c.consumers.keys(),
        ]),
      ],
      stale: [],
    };

    // Receiving is measured in 1-second windows for as long as the fuzz runs.
    const windows: number[] = [];
    let last = receiver.receivedFrom(sender.peerId);
    const sampler = setInterval(() => {
      const now = receiver.receivedFrom(sender.peerId);
      windows.push(now - last);
      last = now;
    }, 1000);

    const stats: Stats = {
      acked: 0,
      noAck: 0,
      raw: 0,
      codes: new Map(),
      successes: new Map(),
      internal: [],
      failures: [],
    };
    let budget = TARGET_MESSAGES;
    const openSockets: FuzzSocket[] = [];
    const allSockets: FuzzSocket[] = [];
    const connect = async () => {
      const socket = await FuzzSocket.connect(ts.url, stats);
      sockets.push(socket.client);
      openSockets.push(socket);
      allSockets.push(socket);
      return socket;
    };

    const fuzzer = async (index: number) => {
      const rng = new Rng(SEED + index * 7919);
      const generator = new Generator(rng, caps, ids);
      let socket = await connect();
      let resume: { peerId: string; token: string } | undefined;
      const garbage = async (ctx: Context, count: number) => {
        for (let i = 0; i < count && budget > 0; i++) {
          const { message, expect } = generator.next(ctx);
          if (expect) budget--;
          void socket.send(message, expect);
          while (socket.inFlight >= WINDOW) await Promise.race([sleep(5), socket.drain()]);
        }
        await socket.drain();
      };
      while (budget > 0) {
        await garbage({}, rng.int(5, 30)); // before joining
        const roomId = rng.chance(0.3) ? HEALTHY_ROOM : `fuzz-${rng.int(0, 6)}`;
        const joinPayload = {
          roomId,
          nickname: `F${index}`,
          rtpCapabilities: roomId === HEALTHY_ROOM ? caps : goodCapabilities(caps, rng),
          ...(resume && rng.chance(0.7) ? { resume } : {}),
        };
        budget--;
        const joined = (await socket.call('join', joinPayload, { kind: 'either' })) as
          | { ok: true; data: Responses['join'] }
          | { ok: false };
        const ctx: Context = {};
        if (joined?.ok) {
          const d = joined.data;
          ctx.joined = {
            ...d,
            own: {
              send: d.sendTransport.id,
              recv: d.recvTransport.id,
              consumers: d.consumers.map((c) => c.id),
            },
          };
          socket.socket.on('newConsumer', (c) => ctx.joined?.own.consumers.push(c.id));
        }
        await garbage(ctx, rng.int(10, 60)); // in a room (or refused one)
        if (ctx.joined) {
          const own = ctx.joined.own;
          ids.stale.push(own.send, own.recv, ctx.joined.peerId, ...own.consumers);
          resume = { peerId: ctx.joined.peerId, token: ctx.joined.resumeToken };
        }
        const ending = rng.float();
        if (ctx.joined && ending < 0.15) {
          // A network drop mid-call: its acks are all in, then the engine dies.
          await socket.drain();
          socket.close({ abrupt: true });
          openSockets.splice(openSockets.indexOf(socket), 1);
          socket = await connect();
          continue;
        }
        if (ctx.joined) {
          budget--;
          await socket.call('leave', {}, { kind: 'ok' });
          socket.socket.off('newConsumer');
        }
        await garbage({}, rng.int(5, 20)); // after leaving
      }
      await socket.drain();
    };

    // Sockets that must be dropped, alone: oversized messages and broken packets.
    const doomed = { oversized: 0, broken: 0, survived: 0 };
    const sacrifice = async (index: number) => {
      const rng = new Rng(SEED + 1_000_003 * (index + 1));
      await sleep(rng.int(0, 4000));
      const client = await SignalingClient.connect(ts.url);
      sockets.push(client);
      const closed = new Promise<string>((resolve) => client.socket.once('disconnect', resolve));
      const emit = client.socket as unknown as { emit: (...a: unknown[]) => void };
      if (index < 4) {
        doomed.oversized++;
        const size = rng.int(70_000, 200_000);
        emit.emit(rng.pick(['join', 'produce', 'nope']), { roomId: 'x'.repeat(size) }, () => {});
        const reason = await Promise.race([closed, sleep(5000).then(() => 'still open')]);
        if (reason !== 'transport close') {
          stats.failures.push(`oversized message (${size} B): ${reason}`);
        }
        return;
      }
      doomed.broken++;
      if (index < 6) {
        // More binary attachments than socket.io accepts in one message.
        const buffers = Array.from({ length: MAX_ATTACHMENTS + 1 }, () => Buffer.alloc(4));
        emit.emit('join', { buffers }, () => {});
        const reason = await Promise.race([closed, sleep(5000).then(() => 'still open')]);
        if (reason !== 'transport close') {
          stats.failures.push(`${buffers.length} binary attachments: ${reason}`);
        }
        return;
      }
      const text = rng.pick([
        '2["join"',
        '2["disconnect",{}]',
        '2["newListener"]',
        '2{}',
        '2[]',
        '2[1,2]',
        '9hello',
        '51-["join",{"_placeholder":true,"num":0}]',
        '0/admin,{"key":"guess"}',
        '0/nope,',
        '1',
        '299999999999999999999999["capabilities",{}]',
        '2-5["capabilities",{}]',
        '',
      ]);
      client.socket.io.engine.write(text);
      // Whatever became of it, the socket answers properly or is gone.
      const r = await Promise.race([
        client.request('capabilities', {}, 3000).then(
          (response) => (response.ok ? 'ok' : `error ${response.error.code}`),
          () => 'no answer',
        ),
        closed.then((reason) => `closed: ${reason}`),
      ]);
      if (r === 'ok') doomed.survived++;
      // After its own namespace DISCONNECT ('1') the server rightly ignores the socket.
      else if (!r.startsWith('closed') && !(text === '1' && r === 'no answer')) {
        stats.failures.push(`raw "${text}" left a socket that ${r}`);
      }
    };

    try {
      await Promise.all([
        ...Array.from({ length: FUZZERS }, (_, i) => fuzzer(i)),
        ...Array.from({ length: 18 }, (_, i) => sacrifice(i)),
      ]);
    } finally {
      budget = 0; // on a failure, the other fuzzers stop too
      clearInterval(sampler);
    }
    const fuzzMs = Date.now() - started;
    for (const socket of allSockets) socket.checkAcks();

    const sorted = (m: Map<string, number>) =>
      [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`);
    const total = stats.acked + stats.noAck + stats.raw;
    console.log(
      `# ${stats.acked} acked requests, ${stats.noAck} unacked, ${stats.raw} raw packets ` +
        `(${total} messages) from ${allSockets.length} sockets in ${fuzzMs} ms`,
    );
    console.log(`# error codes: ${sorted(stats.codes).join(' ')}`);
    console.log(`# successes: ${sorted(stats.successes).join(', ')}`);
    // What the server logged for them (one line per distinct error).
    const logged = readFileSync(join(ts.dataDir, 'server.log'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"request failed"'))
      .map((line) => JSON.parse(line) as { event: string; error: string })
      .map(({ event, error }) => `${event}: ${error}`);
    const internal = [...new Set(logged.map((l) => l.replace(/[0-9a-f-]{36}|\d+/g, 'N')))];
    console.log(`# ${stats.internal.length} INTERNAL answers; logged: ${internal.join(' / ')}`);
    console.log(
      `# sacrificed sockets: ${doomed.oversized} oversized, ${doomed.broken} broken packets ` +
        `(${doomed.survived} of those still answered)`,
    );
    console.log(
      `# healthy receiver, packets per 1 s window: ${windows.join(' ')} ` +
        `(sender sent ${sender.sent})`,
    );

    assert.deepEqual(stats.failures.slice(0, 20), [], `${stats.failures.length} failures`);
    assert.ok(stats.acked >= 3000, `only ${stats.acked} acked requests`);
    assert.ok(windows.length >= 2, 'the fuzz ran for at least 2 s');
    assert.ok(
      windows.every((n) => n > 0),
      `the receiver heard nothing in some second: ${windows.join(' ')}`,
    );
    assert.equal(receiver.error, undefined);
    assert.equal(sender.error, undefined);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');

    // The worker lived through it, and nothing was left behind but the healthy room.
    assert.equal(ts.worker(), worker, 'worker not replaced');
    assert.equal(worker.pid, pid);
    assert.equal(worker.closed, false);
    assert.equal(worker.worker.closed, false);
    for (const socket of openSockets) socket.close();
    const deadline = Date.now() + 10_000;
    const leftover = () =>
      [...ts.server.rooms.values()].map((r) => `${r.id}:${r.peers.size}`).join(' ');
    while (leftover() !== `${HEALTHY_ROOM}:2`) {
      if (Date.now() > deadline) assert.fail(`rooms left after the fuzz: ${leftover()}`);
      await sleep(50);
    }

    // The server still does its job: a normal join, and a new listener hears the sender.
    const normal = await SignalingClient.connect(ts.url);
    sockets.push(normal);
    const normalJoin = await normal.call('join', {
      roomId: 'after',
      nickname: 'N',
      rtpCapabilities: caps,
    });
    await normal.call('produce', {
      transportId: normalJoin.sendTransport.id,
      kind: 'audio',
      rtpParameters: opusRtpParameters(4242),
    });
    await normal.call('leave', {});
    const late = await WeriftClient.create({ url: ts.url, roomId: HEALTHY_ROOM, nickname: 'L' });
    werift.push(late);
    await late.waitForPackets(sender.peerId, 25, 5000);
    await late.leave();
  });
});

describe('requests mediasoup refuses', () => {
  let ts: TestServer;
  const clients: SignalingClient[] = [];

  before(async () => {
    ts = await startTestServer({ JOIN_TIMEOUT_MS: '600000' });
  });

  after(async () => {
    for (const c of clients) c.close();
    await ts?.stop();
  });

  async function joined(roomId: string, nickname: string) {
    const c = await SignalingClient.connect(ts.url);
    clients.push(c);
    const { routerRtpCapabilities } = await c.call('capabilities', {});
    const me = await c.call('join', { roomId, nickname, rtpCapabilities: routerRtpCapabilities });
    return { c, me };
  }

  // Found by the fuzz above. mediasoup refuses these with a plain Error (not a
  // TypeError), which ClientSession answers INTERNAL and logs as a server error.
  test('are answered as the client’s error or a closed consumer, not INTERNAL', {
    timeout: 20_000,
  }, async () => {
    const { c, me } = await joined('mistakes', 'M');
    const connect = { transportId: me.sendTransport.id, dtlsParameters: fakeDtlsParameters };
    assert.equal((await c.request('connectTransport', connect)).ok, true);
    // mediasoup: "connect() already called"
    const connectAgain = await c.request('connectTransport', connect);
    // mediasoup: "RTX ssrc already exists in RTP listener"
    const rtxOnMediaSsrc = await c.request('produce', {
      transportId: me.sendTransport.id,
      kind: 'audio',
      rtpParameters: { ...opusRtpParameters(77), encodings: [{ ssrc: 77, rtx: { ssrc: 77 } }] },
    });
    // A talker leaves just as a listener resumes its consumer. mediasoup: "Channel
    // request handler with ID ... not found [method:consumer.resume]".
    const talker = await joined('race', 'T');
    await talker.c.call('produce', {
      transportId: talker.me.sendTransport.id,
      kind: 'audio',
      rtpParameters: opusRtpParameters(78),
    });
    const listener = await joined('race', 'L');
    const left = talker.c.request('leave', {});
    const resume = await listener.c.request('resumeConsumers', {
      consumerIds: listener.me.consumers.map((x) => x.id),
    });
    await left;
    assert.deepEqual(
      {
        connectAgain: connectAgain.ok || connectAgain.error.code,
        rtxOnMediaSsrc: rtxOnMediaSsrc.ok || rtxOnMediaSsrc.error.code,
        resumeWhileTalkerLeaves: resume.ok || resume.error.code === 'NOT_FOUND',
      },
      { connectAgain: 'BAD_REQUEST', rtxOnMediaSsrc: 'BAD_REQUEST', resumeWhileTalkerLeaves: true },
    );
  });

  // Codec parameters and the RTCP CNAME a producer declares are copied into every
  // consumer's rtpParameters, which clients write into SDP (a=fmtp, a=ssrc ... cname).
  test('a producer cannot declare SDP syntax that reaches other peers', {
    timeout: 20_000,
  }, async () => {
    const { c, me } = await joined('sdp', 'Mallory');
    const rtpParameters = opusRtpParameters(79);
    const injected = await c.request('produce', {
      transportId: me.sendTransport.id,
      kind: 'audio',
      rtpParameters: {
        ...rtpParameters,
        codecs: [{ ...rtpParameters.codecs[0], parameters: { useinbandfec: '1\r\na=x:1' } }],
        rtcp: { cname: 'c\r\na=ssrc:1 cname:x' },
      },
    });
    assert.equal(injected.ok || injected.error.code, 'BAD_REQUEST');
  });
});

describe('per-socket message limit', () => {
  let ts: TestServer;
  const clients: SignalingClient[] = [];

  before(async () => {
    ts = await startTestServer({ MESSAGES_PER_10S: '50' });
  });

  after(async () => {
    for (const c of clients) c.close();
    await ts?.stop();
  });

  test('a flood from one socket gets RATE_LIMITED acks; another client still joins', {
    timeout: 30_000,
  }, async () => {
    const flooder = await SignalingClient.connect(ts.url);
    const other = await SignalingClient.connect(ts.url);
    clients.push(flooder, other);
    const FLOOD = 300;
    const responses = await Promise.all(
      Array.from({ length: FLOOD }, (_, i) =>
        flooder.request(i % 3 === 0 ? ('nope' as 'leave') : 'capabilities', {}, 10_000),
      ),
    );
    const ok = responses.filter((r) => r.ok).length;
    const limited = responses.filter((r) => !r.ok && r.error.code === 'RATE_LIMITED').length;
    console.log(`# flood of ${FLOOD}: ${ok} ok, ${limited} RATE_LIMITED`);
    assert.ok(ok <= 50, `${ok} got through a limit of 50`);
    assert.ok(limited >= FLOOD - 50, `${limited} RATE_LIMITED`);
    assert.equal(
      responses.filter((r) => !r.ok && r.error.code === 'UNKNOWN_EVENT').length + ok + limited,
      FLOOD,
      'every message got exactly one well-formed answer',
    );
    // The flooder is refused until its window passes; everyone else is not.
    const refused = await flooder.request('join', {
      roomId: 'limits',
      nickname: 'Flood',
      rtpCapabilities: { codecs: [] },
    });
    assert.equal(refused.ok || refused.error.code, 'RATE_LIMITED');
    const { routerRtpCapabilities } = await other.call('capabilities', {});
    const joined = await other.call('join', {
      roomId: 'limits',
      nickname: 'Calm',
      rtpCapabilities: routerRtpCapabilities,
    });
    assert.equal(ts.server.rooms.get('limits')?.peers.has(joined.peerId), true);
    assert.equal(flooder.socket.connected, true, 'rate limiting answers, it does not disconnect');
  });
});
