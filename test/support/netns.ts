import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One end of the test network: a network namespace with one veth address. */
export type TestHost = {
  address: string;
  /** Runs a command inside this host and returns its stdout. */
  exec(command: string, args: string[]): string;
  /** Starts a long-running process inside this host, in its own process group. */
  spawn(command: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** Writes an executable into `dir` that runs `executable` inside this host (for launchers). */
  wrapper(dir: string, executable: string): string;
};

export type TestNetwork = { server: TestHost; client: TestHost; close(): void };

// A private /30: both ends live in namespaces of their own, so it clashes with nothing.
const SERVER_ADDRESS = '10.123.0.1';
const CLIENT_ADDRESS = '10.123.0.2';

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { stdio: 'pipe', timeout: 10_000 }).toString();
}

/** Why namespaces cannot be made here (not root, no `ip`), or undefined if they can. */
export function netnsUnusable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  try {
    ip('netns', 'list');
    return undefined;
  } catch (error) {
    return `ip netns is not usable here: ${(error as Error).message.split('\n')[0]}`;
  }
}

/** A TestHost for the namespace `ns` whose interface has `address`. */
export function host(ns: string, address: string): TestHost {
  return {
    address,
    exec: (command, args) =>
      execFileSync('ip', ['netns', 'exec', ns, command, ...args], {
        stdio: 'pipe',
        timeout: 10_000,
      }).toString(),
    spawn: (command, args, options = {}) =>
      spawn('ip', ['netns', 'exec', ns, command, ...args], { detached: true, ...options }),
    wrapper(dir, executable) {
      const path = join(dir, `${ns}-${executable.split('/').pop()}`);
      writeFileSync(path, `#!/bin/sh\nexec ip netns exec '${ns}' '${executable}' "$@"\n`);
      chmodSync(path, 0o755);
      return path;
    },
  };
}

const open = new Set<string>();
let hooked = false;

/** Ends what still runs in our namespaces (only processes this test started), then deletes them. */
export function removeNamespaces(names: Iterable<string>): void {
  for (const ns of [...names]) {
    let pids: string[] = [];
    try {
      pids = ip('netns', 'pids', ns).split('\n').filter(Boolean);
    } catch {
      // Already gone.
    }
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
    try {
      ip('netns', 'del', ns);
    } catch {
      // Already gone.
    }
    open.delete(ns);
  }
}

function onSignal(signal: NodeJS.Signals): void {
  removeNamespaces(open);
  // Others listening (browser launchers) decide; otherwise, die of it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

/** Creates namespace `ns` (loopback up), deleted with the others on exit and on SIGINT/SIGTERM. */
export function addNamespace(ns: string): void {
  if (!hooked) {
    hooked = true;
    process.once('exit', () => removeNamespaces(open));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  ip('netns', 'add', ns);
  open.add(ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
}

/**
 * Two test hosts, `server` and `client`, in network namespaces of their own joined by a
 * veth pair with private /30 addresses: real interfaces (Firefox gathers no loopback ICE
 * candidates) and traffic that never leaves them. `close` (also run on exit and on
 * SIGINT/SIGTERM) kills what still runs inside and deletes both namespaces.
 */
export function createTestNetwork(tag: string): TestNetwork {
  const server = `gt-${tag}-${process.pid}-srv`;
  const client = `gt-${tag}-${process.pid}-cli`;
  try {
    for (const ns of [server, client]) addNamespace(ns);
    // Made inside the namespaces directly: no interface appears on the machine itself.
    ip(
      'link',
      'add',
      'veth0',
      'netns',
      server,
      'type',
      'veth',
      'peer',
      'name',
      'veth0',
      'netns',
      client,
    );
    ip('-n', server, 'addr', 'add', `${SERVER_ADDRESS}/30`, 'dev', 'veth0');
    ip('-n', client, 'addr', 'add', `${CLIENT_ADDRESS}/30`, 'dev', 'veth0');
    ip('-n', server, 'link', 'set', 'veth0', 'up');
    ip('-n', client, 'link', 'set', 'veth0', 'up');
  } catch (error) {
    removeNamespaces([server, client]);
    throw error;
  }
  return {
    server: host(server, SERVER_ADDRESS),
    client: host(client, CLIENT_ADDRESS),
    close: () => removeNamespaces([server, client]),
  };
}
