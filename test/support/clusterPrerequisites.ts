import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CHROMIUM_PATH, closePeople, type Person } from './browser.ts';
import type { ClusterNetwork } from './clusterNetwork.ts';
import type { ClusterNode } from './clusterNodes.ts';
import type { LoadBalancer } from './loadBalancer.ts';
import { netnsUnusable } from './netns.ts';
import type { TestRedis } from './redis.ts';

function which(command: string): boolean {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin']);
  return dirs.some((dir) => existsSync(join(dir, command)));
}

/**
 * Why a cluster test with browsers in network namespaces cannot run here (no netns, no
 * Chromium, or one of `commands` missing), or undefined when it can.
 */
export function clusterTestSkip(commands: readonly string[]): string | undefined {
  const missing = commands.filter((c) => !which(c));
  return (
    netnsUnusable() ??
    (existsSync(CHROMIUM_PATH) ? undefined : `no Chromium at ${CHROMIUM_PATH}`) ??
    (missing.length > 0 ? `not installed: ${missing.join(', ')}` : undefined)
  );
}

/** Closes whatever of a cluster test's parts were started, the browsers first. */
export async function closeCluster(parts: {
  people: readonly Person[];
  nodes: readonly ClusterNode[];
  lb: LoadBalancer | undefined;
  redis: TestRedis | undefined;
  network: ClusterNetwork | undefined;
  tmp: string;
}): Promise<void> {
  await closePeople(parts.people);
  for (const node of parts.nodes) if (node.child.exitCode === null) node.kill('SIGKILL');
  await Promise.allSettled(parts.nodes.map((node) => node.close()));
  await parts.lb?.close().catch(() => undefined);
  await parts.redis?.close().catch(() => undefined);
  parts.network?.close();
  if (parts.tmp) await rm(parts.tmp, { recursive: true, force: true }).catch(() => undefined);
}
