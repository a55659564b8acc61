import { BanFileError } from './admin/BanList.ts';
import { NodeIdInUseError } from './cluster/ClusterNode.ts';
import { RedisConfigError } from './cluster/redisClients.ts';
import { prepareDataDir } from './config/dataDir.ts';
import {
  type Config,
  ConfigError,
  describeConfig,
  HelpRequested,
  loadConfig,
} from './config/loadConfig.ts';
import { GhostTalkServer } from './GhostTalkServer.ts';
import { TlsFileError } from './http/TlsCertificate.ts';
import { closeLogger, createLogger } from './logging/createLogger.ts';

/** Bad settings or unusable data files: nothing was started. */
const EXIT_BAD_CONFIG = 2;
const SHUTDOWN_LIMIT_MS = 10_000;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
    prepareDataDir(config.dataDir);
  } catch (error) {
    if (error instanceof HelpRequested) {
      console.log(error.message);
      return;
    }
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exitCode = EXIT_BAD_CONFIG;
    return;
  }

  const secrets = [config.adminKey, config.turnPass, config.turnSecret].filter((s): s is string =>
    Boolean(s),
  );
  const logger = createLogger({ dataDir: config.dataDir, level: config.logLevel, secrets });
  let server: GhostTalkServer;
  try {
    server = await GhostTalkServer.create({ config, logger });
  } catch (error) {
    const badFile =
      error instanceof BanFileError ||
      error instanceof TlsFileError ||
      error instanceof RedisConfigError ||
      error instanceof NodeIdInUseError;
    logger.error('server did not start', { error: (error as Error).message });
    await closeLogger(logger);
    console.error(`GhostTalk did not start: ${(error as Error).message}`);
    process.exitCode = badFile ? EXIT_BAD_CONFIG : 1;
    return;
  }
  logger.info('configuration', describeConfig(config));
  const shownHost = config.httpHost === '0.0.0.0' ? 'localhost' : config.httpHost;
  const scheme = config.tlsCert === undefined ? 'http' : 'https';
  const origin = `${scheme}://${shownHost}:${server.address.port}`;
  console.log(`GhostTalk is running: open ${origin}/`);
  if (config.adminKeyGenerated) {
    // Straight to the console, never through the logger: server.log must not hold it.
    console.log(
      [
        'No admin key was set (ADMIN_KEY / -admin-key), so this one was generated for this run only:',
        `  ${config.adminKey}`,
        `Admin console: ${origin}/admin?key=${config.adminKey}`,
        'Set ADMIN_KEY to keep a key across restarts (NODE_ENV=production requires it).',
      ].join('\n'),
    );
  }

  let stopping = false;
  const stop = async (signal: NodeJS.Signals | 'drain request') => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal, drain: server.cluster !== undefined });
    // A close that hangs must not keep an orchestrator waiting: give up loudly.
    setTimeout(() => {
      console.error(`shutdown took longer than ${SHUTDOWN_LIMIT_MS} ms; exiting`);
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS).unref();
    // In a cluster, rooms move to the other nodes first; alone, there is nowhere to go.
    await server.drain();
    await closeLogger(logger);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  server.cluster?.on('drainRequested', () => void stop('drain request'));
  // The usual "reload" signal of daemons; without TLS, SIGHUP keeps its default (exit).
  if (config.tlsCert !== undefined) process.on('SIGHUP', () => server.reloadTls());
}

await main();
