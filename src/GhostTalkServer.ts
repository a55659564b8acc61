import { once } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Server as SocketIoServer } from 'socket.io';
import type { GhostTalkServerOptions } from './GhostTalkServerTypes.ts';
import { createHttpApp } from './http/createHttpApp.ts';
import type { Logger } from './logging/createLogger.ts';
import { MediaWorker } from './media/MediaWorker.ts';

const defaultClientDir = fileURLToPath(new URL('../dist/client', import.meta.url));

/** The whole server: HTTP, signaling and media, started together and closed together. */
export class GhostTalkServer {
  readonly httpServer: HttpServer;
  readonly io: SocketIoServer;
  readonly mediaWorker: MediaWorker;
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
      const io = new SocketIoServer(httpServer, { serveClient: false });
      httpServer.listen(config.port, config.httpHost);
      await once(httpServer, 'listening');
      return new GhostTalkServer(httpServer, io, mediaWorker, logger);
    } catch (error) {
      mediaWorker.close();
      throw error;
    }
  }

  private constructor(
    httpServer: HttpServer,
    io: SocketIoServer,
    mediaWorker: MediaWorker,
    logger: Logger,
  ) {
    this.httpServer = httpServer;
    this.io = io;
    this.mediaWorker = mediaWorker;
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
    this.mediaWorker.close();
    // io.close() also closes the HTTP server; drop keep-alive sockets so it can.
    const closed = new Promise<void>((resolve) => this.io.close(() => resolve()));
    this.httpServer.closeAllConnections();
    await closed;
    this.#logger.info('server closed');
  }
}
