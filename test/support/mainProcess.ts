import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { settings } from '../../src/config/settings.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** This process's environment without any GhostTalk setting, plus `env`. */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const clean = { ...process.env };
  for (const { env: name } of Object.values(settings)) delete clean[name];
  return { ...clean, ...env };
}

export type MainProcess = { child: ChildProcess; out: () => string; err: () => string };

/** `node src/main.ts` as an operator starts it, with its output collected. */
export function startMain(env: Record<string, string>): MainProcess {
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: repoRoot,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  return { child, ...output };
}

/** Everything a child writes to stdout and stderr, as it comes. */
export function collectOutput(child: ChildProcess): { out: () => string; err: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
  });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  return { out: () => stdout, err: () => stderr };
}

/** Its exit code (null if killed by a signal); SIGKILLs it and rejects after `timeoutMs`. */
export function exited(child: ChildProcess, timeoutMs = 15_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('did not exit'));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}
