import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from './loadConfig.ts';

/**
 * Creates DATA_DIR if needed and proves it writable by writing a probe file (as root
 * `access(W_OK)` says yes even on a read-only mount, so only a real write tells).
 */
export function prepareDataDir(dataDir: string): void {
  const probe = join(dataDir, `.write-test-${process.pid}`);
  try {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(probe, 'ok');
    rmSync(probe, { force: true });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new ConfigError(
      `Invalid configuration:\n  -data-dir / DATA_DIR: cannot write to ${JSON.stringify(resolve(dataDir))} (${code ?? message}); it must be a writable folder (created if missing)`,
    );
  }
}
