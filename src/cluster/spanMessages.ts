import { z } from 'zod';
import { ipFamily } from '../net/addresses.ts';
import { rtpParametersSchema } from '../protocol/protocol.ts';
import { nodeIdSchema } from './clusterRecords.ts';

/**
 * What the nodes of a room spanning nodes tell each other: each one's part of the room
 * (its roster), and the steps of `pipeToRouter` done by hand between two hosts. Like
 * every relay message, each is validated before anything acts on it.
 */
const id = z.string().min(1).max(64);
const room = z.string().min(1).max(64);

const memberSchema = z.object({
  id,
  nickname: z.string().max(256),
  muted: z.boolean(),
  producerId: id.nullable(),
});

/** Where a pipe transport listens, and its SRTP key (a pipe between hosts is encrypted). */
export const pipeEndSchema = z.object({
  ip: z.string().refine((ip) => ipFamily(ip) !== undefined, 'an IP address'),
  port: z.number().int().min(1).max(65535),
  srtp: z.object({
    cryptoSuite: z.enum([
      'AEAD_AES_256_GCM',
      'AEAD_AES_128_GCM',
      'AES_CM_128_HMAC_SHA1_80',
      'AES_CM_128_HMAC_SHA1_32',
    ]),
    keyBase64: z.string().regex(/^[A-Za-z0-9+/=]{16,128}$/),
  }),
});
export type PipeEnd = z.infer<typeof pipeEndSchema>;

/** A request one node makes of another, answered by a reply with the same `n`. */
export const spanCallSchema = z.discriminatedUnion('m', [
  /** To the room's node: where a new person (encrypting end to end or not) should go. */
  z.object({ m: z.literal('place'), room, e2ee: z.boolean() }),
  /** Here is my end of our pipe for this room: connect yours to it, send me yours. */
  z.object({ m: z.literal('pipeOpen'), room, end: pipeEndSchema }),
  /** Send me this producer of yours over our pipe. */
  z.object({ m: z.literal('pipeConsume'), room, producerId: id }),
]);
export type SpanCall = z.infer<typeof spanCallSchema>;

export const replySchemas = {
  /** `roomEncrypted`: refused, the room's encryption differs from the join's. */
  place: z.union([z.object({ node: nodeIdSchema }), z.object({ roomEncrypted: z.boolean() })]),
  pipeOpen: z.object({ end: pipeEndSchema }),
  pipeConsume: z.object({ rtpParameters: rtpParametersSchema, paused: z.boolean() }),
} satisfies Record<SpanCall['m'], z.ZodType>;
export type SpanReply<M extends SpanCall['m']> = z.infer<(typeof replySchemas)[M]>;

export const toNodeSchema = z.discriminatedUnion('t', [
  /** The sender's part of the room, whole; `hello` asks for the receiver's in return. */
  z.object({
    t: z.literal('roster'),
    from: nodeIdSchema,
    room,
    members: z.array(memberSchema).max(1000),
    hello: z.boolean(),
  }),
  /** The sender's part of the room closed. */
  z.object({ t: z.literal('sliceGone'), from: nodeIdSchema, room }),
  /** The producer behind a pipe was paused or resumed (mute). */
  z.object({
    t: z.literal('pipePaused'),
    from: nodeIdSchema,
    room,
    producerId: id,
    paused: z.boolean(),
  }),
  /** That pipe is over: its producer closed, or its receiving end no longer wants it. */
  z.object({ t: z.literal('pipeClosed'), from: nodeIdSchema, room, producerId: id }),
  z.object({
    t: z.literal('call'),
    from: nodeIdSchema,
    n: z.number().int().min(0),
    call: spanCallSchema,
  }),
  z.object({
    t: z.literal('reply'),
    from: nodeIdSchema,
    n: z.number().int().min(0),
    ok: z.boolean(),
    body: z.unknown(),
  }),
]);
export type ToNode = z.infer<typeof toNodeSchema>;
