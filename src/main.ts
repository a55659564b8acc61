import { mkdirSync } from 'node:fs';
import { ConfigError, HelpRequested, loadConfig } from './config/loadConfig.ts';
import { GhostTalkServer } from './GhostTalkServer.ts';
import { closeLogger, createLogger } from './logging/createLogger.ts';

const EXIT_BAD_CONFIG = 2;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
    mkdirSync(config.dataDir, { recursive: true });
  } catch (error) {
    if (error instanceof HelpRequested) {
      console.log(error.message);
      return;
    }
    const message =
      error instanceof ConfigError ? error.message : `DATA_DIR: ${(error as Error).message}`;
    console.error(message);
    process.exitCode = EXIT_BAD_CONFIG;
    return;
  }

  const logger = createLogger({ dataDir: config.dataDir, level: config.logLevel });
  const server = await GhostTalkServer.create({ config, logger });
  const shownHost = config.httpHost === '0.0.0.0' ? 'localhost' : config.httpHost;
  console.log(`GhostTalk is running: open http://${shownHost}:${server.address.port}/`);

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    await server.close();
    await closeLogger(logger);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

await main();
