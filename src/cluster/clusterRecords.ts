import { z } from 'zod';
import {
  type RequestName,
  requestSchemas,
  type ServerToClientEvents,
} from '../protocol/protocol.ts';

/**
 * What nodes write to Redis and to each other. Every record is read back through these
 * schemas: a record from a newer or broken node is refused, never acted on blindly.
 */
export const RECORD_VERSION = 1;

const KEY_PREFIX = 'gt:';
export const keys = {
  node: (id: string) => `${KEY_PREFIX}node:${id}`,
  nodePrefix: `${KEY_PREFIX}node:`,
  nodes: `${KEY_PREFIX}nodes`,
  room: (id: string) => `${KEY_PREFIX}room:${id}`,
  relayChannel: (nodeId: string) => `${KEY_PREFIX}relay:${nodeId}`,
  /** Hash of the nodes holding part of a room → when each last said so. */
  span: (roomId: string) => `${KEY_PREFIX}span:${roomId}`,
};

export const nodeIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/);

export const nodeRecordSchema = z.object({
  v: z.literal(RECORD_VERSION),
  id: nodeIdSchema,
  /** Random per process: tells a restarted node from a second one with the same id. */
  instance: z.string().max(64),
  mediaAddress: z.string().max(253),
  startedAt: z.number(),
  heartbeatAt: z.number(),
  draining: z.boolean(),
  load: z.object({
    rooms: z.number().int().min(0),
    peers: z.number().int().min(0),
    maxRooms: z.number().int().min(0),
    maxPeers: z.number().int().min(0),
    /** Consumers on its workers: what NODE_CONSUMER_BUDGET counts (0 from older nodes). */
    consumers: z.number().int().min(0).default(0),
    workerCpuPercent: z.number().min(0).nullable(),
  }),
});
export type NodeRecord = z.infer<typeof nodeRecordSchema>;
export type NodeLoad = NodeRecord['load'];

export const roomRecordSchema = z.object({
  v: z.literal(RECORD_VERSION),
  node: nodeIdSchema,
  claimedAt: z.number(),
});
export type RoomRecord = z.infer<typeof roomRecordSchema>;

const requestNames = Object.keys(requestSchemas) as [RequestName, ...RequestName[]];
const sid = z.string().min(1).max(64);

/** From the node a client is connected to (its edge) to the node that has its room. */
export const toOwnerSchema = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('req'),
    from: nodeIdSchema,
    sid,
    n: z.number().int().min(0),
    name: z.enum(requestNames),
    payload: z.unknown(),
    /** The client's address as the edge resolved it (trusted proxies applied). */
    ip: z.string().max(64),
    /** Why the join came to this node (see JoinRoute). */
    route: z.enum(['claim', 'placed', 'resume']).default('claim'),
  }),
  z.object({ t: z.literal('close'), from: nodeIdSchema, sid, reason: z.string().max(64) }),
  z.object({ t: z.literal('drain'), from: nodeIdSchema }),
]);
export type ToOwner = z.infer<typeof toOwnerSchema>;

/**
 * Why a join is on the node that runs it: 'claim', it holds (or takes) the room's claim;
 * 'placed', the room's node sent it to its part of a room spanning nodes; 'resume', the
 * client's resume token names this node, so only taking that place back may succeed.
 */
export type JoinRoute = 'claim' | 'placed' | 'resume';

const eventNames = [
  'peerJoined',
  'peerLeft',
  'peerMuted',
  'newConsumer',
  'consumerClosed',
  'speaking',
  'kicked',
  'iceServers',
  'producerClosed',
  'mediaReset',
  'serverShutdown',
] as const satisfies readonly (keyof ServerToClientEvents)[];

/** From the room's node back to the edge. */
export const toEdgeSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('ack'), sid, n: z.number().int().min(0), ack: z.unknown() }),
  z.object({ t: z.literal('event'), sid, event: z.enum(eventNames), args: z.array(z.unknown()) }),
  /** The place ended (left, timed out, reset): the edge stops relaying. */
  z.object({ t: z.literal('gone'), sid }),
  /** The room's node closed the session (a newer connection took the place over). */
  z.object({ t: z.literal('drop'), sid }),
]);
export type ToEdge = z.infer<typeof toEdgeSchema>;
