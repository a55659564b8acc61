import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Browser as BrowserKind, createProfile } from '@puppeteer/browsers';
import puppeteer, { type ConnectionTransport, type Page } from 'puppeteer-core';
import type { TestHost } from './netns.ts';
import { waitFor } from './wait.ts';

/** Debian's Firefox ESR; puppeteer-core drives it over WebDriver BiDi (Playwright cannot). */
export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

const BRIDGE = fileURLToPath(new URL('./bidiBridge.ts', import.meta.url));

export type FirefoxPerson = {
  name: string;
  page: Page;
  /** Browser console errors, for diagnosing failures. */
  consoleErrors: string[];
  close(): Promise<void>;
};

/**
 * One Firefox inside `host` (a network namespace), whose fake microphone plays a sine
 * tone of `toneHz` (no permission prompt). Its BiDi socket listens on that namespace's
 * loopback, so puppeteer reaches it through bidiBridge.ts, started in the same
 * namespace, over stdin/stdout. `acceptInsecureCerts` takes a test certificate.
 */
export async function launchFirefox(options: {
  name: string;
  toneHz: number;
  host: TestHost;
  acceptInsecureCerts?: boolean;
}): Promise<FirefoxPerson> {
  const profile = await mkdtemp(join(tmpdir(), 'ghosttalk-firefox-'));
  await createProfile(BrowserKind.FIREFOX, {
    path: profile,
    preferences: {
      'media.navigator.streams.fake': true,
      'media.navigator.audio.fake_frequency': options.toneHz,
      'media.navigator.permission.disabled': true,
      // As puppeteer's own launcher: one content process, which BiDi input needs.
      'fission.webContentIsolationStrategy': 0,
    },
  });
  const firefox = options.host.spawn(
    FIREFOX_PATH,
    ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port=0', 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  let endpoint: string | undefined;
  firefox.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000);
    endpoint ??= /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(log)?.[1];
  });
  const exited = new Promise<void>((resolve) => firefox.once('exit', () => resolve()));
  let bridge: ReturnType<TestHost['spawn']> | undefined;
  const kill = async () => {
    for (const child of [bridge, firefox]) {
      if (child?.pid && child.exitCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL'); // its process group: Firefox's content processes too
        } catch {
          // Already gone.
        }
      }
    }
    await exited;
    await rm(profile, { recursive: true, force: true }).catch(() => undefined);
  };
  try {
    const url = await waitFor(
      'Firefox to open WebDriver BiDi',
      () => {
        if (firefox.exitCode !== null) throw new Error(`Firefox exited:\n${log}`);
        return endpoint;
      },
      { timeoutMs: 60_000 },
    );
    bridge = options.host.spawn(process.execPath, [BRIDGE, `${url}/session`], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const browser = await puppeteer.connect({
      transport: lineTransport(bridge),
      protocol: 'webDriverBiDi',
      acceptInsecureCerts: options.acceptInsecureCerts ?? false,
      defaultViewport: { width: 1280, height: 800 },
      protocolTimeout: 60_000,
    });
    const page = (await browser.pages())[0] ?? (await browser.newPage());
    page.setDefaultTimeout(15_000);
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(String(error)));
    return {
      name: options.name,
      page,
      consoleErrors,
      async close() {
        await Promise.race([
          browser.close().catch(() => undefined),
          new Promise((resolve) => setTimeout(resolve, 5_000)),
        ]);
        await kill();
      },
    };
  } catch (error) {
    await kill();
    throw error;
  }
}

/** A puppeteer transport over a child's stdin/stdout, one message a line. */
function lineTransport(child: ReturnType<TestHost['spawn']>): ConnectionTransport {
  const transport: ConnectionTransport = {
    send: (message) => child.stdin?.write(`${message}\n`),
    close: () => child.stdin?.end(),
  };
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) =>
    transport.onmessage?.(line),
  );
  child.once('exit', () => transport.onclose?.());
  return transport;
}
