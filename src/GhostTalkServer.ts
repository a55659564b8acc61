import { once } from 'node:events';
import { createServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as mediasoup from 'mediasoup';
import { Server as SocketIoServer } from 'socket.io';
import { AdminAuth } from './admin/AdminAuth.ts';
import { AdminService, type MainIoServer } from './admin/AdminService.ts';
import { setUpAdminNamespace } from './admin/adminNamespace.ts';
import { BanList } from './admin/BanList.ts';
import { ServerStats } from './admin/ServerStats.ts';
import type { GhostTalkServerOptions } from './GhostTalkServerTypes.ts';
import { compileTrust, resolveClientIp } from './http/clientIp.ts';
import { createHttpApp } from './http/createHttpApp.ts';
import { createMetrics } from './http/metrics.ts';
import type { Logger } from './logging/createLogger.ts';
import { LogTail } from './logging/LogTail.ts';
import { mediaCodecs } from './media/mediaCodecs.ts';
import { RoomRegistry } from './media/RoomRegistry.ts';
import { WorkerPool } from './media/WorkerPool.ts';
import { ClientSession } from './signaling/ClientSession.ts';
import { iceServerProvider, resolveRelayAddresses } from './signaling/iceServers.ts';
import { SignalingLimits } from './signaling/SignalingLimits.ts';

const defaultClientDir = fileURLToPath(new URL('../dist/client', import.meta.url));

export const BAN_FILE_NAME = 'banned_ips.json';

/**
 * Browsers send Origin on every WebSocket/polling request: accept our own host and the
 * configured extra origins. Non-browser clients send none and are let through (an
 * Origin check protects browser users from other sites, not the server from scripts).
 */
function originAllowed(req: IncomingMessage, allowedOrigins: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowedOrigins.includes(origin)) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** The whole server: HTTP, signaling and media, started together and closed together. */
export class GhostTalkServer {
  readonly httpServer: HttpServer;
  readonly io: MainIoServer;
  readonly workers: WorkerPool;
  readonly rooms: RoomRegistry;
  readonly bans: BanList;
  readonly admin: AdminService;
  readonly #logger: Logger;
  readonly #cleanups: (() => void)[];
  #closed = false;

  /**
   * Loads the ban list first: a BanFileError (corrupt or unreadable banned_ips.json)
   * rejects before anything is started.
   */
  static async create(options: GhostTalkServerOptions): Promise<GhostTalkServer> {
    const { config, logger } = options;
    const bans = BanList.load(join(config.dataDir, BAN_FILE_NAME));
    const trust = compileTrust(config.trustedProxies);
    const workers = await WorkerPool.create({
      count: config.rtcWorkers,
      basePort: config.rtcUdpPort,
      listenIp: config.rtcListenIp,
      announcedAddress: config.rtcAnnouncedAddress,
      logger,
    });
    const cleanups: (() => void)[] = [];
    try {
      const httpServer = createServer();
      const io: MainIoServer = new SocketIoServer(httpServer, {
        serveClient: false,
        // A browser's RTP capabilities are the largest payload, a few kB.
        maxHttpBufferSize: 64 * 1024,
        allowRequest: (req, callback) => {
          const allowed = originAllowed(req, config.allowedOrigins);
          if (!allowed) logger.warn('socket.io origin refused', { origin: req.headers.origin });
          callback(allowed ? null : 'origin not allowed', allowed);
        },
      });
      const resolveIp = (socket: { request: IncomingMessage }) =>
        resolveClientIp(socket.request, trust);
      io.use((socket, next) => {
        socket.data.ip = resolveIp(socket);
        if (bans.isBanned(socket.data.ip)) {
          logger.info('banned address refused', { ip: socket.data.ip });
          return next(new Error('banned'));
        }
        next();
      });
      const limits = new SignalingLimits({
        connectionsPerIpPerMinute: config.connectionsPerMinute,
        joinsPerIpPerMinute: config.joinsPerMinute,
        roomCreationsPerIpPerMinute: config.roomCreationsPerMinute,
        messagesPerSocketPer10s: config.messagesPer10s,
        maxRooms: config.maxRooms,
        maxPeers: config.maxPeers,
      });
      io.use((socket, next) => {
        void limits.allowConnection(socket.data.ip).then((allowed) => {
          if (allowed) return next();
          logger.warn('connection rate limited', { ip: socket.data.ip });
          next(new Error('too many connections from your address, wait a minute'));
        });
      });
      const rooms = new RoomRegistry({
        workers,
        workerConsumerBudget: config.workerConsumerBudget,
        relayAddresses: await resolveRelayAddresses(config.turnServer),
        capacity: config.roomCapacity,
        emptyGraceMs: config.roomEmptyGraceMs,
        reconnectGraceMs: config.reconnectGraceMs,
        joinTimeoutMs: config.joinTimeoutMs,
        logger,
      });
      const logTail = new LogTail(logger, 100);
      cleanups.push(() => logTail.close());
      const stats = new ServerStats({ rooms, workers });
      cleanups.push(() => stats.close());
      const admin = new AdminService({ io, rooms, workers, bans, stats, logTail, logger });
      const auth = new AdminAuth({ key: config.adminKey });
      cleanups.push(
        setUpAdminNamespace({
          io,
          service: admin,
          auth,
          resolveIp,
          isBanned: (ip) => bans.isBanned(ip),
          logger,
        }),
      );
      const metrics = createMetrics({ rooms, workers, bans, stats, logTail });
      const app = createHttpApp({
        clientDir: options.clientDir ?? defaultClientDir,
        isHealthy: () => workers.healthy,
        trust,
        isBanned: (ip) => bans.isBanned(ip),
        admin,
        auth,
        metrics,
        logger,
      });
      httpServer.on('request', app);
      // Every room's router is made from the same codecs, so it has these capabilities;
      // handing them out before the join saves the client a round trip.
      const routerRtpCapabilities = mediasoup.ortc.generateRouterRtpCapabilities(mediaCodecs);
      const iceServers = iceServerProvider({
        urls: config.turnServer,
        username: config.turnUser,
        password: config.turnPass,
        secret: config.turnSecret,
        ttlSeconds: config.turnTtl,
      });
      io.on('connection', (socket) => {
        new ClientSession({
          socket,
          rooms,
          routerRtpCapabilities,
          iceServers,
          iceTransportPolicy: config.iceTransportPolicy,
          limits,
          logger,
        });
      });
      httpServer.listen(config.port, config.httpHost);
      await once(httpServer, 'listening');
      void stats.sample();
      return new GhostTalkServer({
        httpServer,
        io,
        workers,
        rooms,
        bans,
        admin,
        logger,
        cleanups,
      });
    } catch (error) {
      for (const cleanup of cleanups) cleanup();
      workers.close();
      throw error;
    }
  }

  private constructor(parts: {
    httpServer: HttpServer;
    io: MainIoServer;
    workers: WorkerPool;
    rooms: RoomRegistry;
    bans: BanList;
    admin: AdminService;
    logger: Logger;
    cleanups: (() => void)[];
  }) {
    this.httpServer = parts.httpServer;
    this.io = parts.io;
    this.workers = parts.workers;
    this.rooms = parts.rooms;
    this.bans = parts.bans;
    this.admin = parts.admin;
    this.#logger = parts.logger;
    this.#cleanups = parts.cleanups;
    const { address, port } = this.address;
    this.#logger.info('server listening', {
      address,
      port,
      workerPids: this.workers.workers.map((w) => w.pid),
      bans: this.bans.size,
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  get address(): AddressInfo {
    return this.httpServer.address() as AddressInfo;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Clients hear it before their sockets close, so they can say so and retry later.
    this.io.emit('serverShutdown');
    for (const cleanup of this.#cleanups) cleanup();
    this.rooms.close();
    this.workers.close();
    // io.close() also closes the HTTP server; drop keep-alive sockets so it can.
    const closed = new Promise<void>((resolve) => this.io.close(() => resolve()));
    this.httpServer.closeAllConnections();
    await closed;
    this.#logger.info('server closed');
  }
}
