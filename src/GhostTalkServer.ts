import { once } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as mediasoup from 'mediasoup';
import { Server as SocketIoServer } from 'socket.io';
import type { GhostTalkServerOptions } from './GhostTalkServerTypes.ts';
import { createHttpApp } from './http/createHttpApp.ts';
import type { Logger } from './logging/createLogger.ts';
import { MediaWorker } from './media/MediaWorker.ts';
import { mediaCodecs } from './media/mediaCodecs.ts';
import { RoomRegistry } from './media/RoomRegistry.ts';
import { ClientSession } from './signaling/ClientSession.ts';
import type {
  ClientToServerEvents,
  ServerToClientEvents,
  SocketData,
} from './signaling/protocol.ts';

const defaultClientDir = fileURLToPath(new URL('../dist/client', import.meta.url));

/** The whole server: HTTP, signaling and media, started together and closed together. */
export class GhostTalkServer {
  readonly httpServer: HttpServer;
  readonly io: SocketIoServer<
    ClientToServerEvents,
    ServerToClientEvents,
    Record<string, never>,
    SocketData
  >;
  readonly mediaWorker: MediaWorker;
  readonly rooms: RoomRegistry;
  readonly #logger: Logger;
  #closed = false;

  static async create(options: GhostTalkServerOptions): Promise<GhostTalkServer> {
    const { config, logger } = options;
    const mediaWorker = await MediaWorker.create({
      index: 0,
      rtcPort: config.rtcUdpPort,
      listenIp: config.rtcListenIp,
      announcedAddress: config.rtcAnnouncedAddress,
      logger,
    });
    try {
      const app = createHttpApp({
        clientDir: options.clientDir ?? defaultClientDir,
        isHealthy: () => !mediaWorker.closed,
      });
      const httpServer = createServer(app);
      const io = new SocketIoServer<
        ClientToServerEvents,
        ServerToClientEvents,
        Record<string, never>,
        SocketData
      >(httpServer, {
        serveClient: false,
        // A browser's RTP capabilities are the largest payload, a few kB.
        maxHttpBufferSize: 64 * 1024,
      });
      const rooms = new RoomRegistry({
        mediaWorker,
        capacity: config.roomCapacity,
        emptyGraceMs: config.roomEmptyGraceMs,
        logger,
      });
      // Every room's router is made from the same codecs, so it has these capabilities;
      // handing them out before the join saves the client a round trip.
      const routerRtpCapabilities = mediasoup.ortc.generateRouterRtpCapabilities(mediaCodecs);
      io.on('connection', (socket) => {
        new ClientSession({
          socket,
          rooms,
          routerRtpCapabilities,
          iceServers: () => [],
          logger,
        });
      });
      httpServer.listen(config.port, config.httpHost);
      await once(httpServer, 'listening');
      return new GhostTalkServer(httpServer, io, mediaWorker, rooms, logger);
    } catch (error) {
      mediaWorker.close();
      throw error;
    }
  }

  private constructor(
    httpServer: HttpServer,
    io: SocketIoServer<
      ClientToServerEvents,
      ServerToClientEvents,
      Record<string, never>,
      SocketData
    >,
    mediaWorker: MediaWorker,
    rooms: RoomRegistry,
    logger: Logger,
  ) {
    this.httpServer = httpServer;
    this.io = io;
    this.mediaWorker = mediaWorker;
    this.rooms = rooms;
    this.#logger = logger;
    const { address, port } = this.address;
    logger.info('server listening', { address, port, workerPid: mediaWorker.pid });
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
    this.rooms.close();
    this.mediaWorker.close();
    // io.close() also closes the HTTP server; drop keep-alive sockets so it can.
    const closed = new Promise<void>((resolve) => this.io.close(() => resolve()));
    this.httpServer.closeAllConnections();
    await closed;
    this.#logger.info('server closed');
  }
}
