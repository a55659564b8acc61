import { once } from 'node:events';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAdapter } from '@socket.io/redis-adapter';
import * as mediasoup from 'mediasoup';
import { Server as SocketIoServer } from 'socket.io';
import { AdminAuth } from './admin/AdminAuth.ts';
import { AdminService, CLUSTER_REQUEST_TIMEOUT_MS } from './admin/AdminService.ts';
import { setUpAdminNamespace } from './admin/adminNamespace.ts';
import { BanList } from './admin/BanList.ts';
import { ClusterNode } from './cluster/ClusterNode.ts';
import { connectRedis, type RedisClients } from './cluster/redisClients.ts';
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
import { bindSocket } from './signaling/bindSocket.ts';
import { socketLink } from './signaling/ClientLink.ts';
import { ClientSession, type ClientSessionOptions } from './signaling/ClientSession.ts';
import { applyConnectionPolicy, originPolicy } from './signaling/connectionPolicy.ts';
import { iceServerProvider, resolveRelayAddresses } from './signaling/iceServers.ts';
import type { MainIoServer } from './signaling/ioTypes.ts';
import { PeerSessions } from './signaling/PeerSessions.ts';
import { relayRoomEvents } from './signaling/RoomRelay.ts';
import { SignalingLimits } from './signaling/SignalingLimits.ts';
import { MediaMetrics } from './stats/MediaMetrics.ts';
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
  /** With REDIS_URL: this node's part in the cluster. */
  readonly cluster: ClusterNode | undefined;
  /** The media side of /metrics (joins, failures, paths, forwarding, loss, RTT). */
  readonly mediaMetrics: MediaMetrics;
  readonly #sessions: Set<ClientSession>;
  readonly #certificate: TlsCertificate | undefined;
  readonly #logger: Logger;
  readonly #cleanups: (() => void)[];
  #closed = false;
  #draining: Promise<void> | undefined;

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
    // A RedisConfigError (bad URL, refused password) also rejects before anything starts.
    const redis: RedisClients | undefined =
      config.redisUrl !== undefined ? await connectRedis(config.redisUrl) : undefined;
    const workers = await WorkerPool.create({
      count: config.rtcWorkers,
      basePort: config.rtcUdpPort,
      listenIp: config.rtcListenIp,
      announcedAddress: config.rtcAnnouncedAddress,
      logger,
    });
    const cleanups: (() => void)[] = [];
    let cluster: ClusterNode | undefined;
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
        // A connection whose host vanished is noticed within 15 s (the defaults take
        // 45): its client then reconnects to a live node, and its place is released.
        pingInterval: 10_000,
        pingTimeout: 5_000,
        allowRequest: originPolicy(config.allowedOrigins, logger),
      });
      // Admin broadcasts and lookups reach every node; a client's own events never
      // need it (they are emitted on its socket, or relayed).
      if (redis) {
        io.adapter(
          createAdapter(redis.adapterPublisher, redis.adapterSubscriber, {
            requestsTimeout: CLUSTER_REQUEST_TIMEOUT_MS,
          }),
        );
      }
      const resolveIp = (socket: { request: IncomingMessage }) =>
        resolveClientIp(socket.request, trust);
      // With Redis, per-address budgets are the cluster's (in memory while Redis is away).
      const limits = new SignalingLimits(
        {
          connectionsPerIpPerMinute: config.connectionsPerMinute,
          joinsPerIpPerMinute: config.joinsPerMinute,
          roomCreationsPerIpPerMinute: config.roomCreationsPerMinute,
          messagesPerSocketPer10s: config.messagesPer10s,
          socketsPerIp: config.maxSocketsPerIp,
          socketIdleMs: config.socketIdleMs,
          ipv6Prefix: config.ipv6RateLimitPrefix,
        },
        redis?.command,
      );
      applyConnectionPolicy(io, {
        resolveIp,
        isBanned: (ip) => bans.isBanned(ip),
        limits,
        logger,
      });
      const relayAddresses = await resolveRelayAddresses(config.turnServer);
      const rooms = new RoomRegistry({
        workers,
        workerConsumerBudget: config.workerConsumerBudget,
        relayAddresses,
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
        // A resume finds its place's node by it, in a room spanning nodes.
        resumeTokenPrefix: redis ? `${config.nodeId}.` : undefined,
        logger,
      });
      const stats = new ServerStats({ rooms, workers });
      cleanups.push(() => stats.close());
      if (redis) {
        cluster = await ClusterNode.create({
          redis,
          nodeId: config.nodeId,
          leaseMs: config.clusterLeaseMs,
          mediaAddress: config.rtcAnnouncedAddress,
          rooms,
          load: () => ({
            rooms: rooms.size,
            peers: rooms.peerCount,
            maxRooms: config.maxRooms,
            maxPeers: config.maxPeers,
            consumers: workers.workers.reduce((sum, w) => sum + w.consumerCount, 0),
            workerCpuPercent: stats.latest()?.workerCpuPercent ?? null,
          }),
          pipe: {
            listenIp: config.pipeListenIp,
            announcedAddress: config.pipeAnnouncedAddress,
            portRange: config.pipePorts,
          },
          nodeConsumerBudget: config.nodeConsumerBudget,
          logger,
        });
      }
      const logTail = new LogTail(logger, 100);
      cleanups.push(() => logTail.close());
      // With Redis: bans are read from it (and banned_ips.json rewritten) before listening.
      const admin = await AdminService.create({
        io,
        rooms,
        workers,
        bans,
        stats,
        logTail,
        logger,
        nodeId: config.nodeId,
        cluster,
        redis,
      });
      cleanups.push(() => admin.close());
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
      const spans = cluster?.spans;
      const metrics = createMetrics({
        rooms,
        workers,
        bans,
        stats,
        logTail,
        logFileProblem: () => logFile?.problem,
        pipes: spans && (() => spans.counts()),
      });
      const mediaMetrics = new MediaMetrics({ rooms, relayAddresses, registry: metrics });
      cleanups.push(() => mediaMetrics.close());
      const app = createHttpApp({
        clientDir: options.clientDir ?? defaultClientDir,
        isHealthy: () => workers.healthy,
        draining: () => cluster?.draining ?? false,
        degradedReasons: () =>
          [logFile?.problem, certificate?.problem, cluster?.problem].filter(
            (p): p is string => p !== undefined,
          ),
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
      const sessionOptions: Omit<ClientSessionOptions, 'link'> = {
        rooms,
        sessions,
        cluster,
        routerRtpCapabilities,
        iceServers,
        iceTransportPolicy: config.iceTransportPolicy,
        limits,
        metrics: mediaMetrics,
        logger,
      };
      cluster?.hostSessions((link) => new ClientSession({ ...sessionOptions, link }));
      const local = new Set<ClientSession>();
      io.on('connection', (socket) => {
        const session = new ClientSession({ ...sessionOptions, link: socketLink(socket) });
        local.add(session);
        socket.on('disconnect', () => local.delete(session));
        bindSocket(socket, session, limits);
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
        cluster,
        mediaMetrics,
        sessions: local,
        certificate,
        logger,
        cleanups,
      });
    } catch (error) {
      for (const cleanup of cleanups) cleanup();
      workers.close();
      if (cluster) cluster.close();
      else redis?.close();
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
    cluster: ClusterNode | undefined;
    mediaMetrics: MediaMetrics;
    sessions: Set<ClientSession>;
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
    this.cluster = parts.cluster;
    this.mediaMetrics = parts.mediaMetrics;
    this.#sessions = parts.sessions;
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
      node: this.cluster?.nodeId,
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

  /**
   * In a cluster: stop taking connections and rooms, hand the rooms over (their people
   * join them afresh on other nodes), send every client to another node (each keeps a
   * place that lives elsewhere), then close. Without a cluster, the same as close().
   */
  drain(): Promise<void> {
    this.#draining ??= this.#drain();
    return this.#draining;
  }

  async #drain(): Promise<void> {
    const cluster = this.cluster;
    if (cluster && !this.#closed) {
      this.httpServer.close();
      await cluster.drain();
      for (const session of [...this.#sessions]) session.handOff();
      // Let the disconnects and relayed resets reach the clients before the sockets go.
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await this.close();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Clients hear it before their sockets close, so they can say so and retry later
    // (only this node's: in a cluster the others stay up).
    this.io.local.emit('serverShutdown');
    for (const cleanup of this.#cleanups) cleanup();
    this.rooms.close();
    this.workers.close();
    this.cluster?.close();
    // io.close() also closes the HTTP server; drop keep-alive sockets so it can.
    const closed = new Promise<void>((resolve) => this.io.close(() => resolve()));
    this.httpServer.closeAllConnections();
    await closed;
    this.#logger.info('server closed');
  }
}
