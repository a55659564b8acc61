/**
 * A real GhostTalk server in a child process of its own, so its Node CPU time
 * (process.cpuUsage) and heap are the control plane's alone: joins are driven from the
 * benchmark's process over socket.io and WebRTC, like browsers would. Started with
 * --expose-gc so heap readings are taken after a full collection. Logs at `info`, the
 * production default.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/loadConfig.ts';
import { GhostTalkServer } from '../../src/GhostTalkServer.ts';
import { closeLogger, createLogger, type Logger } from '../../src/logging/createLogger.ts';
import { freePort, freePortRange } from '../../test/support/ports.ts';
import { serve } from './ipc.ts';
import { PlainPeers } from './plainPeers.ts';

export type ServerUsage = {
  cpuMs: number;
  heapUsedKb: number;
  peers: number;
  /** Routers per room id (a room spanning two workers has two). */
  routers: Record<string, number>;
  /** Per worker: CPU time so far (user + system, and user alone) and consumers now. */
  workers: { cpuMs: number; userMs: number; consumers: number }[];
  /** Cluster nodes this node saw alive at its last heartbeat (itself included); 0 alone. */
  clusterNodes: number;
};

let server: GhostTalkServer | undefined;
let plain: PlainPeers | undefined;
let logger: Logger | undefined;
let dataDir: string | undefined;

function collect(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function started<T>(value: T | undefined): T {
  if (!value) throw new Error('not started');
  return value;
}

serve({
  start: async ({ env }: { env: Record<string, string> }) => {
    dataDir = mkdtempSync(join(tmpdir(), 'ghosttalk-bench-'));
    const workers = Number(env.RTC_WORKERS ?? '1');
    const config = loadConfig([], {
      PORT: String(await freePort()),
      HTTP_HOST: '127.0.0.1',
      RTC_UDP_PORT: String(await freePortRange(workers)),
      RTC_LISTEN_IP: '127.0.0.1',
      RTC_ANNOUNCED_ADDRESS: '127.0.0.1',
      CONNECTIONS_PER_MINUTE: '1000000',
      JOINS_PER_MINUTE: '1000000',
      ROOM_CREATIONS_PER_MINUTE: '1000000',
      MAX_SOCKETS_PER_IP: '1000000',
      MESSAGES_PER_10S: '100000',
      JOIN_TIMEOUT_MS: '600000',
      MAX_PEERS: '1000000',
      MAX_ROOMS: '1000000',
      DATA_DIR: dataDir,
      ...env,
    });
    logger = createLogger({ dataDir, level: 'info', console: false, secrets: [config.adminKey] });
    server = await GhostTalkServer.create({ config, logger });
    plain = new PlainPeers(server);
    return { url: `http://127.0.0.1:${server.address.port}` };
  },
  usage: async ({ gc }: { gc: boolean }): Promise<ServerUsage> => {
    if (!server) throw new Error('not started');
    if (gc) {
      collect();
      collect();
    }
    const cpu = process.cpuUsage();
    const workers = await Promise.all(
      server.workers.workers.map(async (w) => {
        const usage = await w.worker.getResourceUsage();
        return {
          cpuMs: usage.ru_utime + usage.ru_stime,
          userMs: usage.ru_utime,
          consumers: w.consumerCount,
        };
      }),
    );
    const routers: Record<string, number> = {};
    for (const room of server.rooms.values()) routers[room.id] = room.routers.length;
    return {
      cpuMs: (cpu.user + cpu.system) / 1000,
      heapUsedKb: process.memoryUsage().heapUsed / 1024,
      peers: server.rooms.peerCount,
      routers,
      workers,
      clusterNodes: server.cluster?.nodes.length ?? 0,
    };
  },
  // Plain-RTP media for people joined through signaling (plainPeers.ts, the span phase).
  holds: ({ roomId, peerId }: { roomId: string; peerId: string }) =>
    started(plain).holds(roomId, peerId),
  plainSend: ({ roomId, peerId }: { roomId: string; peerId: string }) =>
    started(plain).send(roomId, peerId),
  plainReceive: (args: { roomId: string; peerId: string; port: number; talkers: string[] }) =>
    started(plain).receive(args.roomId, args.peerId, args.port, args.talkers),
  plainReady: ({ roomId, talkers }: { roomId: string; talkers: string[] }) =>
    started(plain).ready(roomId, talkers),
  spanState: ({ roomId }: { roomId: string }) => started(plain).state(roomId),
  stop: async () => {
    await server?.close();
    if (logger) await closeLogger(logger);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  },
});
