/**
 * Firefox ESR and Chromium in one room, each on a test host of its own network: the
 * GhostTalk server (node src/main.ts) runs in one network namespace, both browsers in
 * another, joined by a veth pair (Firefox gathers no loopback ICE candidates, so media
 * must cross a real interface). The page is served over HTTPS (TLS_CERT/TLS_KEY with a
 * self-signed certificate for the server host's address), as a secure context needs.
 * Chromium's hearing is checked by tone analysis of the remote <audio> element; headless
 * Firefox plays no audio (its AudioContext stays suspended), so its hearing is checked
 * by inbound-rtp stats: packets, samples and their energy. Mute, speaking rings and a
 * dropped signaling connection are checked both ways, in an end-to-end encrypted room.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page as FirefoxPage } from 'puppeteer-core';
import { newRoomKey } from '../client/src/e2ee/roomKey.ts';
import {
  CHROMIUM_PATH,
  closePeople,
  describeSpectra,
  type ElementSpectrum,
  ensureClientBuilt,
  heardLevel,
  installJoinProbe,
  isAbsent,
  launchPerson,
  type Person,
  remoteSpectra,
  waitFor,
  waitUntilHears,
} from './support/browser.ts';
import { type ChildServer, startChildServer } from './support/childServer.ts';
import { FIREFOX_PATH, type FirefoxPerson, launchFirefox } from './support/firefox.ts';
import { createTestNetwork, netnsUnusable, type TestNetwork } from './support/netns.ts';
import { writeSineWav } from './support/wav.ts';

const CHROMIUM_TONE_HZ = 500;
/** Firefox's fake microphone (its default tone, pinned by a pref). */
const FIREFOX_TONE_HZ = 1000;
const TONES = [CHROMIUM_TONE_HZ, FIREFOX_TONE_HZ];
/** Longer than the block below, so the place is kept. */
const RECONNECT_GRACE_MS = 15_000;
/**
 * Firefox hears when, over a second, it got packets and samples that were not concealment,
 * at least this loud: sqrt(energy / duration) of its audioLevel (0-1). Measured 0.17-0.8
 * with Chromium's tone, 0-0.002 with Chromium muted or its microphone file silent.
 */
const HEARD_RMS = 0.01;

const skip =
  netnsUnusable() ??
  (existsSync(FIREFOX_PATH) ? undefined : `no Firefox at ${FIREFOX_PATH}`) ??
  (existsSync(CHROMIUM_PATH) ? undefined : `no Chromium at ${CHROMIUM_PATH}`);

/** What Firefox decoded from the room over one interval, from its inbound-rtp stats. */
type Reception = {
  packets: number;
  /** Samples received minus concealed (Firefox counts DTX silence here too). */
  decodedSamples: number;
  /** RMS of audioLevel over the interval, from totalAudioEnergy / totalSamplesDuration. */
  rms: number;
  audioLevel: number;
};

type InboundTotals = {
  packetsReceived: number;
  totalSamplesReceived: number;
  concealedSamples: number;
  totalAudioEnergy: number;
  totalSamplesDuration: number;
  audioLevel: number;
};

/** Summed over the page's open connections' inbound audio (one remote person here). */
async function inboundTotals(page: FirefoxPage): Promise<InboundTotals> {
  return page.evaluate(async () => {
    type Stats = { values(): Iterable<Record<string, unknown>> };
    type Connection = { connectionState: string; getStats(): Promise<Stats> };
    const g = globalThis as unknown as { __gtConnections?: Connection[] };
    const sum = {
      packetsReceived: 0,
      totalSamplesReceived: 0,
      concealedSamples: 0,
      totalAudioEnergy: 0,
      totalSamplesDuration: 0,
      audioLevel: 0,
    };
    for (const pc of g.__gtConnections ?? []) {
      if (pc.connectionState === 'closed') continue;
      for (const s of (await pc.getStats()).values()) {
        if (s.type !== 'inbound-rtp' || s.kind !== 'audio') continue;
        for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += Number(s[key] ?? 0);
      }
    }
    return sum;
  });
}

async function reception(page: FirefoxPage): Promise<Reception> {
  const a = await inboundTotals(page);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const b = await inboundTotals(page);
  const duration = b.totalSamplesDuration - a.totalSamplesDuration;
  const energy = b.totalAudioEnergy - a.totalAudioEnergy;
  return {
    packets: b.packetsReceived - a.packetsReceived,
    decodedSamples:
      b.totalSamplesReceived - a.totalSamplesReceived - (b.concealedSamples - a.concealedSamples),
    rms: duration > 0 ? Math.sqrt(energy / duration) : 0,
    audioLevel: b.audioLevel,
  };
}

function describeReception(r: Reception): string {
  return (
    `${r.packets} packets/s, ${r.decodedSamples} decoded samples/s, ` +
    `RMS ${r.rms.toFixed(4)}, audioLevel ${r.audioLevel.toFixed(4)}`
  );
}

/**
 * In the page: each open connection's selected candidate pair, as
 * "<type> <local address>:<port>/<protocol> -> <remote address>:<port>". Chromium names it
 * in its transport report; Firefox has none and marks the pair `selected`.
 */
async function selectedPairsInPage(): Promise<string[]> {
  type Stats = { values(): Iterable<Record<string, unknown>> };
  type Connection = { connectionState: string; getStats(): Promise<Stats> };
  const g = globalThis as unknown as { __gtConnections?: Connection[] };
  const out: string[] = [];
  for (const pc of g.__gtConnections ?? []) {
    if (pc.connectionState === 'closed') continue;
    const report = [...(await pc.getStats()).values()];
    const byId = new Map(report.map((s) => [String(s.id), s]));
    const named = report.find((s) => s.type === 'transport')?.selectedCandidatePairId;
    const pair = named
      ? byId.get(String(named))
      : report.find((s) => s.type === 'candidate-pair' && s.selected === true);
    const local = pair && byId.get(String(pair.localCandidateId));
    const remote = pair && byId.get(String(pair.remoteCandidateId));
    if (!local || !remote) continue;
    out.push(
      `${local.candidateType} ${local.address}:${local.port}/${local.protocol} -> ${remote.address}:${remote.port}`,
    );
  }
  return out;
}

/** In the page: the attributes of the first element matching `selector`. */
function attributesInPage(selector: string): Record<string, string> | undefined {
  type Element = { attributes: Iterable<{ name: string; value: string }> };
  const doc = (globalThis as unknown as { document: { querySelector(s: string): Element | null } })
    .document;
  const element = doc.querySelector(selector);
  return element
    ? Object.fromEntries([...element.attributes].map((a) => [a.name, a.value]))
    : undefined;
}

type Browser = 'chromium' | 'firefox';

describe('Firefox and Chromium in one room across test hosts', { skip, timeout: 300_000 }, () => {
  let network: TestNetwork | undefined;
  let tmp: string | undefined;
  let server: ChildServer | undefined;
  let chromium: Person | undefined;
  let firefox: FirefoxPerson | undefined;
  const roomId = `xb-${Date.now().toString(36)}`;
  /** Each browser's peer id in the room. */
  const ids: Record<Browser, string> = { chromium: '', firefox: '' };
  const other = (who: Browser): Browser => (who === 'chromium' ? 'firefox' : 'chromium');

  const chromiumPage = () => {
    assert.ok(chromium, 'Chromium launched');
    return chromium.page;
  };
  const firefoxPage = () => {
    assert.ok(firefox, 'Firefox launched');
    return firefox.page;
  };
  /** The attributes of an element in `who`'s page. */
  const attributes = (who: Browser, selector: string) =>
    who === 'chromium'
      ? chromiumPage().evaluate(attributesInPage, selector)
      : firefoxPage().evaluate(attributesInPage, selector);
  const click = (who: Browser, selector: string) =>
    who === 'chromium'
      ? chromiumPage().locator(selector).click()
      : firefoxPage().locator(selector).click();
  const fill = (who: Browser, selector: string, text: string) =>
    who === 'chromium'
      ? chromiumPage().locator(selector).fill(text)
      : firefoxPage().locator(selector).fill(text);
  /** `who`'s participant-list row of `peerId` (data-muted, data-speaking, ...). */
  const row = (who: Browser, peerId: string) => attributes(who, `li[data-peer-id="${peerId}"]`);
  /** Your own row comes first in the list. */
  const selfId = async (who: Browser) =>
    (await attributes(who, 'li.participant'))?.['data-peer-id'];
  const roomState = async (who: Browser) => (await attributes(who, '.room'))?.['data-state'];

  /** Chromium hears Firefox's tone; returns its level (dB). */
  async function chromiumHearsFirefox(): Promise<number> {
    assert.ok(chromium);
    const spectra = await waitUntilHears(
      chromium,
      [{ name: 'Firefox', toneHz: FIREFOX_TONE_HZ, peerId: ids.firefox }],
      TONES,
      { timeoutMs: 15_000 },
    );
    console.log(`# Chromium hears Firefox: ${describeSpectra(spectra)}`);
    return heardLevel(spectra, ids.firefox, FIREFOX_TONE_HZ) as number;
  }

  async function firefoxHearsChromium(): Promise<Reception> {
    let last: Reception | undefined;
    const heard = await waitFor(
      'Firefox to decode Chromium’s audio',
      async () => {
        last = await reception(firefoxPage());
        return last.packets > 0 && last.decodedSamples > 0 && last.rms >= HEARD_RMS && last;
      },
      { timeoutMs: 15_000, intervalMs: 0 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n  last: ${last ? describeReception(last) : 'none'}`);
    });
    console.log(`# Firefox hears Chromium: ${describeReception(heard)}`);
    return heard;
  }

  before(
    async () => {
      ensureClientBuilt();
      network = createTestNetwork('xb');
      tmp = await mkdtemp(join(tmpdir(), 'ghosttalk-xb-'));
      server = await startChildServer(network.server, tmp, {
        https: true,
        env: { RECONNECT_GRACE_MS: String(RECONNECT_GRACE_MS) },
      });
      const [c, f] = await Promise.allSettled([
        launchPerson({
          name: 'Chromium',
          toneHz: CHROMIUM_TONE_HZ,
          fakeMicWav: await writeSineWav(join(tmp, 'chromium.wav'), CHROMIUM_TONE_HZ),
          executablePath: network.client.wrapper(tmp, CHROMIUM_PATH),
          extraArgs: ['--ignore-certificate-errors'], // the self-signed test certificate
        }),
        launchFirefox({
          name: 'Firefox',
          toneHz: FIREFOX_TONE_HZ,
          host: network.client,
          acceptInsecureCerts: true,
        }),
      ]);
      if (c.status === 'fulfilled') chromium = c.value;
      if (f.status === 'fulfilled') firefox = f.value;
      for (const result of [c, f]) if (result.status === 'rejected') throw result.reason;
      await firefoxPage().evaluateOnNewDocument(installJoinProbe);
      // End-to-end encrypted: Firefox's RTCRtpScriptTransform and Chromium's must agree.
      const url = `${server.url}/r/${roomId}#${newRoomKey()}`;
      await Promise.all([chromiumPage().goto(url), firefoxPage().goto(url)]);
    },
    { timeout: 120_000 },
  );

  after(
    async () => {
      await closePeople([chromium, firefox].filter((p) => p !== undefined));
      await server?.stop().catch(() => undefined);
      network?.close();
      if (tmp) await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    },
    { timeout: 60_000 },
  );

  test('both join over HTTPS across the veth link and each hears the other', async () => {
    assert.ok(network && server);
    assert.match(server.url, /^https:/);
    for (const who of ['chromium', 'firefox'] as const) {
      await fill(who, '#nickname', who === 'chromium' ? 'Chromium' : 'Firefox');
      await click(who, 'button[type="submit"]');
      ids[who] = await waitFor(`${who}’s peer id`, () => selfId(who));
    }
    assert.notEqual(ids.chromium, ids.firefox);
    for (const who of ['chromium', 'firefox'] as const) {
      await waitFor(
        `${who} to list the other`,
        async () => (await row(who, ids[other(who)])) !== undefined,
      );
    }

    await chromiumHearsFirefox();
    await firefoxHearsChromium();

    // Media crossed the veth link: every selected pair is UDP to the server host's media
    // port. (Both browsers hide their own address: an mDNS name, or prflx with none.)
    const pairs = {
      chromium: await chromiumPage().evaluate(selectedPairsInPage),
      firefox: await firefoxPage().evaluate(selectedPairsInPage),
    };
    console.log(
      `# selected pairs: Chromium ${pairs.chromium.join(', ')}; Firefox ${pairs.firefox.join(', ')}`,
    );
    for (const list of Object.values(pairs)) {
      assert.equal(list.length, 2, 'a send and a receive transport');
      for (const pair of list) {
        assert.match(
          pair,
          new RegExp(`^(host|prflx) \\S*:\\d+/udp -> ${network.server.address}:50000$`),
        );
      }
    }
  });

  test('each sees the other’s speaking ring', async () => {
    for (const who of ['chromium', 'firefox'] as const) {
      await waitFor(
        `${who} to see the other speaking`,
        async () => (await row(who, ids[other(who)]))?.['data-speaking'] === 'true',
      );
    }
  });

  test('Chromium mutes: Firefox shows it muted and decodes nothing from it', async () => {
    await click('chromium', 'button.mute');
    assert.equal((await attributes('chromium', 'button.mute'))?.['aria-pressed'], 'true');
    await waitFor('Firefox to show Chromium muted, with no ring', async () => {
      const r = await row('firefox', ids.chromium);
      return r?.['data-muted'] === 'true' && r['data-speaking'] === 'false';
    });
    let last: Reception | undefined;
    await waitFor(
      'Firefox to stop hearing Chromium',
      async () => {
        last = await reception(firefoxPage());
        return last.rms < HEARD_RMS && last;
      },
      { timeoutMs: 10_000, intervalMs: 0 },
    );
    console.log(`# Firefox while Chromium is muted: ${last && describeReception(last)}`);
    await chromiumHearsFirefox(); // the other direction is untouched

    await click('chromium', 'button.mute');
    await waitFor(
      'Firefox to show Chromium unmuted',
      async () => (await row('firefox', ids.chromium))?.['data-muted'] === 'false',
    );
    await firefoxHearsChromium();
  });

  test('Firefox mutes: Chromium shows it muted and no longer hears its tone', async () => {
    const heardDb = await chromiumHearsFirefox();
    await click('firefox', 'button.mute');
    assert.equal((await attributes('firefox', 'button.mute'))?.['aria-pressed'], 'true');
    await waitFor('Chromium to show Firefox muted, with no ring', async () => {
      const r = await row('chromium', ids.firefox);
      return r?.['data-muted'] === 'true' && r['data-speaking'] === 'false';
    });
    let last: ElementSpectrum[] = [];
    await waitFor(
      'Chromium to stop hearing Firefox',
      async () => {
        last = await remoteSpectra(chromiumPage(), TONES);
        return last.length === 1 && isAbsent(last, FIREFOX_TONE_HZ, heardDb);
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n  spectra: ${describeSpectra(last)}`);
    });
    console.log(`# Chromium while Firefox is muted: ${describeSpectra(last)}`);
    await firefoxHearsChromium(); // the other direction is untouched

    await click('firefox', 'button.mute');
    await waitFor(
      'Chromium to show Firefox unmuted',
      async () => (await row('chromium', ids.firefox))?.['data-muted'] === 'false',
    );
    await chromiumHearsFirefox();
  });

  test('a signaling outage: both reconnect in place and still hear each other', async () => {
    assert.ok(network && server);
    // The banner may show only briefly: record every text it shows.
    const recordBanners = `
      window.__banners = [];
      new MutationObserver(() => {
        const text = document.querySelector('.banner')?.textContent;
        if (text) window.__banners.push(text);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    `;
    await chromiumPage().evaluate(recordBanners);
    await firefoxPage().evaluate(recordBanners);
    const banners = async (who: Browser) =>
      (await (who === 'chromium'
        ? chromiumPage().evaluate('window.__banners')
        : firefoxPage().evaluate('window.__banners'))) as string[];
    const logLinesBefore = server.logLines().length;

    // Inside the client host only: new connections to the web port are refused, and
    // the open ones (both browsers' socket.io) are reset, which the server sees too.
    const rule = ['OUTPUT', '-p', 'tcp', '--syn', '-d', network.server.address,
      '--dport', String(server.port), '-j', 'REJECT', '--reject-with', 'tcp-reset']; // biome-ignore format: one iptables rule
    network.client.exec('iptables', ['-w', '5', '-I', ...rule]);
    const cutAt = Date.now();
    let liftedAt = cutAt;
    try {
      network.client.exec('ss', [
        '-K',
        'dst',
        network.server.address,
        'dport',
        '=',
        String(server.port),
      ]);
      // Held until each browser has failed a reconnect attempt against the block.
      for (const who of ['chromium', 'firefox'] as const) {
        await waitFor(
          `${who} to fail a reconnect attempt`,
          async () =>
            (await banners(who)).some((t) =>
              /^Connection lost\. Reconnecting… \(attempt [2-9]\)$/.test(t),
            ),
          { timeoutMs: RECONNECT_GRACE_MS / 2 },
        );
      }
    } finally {
      network.client.exec('iptables', ['-w', '5', '-D', ...rule]);
      liftedAt = Date.now();
    }

    for (const who of ['chromium', 'firefox'] as const) {
      await waitFor(`${who} to be back in`, async () => (await roomState(who)) === 'joined');
      const seen = [...new Set(await banners(who))].join(' / ');
      console.log(
        `# ${who}: cut for ${liftedAt - cutAt} ms, back in ${Date.now() - liftedAt} ms after; banners: ${seen}`,
      );
      assert.equal(await selfId(who), ids[who], `${who} kept its peer id`);
      assert.ok(await row(who, ids[other(who)]), `${who} still lists the other`);
    }
    const events = await waitFor('the server to log both resumes', () => {
      const ours = (server?.logLines().slice(logLinesBefore) ?? []).filter(
        (l) => l.room === roomId,
      );
      const resumed = ours.filter((l) => l.message === 'peer resumed').map((l) => l.peer);
      return resumed.includes(ids.chromium) && resumed.includes(ids.firefox) && ours;
    });
    assert.deepEqual(
      events.filter((l) => l.message === 'peer left' || l.message === 'peer joined'),
      [],
      'nobody left or joined',
    );

    await chromiumHearsFirefox();
    await firefoxHearsChromium();
  });
});
