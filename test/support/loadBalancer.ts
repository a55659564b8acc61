import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet } from './clusterNetwork.ts';
import type { TestHost } from './netns.ts';
import { waitFor } from './wait.ts';

export type LoadBalancer = {
  /** http://<lb address>:8080 */
  url: string;
  /** Caddy's log (JSON lines on stderr). */
  logs(): string;
  close(): Promise<void>;
};

export const LB_PORT = 8080;
const LB_READY_PORT = 8081;

/** The Caddyfile: plain HTTP on :8080, round robin over `upstreams` with both kinds of health. */
export function loadBalancerCaddyfile(upstreams: string[], storage: string): string {
  return `{
	# No admin endpoint (other runs may hold :2019), no HTTPS, no trust store. (Caddy 2.6
	# has no persist_config option: its autosave goes to XDG_CONFIG_HOME, the test dir.)
	admin off
	auto_https off
	skip_install_trust
	storage file_system ${storage}
}
http://:${LB_PORT} {
	reverse_proxy ${upstreams.join(' ')} {
		lb_policy round_robin
		# A request whose upstream refuses or does not answer the dial is tried on
		# another for up to 5 s (Caddy only retries dial failures here: bodies are not
		# replayed), so a vanished node costs one dial timeout, not an error.
		lb_try_duration 5s
		lb_try_interval 100ms
		# Passive: one failed dial takes the node out for 2 s (not app 5xx answers).
		max_fails 1
		fail_duration 2s
		# Active: a node not answering 2xx on /healthz within 1 s is skipped until it does.
		health_uri /healthz
		health_interval 1s
		health_timeout 1s
		health_status 2xx
		transport http {
			# Default 3 s: a blackholed node would hold each retry that long.
			dial_timeout 1s
		}
		# WebSocket upgrades pass through as they are; X-Forwarded-For is set by default
		# to the client's address (any the client sent is replaced: no trusted_proxies).
	}
}
# Caddy's own liveness: answered without any upstream (a proxied request to no healthy
# upstream waits lb_try_duration for one).
http://:${LB_READY_PORT} {
	respond "ok"
}
`;
}

/**
 * Caddy inside `lbHost` on :8080, a plain-HTTP reverse proxy to `upstreams` (host:port).
 * Resolves once Caddy answers on its own liveness port, 8081 (the upstreams need not be
 * up yet).
 */
export async function startLoadBalancer(
  lbHost: TestHost,
  upstreams: string[],
): Promise<LoadBalancer> {
  const dir = mkdtempSync(join(tmpdir(), 'ghosttalk-lb-'));
  const config = join(dir, 'Caddyfile');
  writeFileSync(config, loadBalancerCaddyfile(upstreams, join(dir, 'storage')));
  const child = lbHost.spawn('caddy', ['run', '--config', config, '--adapter', 'caddyfile'], {
    // Caddy keeps its data and config under these: the test's dir.
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CONFIG_HOME: join(dir, 'config'),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let logs = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    logs += c;
  });
  const exit = new Promise((resolve) => child.once('exit', resolve));
  const url = `http://${lbHost.address}:${LB_PORT}`;
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const result = await waitFor(
    'Caddy to answer HTTP',
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) return 'exited';
      const ready = `http://${lbHost.address}:${LB_READY_PORT}/`;
      return (await httpGet(lbHost, ready, { timeoutMs: 1_000 })).status === 200;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  ).catch((error: Error) => error);
  if (result !== true) {
    await close();
    const why = result === 'exited' ? 'Caddy exited' : result.message;
    throw new Error(`${why}\n${logs}`);
  }
  return { url, logs: () => logs, close };
}
