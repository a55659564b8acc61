import { once } from 'node:events';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as mediasoup from 'mediasoup';
import { Server as SocketIoServer } from 'socket.io';
import { AdminAuth } from './admin/AdminAuth.ts';
import { AdminService } from './admin/AdminService.ts';
import { setUpAdminNamespace } from './admin/adminNamespace.ts';
import { BanList } from './admin/BanList.ts';
import type { GhostTalkServerOptions } from './GhostTalkServerTypes.ts';
import { compileTrust, resolveClientIp } from './http/clientIp.ts';
import { createHttpApp } from './http/createHttpApp.ts';
import { createRedirectServer } from './http/httpsRedirect.ts';
import { createMainServer } from './http/listeners.ts';
import { TlsCertificate } from './http/TlsCertificate.ts';
import { type Logger, logFileOf } from './logging/createLogger.ts';
import { LogTail } from './logging/LogTail.ts';
import { mediaCodecs } from './media/mediaCodecs.ts';
import { RoomRegistry } from './media/RoomRegistry.ts';
import { WorkerPool } from './media/WorkerPool.ts';
import { ClientSession } from './signaling/ClientSession.ts';
import { applyConnectionPolicy, originPolicy } from './signaling/connectionPolicy.ts';
import { iceServerProvider, resolveRelayAddresses } from './signaling/iceServers.ts';
import type { MainIoServer } from './signaling/ioTypes.ts';
import { PeerSessions } from './signaling/PeerSessions.ts';
import { relayRoomEvents } from './signaling/RoomRelay.ts';
import { SignalingLimits } from './signaling/SignalingLimits.ts';
import { createMetrics } from './stats/metrics.ts';
import { ServerStats } from './stats/ServerStats.ts';

const defaultClientDir = fileURLToPath(new URL('../dist/client', import.meta.url));

export const BAN_FILE_NAME = 'banned_ips.json';

/** The whole server: HTTP, signaling and media, started together and closed together. */
export class GhostTalkServer {
  /** HTTPS when TLS_CERT / TLS_KEY are set. */
  readonly httpServer: HttpServer | HttpsServer;
  readonly io: MainIoServer;
  readonly workers: WorkerPool;
  readonly rooms: RoomRegistry;
  readonly bans: BanList;
  readonly admin: AdminService;
  readonly #certificate: TlsCertificate | undefined;
  readonly #logger: Logger;
  readonly #cleanups: (() => void)[];
  #closed = false;

  /**
   * Loads the ban list and the TLS files first: a BanFileError (corrupt or unreadable
   * banned_ips.json) or TlsFileError (unusable TLS_CERT / TLS_KEY) rejects before
   * anything is started.
   */
  static async create(options: GhostTalkServerOptions): Promise<GhostTalkServer> {
    const { config, logger } = options;
    const bans = BanList.load(join(config.dataDir, BAN_FILE_NAME));
    const certificate =
      config.tlsCert !== undefined && config.tlsKey !== undefined
        ? TlsCertificate.load({ certPath: config.tlsCert, keyPath: config.tlsKey }, logger)
        : undefined;
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
      if (certificate) {
        certificate.watch();
        cleanups.push(() => certificate.close());
      }
      const httpServer = createMainServer(certificate);
      const io: MainIoServer = new SocketIoServer(httpServer, {
        serveClient: false,
        // A browser's RTP capabilities are the largest payload, a few kB.
        maxHttpBufferSize: 64 * 1024,
        allowRequest: originPolicy(config.allowedOrigins, logger),
      });
      const resolveIp = (socket: { request: IncomingMessage }) =>
        resolveClientIp(socket.request, trust);
      const limits = new SignalingLimits({
        connectionsPerIpPerMinute: config.connectionsPerMinute,
        joinsPerIpPerMinute: config.joinsPerMinute,
        roomCreationsPerIpPerMinute: config.roomCreationsPerMinute,
        messagesPerSocketPer10s: config.messagesPer10s,
        socketsPerIp: config.maxSocketsPerIp,
        socketIdleMs: config.socketIdleMs,
        ipv6Prefix: config.ipv6RateLimitPrefix,
      });
      applyConnectionPolicy(io, {
        resolveIp,
        isBanned: (ip) => bans.isBanned(ip),
        limits,
        logger,
      });
      const rooms = new RoomRegistry({
        workers,
        workerConsumerBudget: config.workerConsumerBudget,
        relayAddresses: await resolveRelayAddresses(config.turnServer),
        capacity: config.roomCapacity,
        maxRooms: config.maxRooms,
        maxPeers: config.maxPeers,
        emptyGraceMs: config.roomEmptyGraceMs,
        reconnectGraceMs: config.reconnectGraceMs,
        joinTimeoutMs: config.joinTimeoutMs,
        producerBudget: {
          maxKbps: config.producerMaxKbps,
          windowMs: config.producerBudgetWindowMs,
        },
        logger,
      });
      const logTail = new LogTail(logger, 100);
      cleanups.push(() => logTail.close());
      const stats = new ServerStats({ rooms, workers });
      cleanups.push(() => stats.close());
      const admin = new AdminService({ io, rooms, workers, bans, stats, logTail, logger });
      const auth = new AdminAuth({ key: config.adminKey, ipv6Prefix: config.ipv6RateLimitPrefix });
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
      const logFile = logFileOf(logger);
      const metrics = createMetrics({
        rooms,
        workers,
        bans,
        stats,
        logTail,
        logFileProblem: () => logFile?.problem,
      });
      const app = createHttpApp({
        clientDir: options.clientDir ?? defaultClientDir,
        isHealthy: () => workers.healthy,
        degradedReasons: () =>
          [logFile?.problem, certificate?.problem].filter((p): p is string => p !== undefined),
        trust,
        allowedOrigins: config.allowedOrigins,
        isBanned: (ip) => bans.isBanned(ip),
        admin,
        auth,
        metrics,
        logger,
      });
      // engine.io answers its own path (long-polling included) on this same server; it
      // wraps only the request listeners that existed when it attached, so Express,
      // added later, must leave that path alone or both would answer a polling request.
      const enginePath = `${io.path()}/`;
      httpServer.on('request', (req, res) => {
        if (!req.url?.startsWith(enginePath)) app(req, res);
      });
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
      const sessions = new PeerSessions();
      relayRoomEvents(rooms, sessions);
      io.on('connection', (socket) => {
        new ClientSession({
          socket,
          rooms,
          sessions,
          routerRtpCapabilities,
          iceServers,
          iceTransportPolicy: config.iceTransportPolicy,
          limits,
          logger,
        });
      });
      if (certificate && config.httpRedirectPort !== undefined) {
        const redirect = createRedirectServer({
          httpsPort: config.port,
          leaf: () => certificate.pair.leaf,
        });
        cleanups.push(() => {
          redirect.close();
          redirect.closeAllConnections();
        });
        redirect.listen(config.httpRedirectPort, config.httpHost);
        await once(redirect, 'listening');
      }
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
        certificate,
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
    certificate: TlsCertificate | undefined;
    logger: Logger;
    cleanups: (() => void)[];
  }) {
    this.httpServer = parts.httpServer;
    this.io = parts.io;
    this.workers = parts.workers;
    this.rooms = parts.rooms;
    this.bans = parts.bans;
    this.admin = parts.admin;
    this.#certificate = parts.certificate;
    this.#logger = parts.logger;
    this.#cleanups = parts.cleanups;
    const { address, port } = this.address;
    this.#logger.info('server listening', {
      address,
      port,
      https: this.#certificate !== undefined,
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

  /** SIGHUP: reread TLS_CERT / TLS_KEY now (without TLS, nothing to do). */
  reloadTls(): void {
    this.#certificate?.reload();
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
