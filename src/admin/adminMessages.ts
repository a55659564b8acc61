import { z } from 'zod';
import { nodeIdSchema } from '../cluster/clusterRecords.ts';
import type { PipeCounts } from '../protocol/adminProtocol.ts';
import type { RoomPart } from './roomView.ts';

/**
 * What admin services on different nodes say to each other, through socket.io's Redis
 * adapter (`serverSideEmit` on `/admin`). Both requests and answers are read back
 * through these schemas: a node of another version, or a bad actor on Redis, gets
 * ignored, never trusted.
 */
export const adminEvents = {
  /** Answer: the node's own rooms (its parts of rooms spanning nodes) and its pipes. */
  snapshot: 'gt:snapshot',
  /** Answer: whether a socket of that peer was here (and is now kicked). */
  kick: 'gt:kick',
  /** The shared ban list changed: reread it, disconnect whoever it covers. */
  bans: 'gt:bans',
} as const;

const text = (max: number) => z.string().max(max);

/** A peer's `node`, if sent, is dropped: it is the answering node's, whatever it says. */
const peerSnapshotSchema = z.object({
  id: text(64),
  nickname: text(256),
  ip: text(64),
  joinedAt: z.number(),
  muted: z.boolean(),
  speaking: z.boolean(),
  producing: z.boolean(),
  connection: z.object({
    iceState: text(32),
    dtlsState: text(32),
    protocol: text(8).nullable(),
    remote: text(80).nullable(),
  }),
  lossPercent: z.number().nullable(),
});

const roomSnapshotSchema = z.object({
  id: text(256),
  node: nodeIdSchema,
  createdAt: z.number(),
  capacity: z.number().int().min(0),
  // Older nodes do not say: their rooms are unencrypted.
  encrypted: z.boolean().default(false),
  peers: z.array(peerSnapshotSchema).max(10_000),
}) satisfies z.ZodType<RoomPart>;

const count = z.number().int().min(0);
const pipeCountsSchema = z.object({
  transports: count,
  consumers: count,
  producers: count,
}) satisfies z.ZodType<PipeCounts>;

export const snapshotAnswerSchema = z.object({
  node: nodeIdSchema,
  rooms: z.array(roomSnapshotSchema).max(100_000),
  /** Absent from nodes of an earlier version. */
  pipes: pipeCountsSchema.optional(),
});
export type SnapshotAnswer = z.infer<typeof snapshotAnswerSchema>;

export const actorSchema = z.object({
  via: z.enum(['http', 'console']),
  ip: text(64),
  /** The node the operator used, when it is another one. */
  node: nodeIdSchema.optional(),
});

export const kickRequestSchema = z.object({ peerId: text(64), actor: actorSchema });
export const kickAnswerSchema = z.object({ node: nodeIdSchema, kicked: z.boolean() });

export const bansRequestSchema = z.object({
  op: z.enum(['ban', 'unban']),
  ban: text(64),
  actor: actorSchema,
});
export const bansAnswerSchema = z.object({
  node: nodeIdSchema,
  disconnected: z.number().int().min(0),
});
