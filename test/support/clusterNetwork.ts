import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectOutput } from './mainProcess.ts';
import { addNamespace, host, ip, removeNamespaces, type TestHost } from './netns.ts';
import { waitFor } from './wait.ts';

/** A TestHost of a cluster network; `ns` and `port` (its bridge port) are for isolate/reconnect. */
export type ClusterHost = TestHost & { name: string; ns: string; port: string };

export type ClusterNetwork = {
  redis: ClusterHost;
  lb: ClusterHost;
  nodes: ClusterHost[];
  clients: ClusterHost[];
  all: ClusterHost[];
  /** Cuts `h` off the segment: frames to and from it vanish silently, as if its host died. */
  isolate(h: ClusterHost): void;
  /** Plugs `h` back in. */
  reconnect(h: ClusterHost): void;
  close(): void;
};

// One /24 of their own (netns.ts uses 10.123.0.0/30): the segment lives in namespaces only.
const SUBNET = '10.124.0';
const BRIDGE = 'br0';

/**
 * N node hosts, M client hosts, a `redis` and an `lb` host, each in a network namespace
 * of its own with a veth whose other end is a port of one Linux bridge, itself in a hub
 * namespace: one private L2 segment, every host reaching every other directly, nothing
 * on the machine's own interfaces. Addresses: lb .2, redis .3, nodes .10+i, clients
 * .100+j. `close` (also run on exit and on SIGINT/SIGTERM, see netns.ts) kills what runs
 * inside and deletes every namespace (the bridge and veths go with them).
 */
export function createClusterNetwork(
  tag: string,
  { nodes, clients }: { nodes: number; clients: number },
): ClusterNetwork {
  if (nodes > 90 || clients > 150) throw new Error('at most 90 nodes and 150 clients');
  const prefix = `gt-${tag}-${process.pid}`;
  const hub = `${prefix}-hub`;
  const specs = [
    { name: 'lb', octet: 2 },
    { name: 'redis', octet: 3 },
    ...Array.from({ length: nodes }, (_, i) => ({ name: `node${i}`, octet: 10 + i })),
    ...Array.from({ length: clients }, (_, j) => ({ name: `client${j}`, octet: 100 + j })),
  ];
  const names = [hub, ...specs.map((s) => `${prefix}-${s.name}`)];
  const made: ClusterHost[] = [];
  try {
    addNamespace(hub);
    ip('-n', hub, 'link', 'add', BRIDGE, 'type', 'bridge');
    ip('-n', hub, 'link', 'set', BRIDGE, 'up');
    for (const spec of specs) {
      const ns = `${prefix}-${spec.name}`;
      const address = `${SUBNET}.${spec.octet}`;
      // Bridge ports are named by octet: interface names are limited to 15 characters.
      const port = `p${spec.octet}`;
      addNamespace(ns);
      // Both ends made inside namespaces: no interface appears on the machine itself.
      ip('link', 'add', 'veth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', hub);
      ip('-n', hub, 'link', 'set', port, 'master', BRIDGE);
      ip('-n', hub, 'link', 'set', port, 'up');
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'veth0');
      ip('-n', ns, 'link', 'set', 'veth0', 'up');
      made.push({ ...host(ns, address), name: spec.name, ns, port });
    }
  } catch (error) {
    removeNamespaces(names);
    throw error;
  }
  const [lb, redis] = made as [ClusterHost, ClusterHost];
  return {
    lb,
    redis,
    nodes: made.slice(2, 2 + nodes),
    clients: made.slice(2 + nodes),
    all: made,
    // The hub side goes down: the host keeps its address, its peer loses carrier, and
    // the bridge drops every frame for it (no RST, no ICMP: callers see only silence).
    isolate: (h) => void ip('-n', hub, 'link', 'set', h.port, 'down'),
    reconnect: (h) => void ip('-n', hub, 'link', 'set', h.port, 'up'),
    close: () => removeNamespaces(names),
  };
}

export type RunResult = { code: number | null; stdout: string; stderr: string };

/** Runs a command inside `h` without blocking the event loop (TestHost.exec does). */
export function run(
  h: Pick<TestHost, 'spawn'>,
  command: string,
  args: string[],
  { timeoutMs = 10_000 } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = h.spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = collectOutput(child);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: output.out(), stderr: output.err() });
    });
  });
}

// Runs inside a namespace: one HTTP request, then `status\nbody` on stdout.
const HTTP_GET = `
const [url, ms] = process.argv.slice(1);
fetch(url, { signal: AbortSignal.timeout(Number(ms)) })
  .then(async (r) => process.stdout.write(r.status + '\\n' + (await r.text())))
  .catch((e) => { process.stderr.write(String(e.cause ?? e)); process.exitCode = 1; });
`;

/**
 * GET `url` from inside `h` (the test process, in the root namespace, cannot reach
 * namespace addresses). Rejects when no HTTP answer came within `timeoutMs`.
 */
export async function httpGet(
  h: TestHost,
  url: string,
  { timeoutMs = 3_000 } = {},
): Promise<{ status: number; body: string }> {
  const r = await run(h, process.execPath, ['-e', HTTP_GET, url, String(timeoutMs)], {
    timeoutMs: timeoutMs + 5_000,
  });
  if (r.code !== 0) throw new Error(`GET ${url} from ${h.address} failed: ${r.stderr.trim()}`);
  const newline = r.stdout.indexOf('\n');
  return { status: Number(r.stdout.slice(0, newline)), body: r.stdout.slice(newline + 1) };
}

// Runs inside a namespace: a TCP connect; an answer of any kind (even a refusal) is "up".
const REACH = `
const [host, port, ms] = process.argv.slice(1);
const s = require('node:net').connect(Number(port), host);
const done = (ok) => { console.log(ok ? 'up' : 'down'); s.destroy(); };
s.on('connect', () => done(true)).on('error', (e) => done(e.code === 'ECONNREFUSED'));
s.setTimeout(Number(ms), () => done(false));
`;

/**
 * Whether `from` gets any TCP answer from `address:port` within `timeoutMs` (a refusal
 * counts: the host is there). No ICMP ping: iputils-ping is not installed here.
 */
export async function canReach(
  from: TestHost,
  address: string,
  { port = 9, timeoutMs = 1_000 } = {},
): Promise<boolean> {
  const r = await run(from, process.execPath, ['-e', REACH, address, `${port}`, `${timeoutMs}`]);
  return r.stdout.trim() === 'up';
}

// Runs inside a namespace: accepts on a unix socket, pipes each connection to host:port.
const FORWARDER = `
const net = require('node:net');
const [path, host, port] = process.argv.slice(1);
net.createServer((c) => {
  const u = net.connect(Number(port), host);
  c.pipe(u).pipe(c);
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
}).listen(path, () => console.log('ready'));
`;

export type Forward = { port: number; close(): Promise<void> };

let forwards = 0;
const socketFiles = new Set<string>();
process.once('exit', () => {
  for (const path of socketFiles) rmSync(path, { force: true });
});

/**
 * 127.0.0.1:<port> in the test process, piped to `address:port` as dialled from inside
 * `h` (default: `h`'s own address). A forwarder inside the namespace listens on a unix
 * socket in /tmp, which the filesystem makes reachable across namespaces; a local TCP
 * server pipes each connection to it. Any TCP works (HTTP, WebSocket); the far end sees
 * the connection come from `h`.
 */
export async function forwardToHost(
  h: TestHost,
  port: number,
  address = h.address,
): Promise<Forward> {
  const path = join(tmpdir(), `gt-fwd-${process.pid}-${forwards++}.sock`);
  rmSync(path, { force: true });
  socketFiles.add(path);
  const child: ChildProcess = h.spawn(
    process.execPath,
    ['-e', FORWARDER, path, address, `${port}`],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    output += c;
  });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    output += c;
  });
  const sockets = new Set<Socket>();
  const server = createServer((local) => {
    const remote = createConnection(path);
    sockets.add(local).add(remote);
    local.pipe(remote).pipe(local);
    local.on('error', () => remote.destroy());
    remote.on('error', () => local.destroy());
    local.on('close', () => sockets.delete(local));
    remote.on('close', () => sockets.delete(remote));
  });
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    }
    rmSync(path, { force: true });
    socketFiles.delete(path);
  };
  try {
    await waitFor('the forwarder to listen', () => {
      if (child.exitCode !== null) throw new Error(`forwarder exited: ${output}`);
      return output.includes('ready');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
  const { port: localPort } = server.address() as { port: number };
  return { port: localPort, close };
}
