import type { Config } from './config/loadConfig.ts';
import type { Logger } from './logging/createLogger.ts';

export type GhostTalkServerOptions = {
  config: Config;
  logger: Logger;
  /** Built browser app; defaults to `dist/client` in the checkout. */
  clientDir?: string;
};
