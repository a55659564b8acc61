/**
 * The signaling protocol, shared by the server and the browser app: event maps for
 * socket.io's typed `Server`/`Socket`, the payload schemas (validated at runtime on
 * the server, since types alone do not stop a hostile client) and the ack shape.
 *
 * The browser imports this module with `import type` only, so zod never ships to it.
 */
import type { types } from 'mediasoup';
import { z } from 'zod';
import { ROOM_ID_PATTERN } from './limits.ts';
import { checkNickname } from './nickname.ts';

const id = z.string().min(1).max(64);
const uint32 = z.number().int().min(0).max(0xffffffff);
/*
 * Strings that reach other peers' SDP (fmtp, cname, extmap...) must not carry line
 * breaks or separators, or one client could inject lines into another's session.
 */
const token = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only');
const printable = z.string().regex(/^[\x21-\x7e]{1,256}$/, 'printable ASCII without spaces');
const fmtpValue = z.string().regex(/^[\x21-\x3a\x3c-\x7e]{0,256}$/, 'printable, no spaces or ;');
const codecParameters = z
  .record(token, z.union([fmtpValue, z.number()]))
  .refine((r) => Object.keys(r).length <= 32, 'too many codec parameters');
const rtcpFeedback = z.object({
  type: token,
  // mediasoup-client sends '' for plain "nack".
  parameter: z.union([token, z.literal('')]).optional(),
});
const mimeType = z.string().regex(/^(audio|video)\/[A-Za-z0-9.-]{1,32}$/, 'a MIME type');

export const roomIdSchema = z.string().regex(ROOM_ID_PATTERN, 'room id: 1-64 of A-Z a-z 0-9 _ -');

export const nicknameSchema = z
  .string()
  // Bounded before the Unicode checks run over it.
  .max(256)
  .transform((s, ctx) => {
    const check = checkNickname(s);
    if (check.ok) return check.nickname;
    ctx.addIssue({ code: 'custom', message: check.message });
    return z.NEVER;
  });

export const rtpCapabilitiesSchema = z.object({
  codecs: z
    .array(
      z.object({
        kind: z.enum(['audio', 'video']),
        mimeType,
        preferredPayloadType: z.number().int().min(0).max(127).optional(),
        clockRate: z.number().int().positive().max(1_000_000),
        channels: z.number().int().min(1).max(8).optional(),
        parameters: codecParameters.optional(),
        rtcpFeedback: z.array(rtcpFeedback).max(16).optional(),
      }),
    )
    .max(64),
  headerExtensions: z
    .array(
      z.object({
        kind: z.enum(['audio', 'video']),
        uri: printable,
        preferredId: z.number().int().min(1).max(255),
        preferredEncrypt: z.boolean().optional(),
        direction: z.enum(['sendrecv', 'sendonly', 'recvonly', 'inactive']).optional(),
      }),
    )
    .max(64)
    .optional(),
});

export const dtlsParametersSchema = z.object({
  role: z.enum(['auto', 'client', 'server']).optional(),
  fingerprints: z
    .array(
      z.object({
        algorithm: z.enum(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']),
        value: z.string().regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){19,63}$/, 'fingerprint value'),
      }),
    )
    .min(1)
    .max(8),
});

export const rtpParametersSchema = z.object({
  mid: token.optional(),
  codecs: z
    .array(
      z.object({
        mimeType: z.string().regex(/^audio\/[A-Za-z0-9.-]{1,32}$/, 'audio codecs only'),
        payloadType: z.number().int().min(0).max(127),
        clockRate: z.number().int().positive().max(1_000_000),
        channels: z.number().int().min(1).max(8).optional(),
        parameters: codecParameters.optional(),
        rtcpFeedback: z.array(rtcpFeedback).max(16).optional(),
      }),
    )
    .min(1)
    .max(8),
  headerExtensions: z
    .array(
      z.object({
        uri: printable,
        id: z.number().int().min(1).max(255),
        encrypt: z.boolean().optional(),
        parameters: codecParameters.optional(),
      }),
    )
    .max(16)
    .optional(),
  encodings: z
    .array(
      z.object({
        ssrc: uint32.optional(),
        rid: token.optional(),
        rtx: z.object({ ssrc: uint32 }).optional(),
        dtx: z.boolean().optional(),
        maxBitrate: z.number().int().positive().max(10_000_000).optional(),
      }),
    )
    .min(1)
    .max(4),
  rtcp: z
    .object({
      cname: printable.optional(),
      reducedSize: z.boolean().optional(),
    })
    .optional(),
});

export const requestSchemas = {
  capabilities: z.object({}).strict(),
  join: z.object({
    roomId: roomIdSchema,
    nickname: nicknameSchema,
    rtpCapabilities: rtpCapabilitiesSchema,
    /**
     * The link has a room key (in its fragment, which never reaches the server): this
     * client encrypts its audio end to end and joins only a room that is encrypted too.
     */
    e2ee: z.boolean().default(false),
    /** Muted from the start: the producer is made paused, with no setMuted after it. */
    muted: z.boolean().default(false),
    /** After a dropped connection: take back the same place, with its media intact. */
    resume: z.object({ peerId: id, token: z.string().min(1).max(160) }).optional(),
  }),
  connectTransport: z.object({ transportId: id, dtlsParameters: dtlsParametersSchema }),
  produce: z.object({
    transportId: id,
    kind: z.literal('audio'),
    rtpParameters: rtpParametersSchema,
  }),
  resumeConsumers: z.object({ consumerIds: z.array(id).min(1).max(1000) }),
  setMuted: z.object({ muted: z.boolean() }),
  restartIce: z.object({ transportId: id }),
  leave: z.object({}).strict(),
};

export type RequestName = keyof typeof requestSchemas;
export type Request<N extends RequestName> = z.input<(typeof requestSchemas)[N]>;

export const errorCodes = [
  'BAD_REQUEST',
  'UNKNOWN_EVENT',
  'NOT_IN_ROOM',
  'ALREADY_JOINED',
  'ROOM_FULL',
  /** The room is end-to-end encrypted and this join has no key (an incomplete link). */
  'ROOM_ENCRYPTED',
  /** This join has a key but the room was started without one. */
  'ROOM_NOT_ENCRYPTED',
  'NOT_FOUND',
  'FORBIDDEN',
  'UNSUPPORTED',
  'RATE_LIMITED',
  'SERVER_BUSY',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof errorCodes)[number];
export type ProtocolError = { code: ErrorCode; message: string };

/** Every request is answered by exactly one ack of this shape. */
export type Ack<T> = { ok: true; data: T } | { ok: false; error: ProtocolError };

export type PeerInfo = { id: string; nickname: string; muted: boolean };

export type TransportInfo = {
  id: string;
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  dtlsParameters: types.DtlsParameters;
};

export type ConsumerInfo = {
  id: string;
  producerId: string;
  peerId: string;
  kind: 'audio';
  rtpParameters: types.RtpParameters;
};

export type IceServer = { urls: string[]; username?: string; credential?: string };

export type Responses = {
  capabilities: { routerRtpCapabilities: types.RtpCapabilities };
  join: {
    peerId: string;
    roomId: string;
    /** Keep it to resume this place after a dropped connection. */
    resumeToken: string;
    /** True when this join took back an existing place; transports are unchanged then. */
    resumed: boolean;
    peers: PeerInfo[];
    sendTransport: TransportInfo;
    recvTransport: TransportInfo;
    /**
     * Paused consumers of everyone already talking; resume them with `resumeConsumers`.
     * On a resumed join: every consumer this peer has (reconcile, then resume new ones).
     */
    consumers: ConsumerInfo[];
    /** TURN/STUN servers for this peer only (TURN credentials may be minted per peer). */
    iceServers: IceServer[];
    /** 'relay' when the operator forces every client through TURN. */
    iceTransportPolicy: 'all' | 'relay';
  };
  connectTransport: Record<string, never>;
  produce: { producerId: string };
  resumeConsumers: Record<string, never>;
  setMuted: Record<string, never>;
  restartIce: { iceParameters: types.IceParameters };
  leave: Record<string, never>;
};

export type ClientToServerEvents = {
  [N in RequestName]: (payload: Request<N>, ack: (response: Ack<Responses[N]>) => void) => void;
};

export type ServerToClientEvents = {
  peerJoined: (peer: PeerInfo) => void;
  peerLeft: (event: { peerId: string }) => void;
  peerMuted: (event: { peerId: string; muted: boolean }) => void;
  newConsumer: (consumer: ConsumerInfo) => void;
  consumerClosed: (event: { consumerId: string }) => void;
  /** Who is speaking now; sent only when the set changes. */
  speaking: (event: { peerIds: string[] }) => void;
  /** An operator removed this client (kick or ban); the socket closes next. */
  kicked: (event: { reason: string }) => void;
  /** Fresh TURN credentials before the old ones expire: `transport.updateIceServers()`. */
  iceServers: (event: { iceServers: IceServer[] }) => void;
  /**
   * The server closed your microphone's producer (it kept sending far more than speech
   * needs); the reason is written for people. The rest of the call goes on.
   */
  producerClosed: (event: { reason: string }) => void;
  /** Your media session was lost on the server (worker restart): join again. */
  mediaReset: () => void;
  /** The server is shutting down; reconnect later. */
  serverShutdown: () => void;
};

/** What the server keeps on each socket (`socket.data`), for the admin side to find peers. */
export type SocketData = {
  /** Client IP after trusted-proxy resolution. */
  ip: string;
  roomId?: string;
  peerId?: string;
};
