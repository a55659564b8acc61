/**
 * Resilience with real components only: the GhostTalk server in-process and three
 * Chromium people with fake-microphone tones, in one room, hearing each other.
 * - The room's mediasoup worker is SIGKILLed: the server replaces it on the same port
 *   and everyone's page rejoins by itself (the server sends `mediaReset`).
 * - iptables drops what one person's browser sends to the media port for longer than
 *   Chromium takes to call ICE `disconnected`: the page restarts ICE in place (same
 *   peer, same transports) and the others never see that person leave.
 * - The same for everyone's media at once, kept blocked past the pages' first ICE
 *   restarts: they retry, and all come back in place once the block is lifted.
 * The room is end-to-end encrypted (every rejoin sets the frame encryption up again).
 * Each prints its recovery times. Signaling drops are covered by browser-e2e.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { newRoomKey } from '../client/src/e2ee/roomKey.ts';
import {
  closePeople,
  ensureClientBuilt,
  launchPeople,
  type MediaWatch,
  PEOPLE,
  type Person,
  readMediaWatch,
  selectedLocalCandidates,
  startMediaWatch,
  TONES,
  waitFor,
  waitUntilHears,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/testServer.ts';

/** Generous: a recovery that takes longer is a failure, not something to wait out. */
const RECOVERY_BOUND_MS = 30_000;
/** A block is lifted this long after the last ICE restart it waits for. */
const BLOCKED_AFTER_RESTART_MS = 1_000;

/** Every rule this process adds carries this comment, so cleanup finds exactly them. */
const RULE_TAG = `ghosttalk-test-${process.pid}`;

function iptables(...args: string[]): string {
  return execFileSync('iptables', ['-w', '5', ...args], { stdio: 'pipe', timeout: 10_000 })
    .toString()
    .trim();
}

/** Why iptables cannot be used here (not root, no netfilter), or undefined if it can. */
function iptablesUnusable(): string | undefined {
  if (process.getuid?.() !== 0) return 'iptables needs root';
  try {
    iptables('-S', 'INPUT');
    return undefined;
  } catch (error) {
    return `iptables is not usable here: ${(error as Error).message.split('\n')[0]}`;
  }
}

let addedRules = false;
// Also on an abrupt exit of this test process (the after hook covers failures).
process.once('exit', () => {
  if (addedRules) removeOurRules();
});

/** Interrupted (Ctrl-C, a runner cancelling): remove the rules, then let the signal act. */
function onSignal(signal: NodeJS.Signals): void {
  removeOurRules();
  // Others listening (playwright closes its browsers) decide; otherwise, die of it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function dropRule(rule: string[]): void {
  if (!addedRules) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  addedRules = true;
  iptables('-I', 'INPUT', ...rule, '-m', 'comment', '--comment', RULE_TAG, '-j', 'DROP');
}

/** Deletes every rule tagged by this process; safe to call any number of times. */
function removeOurRules(): number {
  let removed = 0;
  for (const line of iptables('-S').split('\n')) {
    if (!line.startsWith('-A ') || !line.includes(RULE_TAG)) continue;
    iptables('-D', ...line.slice(3).split(' '));
    removed += 1;
  }
  return removed;
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`;
}

/** When `listener`'s page got packets again from `speakerId` (a stream new or stalled since the watch began). */
function flowingAt(watch: MediaWatch, speakerId: string): number | undefined {
  return watch.streams.find((s) => s.peerId === speakerId && s.flowingAt !== undefined)?.flowingAt;
}

describe('browser resilience: worker crash and blocked media', { timeout: 150_000 }, () => {
  let ts: TestServer | undefined;
  const people: Person[] = [];
  const peerIds = new Map<string, string>(); // name -> peer id
  const roomId = `resilience-${Date.now().toString(36)}`;
  // End-to-end encrypted, as new rooms are: recovery must bring the encryption back too.
  const roomKey = newRoomKey();

  const person = (name: string): Person => {
    const found = people.find((p) => p.name === name);
    assert.ok(found, `no person ${name}`);
    return found;
  };
  const server = () => {
    assert.ok(ts, 'server started');
    return ts.server;
  };
  const speakers = (listener: Person) =>
    people
      .filter((p) => p !== listener)
      .map((p) => ({ name: p.name, toneHz: p.toneHz, peerId: peerIds.get(p.name) }));

  async function selfId(page: Person['page']): Promise<string | null> {
    const self = page.getByRole('list', { name: 'Participants' }).getByRole('listitem').first();
    return self.getAttribute('data-peer-id');
  }

  /** Everyone's page lists all three, by their current peer ids, in a joined room. */
  async function everyoneListsEveryone(timeoutMs: number): Promise<void> {
    for (const p of people) {
      let seen = '';
      await waitFor(
        `${p.name} to list everyone`,
        async () => {
          const state = await p.page.locator('.room').getAttribute('data-state');
          const rows = p.page.getByRole('list', { name: 'Participants' }).getByRole('listitem');
          const ids = await rows.evaluateAll((lis) =>
            lis.map((li) => (li as unknown as { dataset: { peerId?: string } }).dataset.peerId),
          );
          seen = `state ${state}, rows ${ids.map((id) => id?.slice(0, 8)).join(' ')}`;
          return (
            state === 'joined' &&
            ids.length === 3 &&
            [...peerIds.values()].every((id) => ids.includes(id))
          );
        },
        { timeoutMs },
      ).catch((error: Error) => {
        const want = [...peerIds].map(([name, id]) => `${name} ${id.slice(0, 8)}`).join(', ');
        throw new Error(`${error.message} (${seen}; expected ${want})`);
      });
    }
  }

  async function everyoneHearsEveryone(timeoutMs = 10_000): Promise<void> {
    for (const p of people) await waitUntilHears(p, speakers(p), TONES, { timeoutMs });
  }

  before(
    async () => {
      ensureClientBuilt();
      ts = await startTestServer({ RECONNECT_GRACE_MS: '5000' });
      const { dataDir } = ts;
      await launchPeople(PEOPLE, dataDir, people);

      await Promise.all(people.map((p) => p.page.goto(`${ts?.url}/r/${roomId}#${roomKey}`)));
      for (const p of people) {
        await p.page.getByLabel('Nickname').fill(p.name);
        await p.page.getByRole('button', { name: 'Join', exact: true }).click();
        const id = await waitFor(
          `${p.name}'s peer id`,
          async () => (await selfId(p.page)) ?? undefined,
        );
        peerIds.set(p.name, id);
      }
      await everyoneListsEveryone(15_000);
      await everyoneHearsEveryone(15_000);
      assert.equal(ts.server.rooms.get(roomId)?.encrypted, true, 'an encrypted room');
    },
    { timeout: 120_000 },
  );

  after(
    async () => {
      // First of all: never leave a DROP rule behind, whatever happened.
      if (!iptablesUnusable()) {
        try {
          removeOurRules();
        } catch (error) {
          console.error(`# could not remove iptables rules tagged ${RULE_TAG}:`, error);
        }
      }
      await closePeople(people);
      await ts?.stop().catch(() => undefined);
    },
    { timeout: 60_000 },
  );

  test('the room’s mediasoup worker is SIGKILLed: everyone is back and hears everyone', async (t) => {
    const { workers, rooms } = server();
    assert.equal(workers.workers.length, 1, 'one worker: the room is on it');
    const dead = workers.workers[0];
    assert.ok(dead && !dead.closed);
    const rtcPort = ts?.config.rtcUdpPort;
    const deadPid = dead.pid;
    const oldIds = new Map(peerIds);
    await Promise.all(people.map((p) => startMediaWatch(p.page)));

    const killedAt = Date.now();
    process.kill(deadPid, 'SIGKILL');

    const fresh = await waitFor(
      'a replacement worker',
      () => {
        const w = workers.workers[0];
        return w && !w.closed && w.pid !== deadPid ? w : undefined;
      },
      { timeoutMs: RECOVERY_BOUND_MS, intervalMs: 20 },
    );
    const replacedMs = Date.now() - killedAt;
    assert.throws(() => process.kill(deadPid, 0), { code: 'ESRCH' }, 'the old worker is gone');
    const listening = await fresh.webRtcServer.dump();
    assert.deepEqual(
      [...listening.udpSockets, ...listening.tcpServers].map((s) => s.port),
      [rtcPort, rtcPort],
      'the replacement listens on the same media port (UDP and TCP)',
    );

    // Everyone rejoins by themselves: new peers (the old media is gone), same room.
    for (const p of people) {
      const id = await waitFor(
        `${p.name} to rejoin as a new peer`,
        async () => {
          const current = await selfId(p.page);
          return current && current !== oldIds.get(p.name) ? current : undefined;
        },
        { timeoutMs: RECOVERY_BOUND_MS - (Date.now() - killedAt) },
      );
      peerIds.set(p.name, id);
    }
    await everyoneListsEveryone(10_000);
    const room = rooms.get(roomId);
    assert.ok(room, 'the room exists again');
    assert.deepEqual([...room.peers.keys()].sort(), [...peerIds.values()].sort());

    // Audio flows again in every page: a packet from each of the two others.
    const recovery = new Map<string, number>();
    for (const p of people) {
      const watch = await waitFor(
        `${p.name} to receive audio from both others again`,
        async () => {
          const w = await readMediaWatch(p.page);
          return speakers(p).every((s) => s.peerId && flowingAt(w, s.peerId)) ? w : undefined;
        },
        { timeoutMs: Math.max(1_000, RECOVERY_BOUND_MS - (Date.now() - killedAt)) },
      );
      const last = Math.max(...speakers(p).map((s) => flowingAt(watch, s.peerId as string) ?? 0));
      recovery.set(p.name, last - killedAt);
    }
    await everyoneHearsEveryone();

    const health = await fetch(`${ts?.url}/healthz`);
    assert.equal(health.status, 200, 'the server is healthy again');
    const log = await waitFor('the crash and the replacement in server.log', () => {
      const text = readFileSync(join(ts?.dataDir ?? '', 'server.log'), 'utf8');
      return text.includes('mediasoup worker replaced') ? text : undefined;
    });
    assert.match(log, /mediasoup worker died/);

    const summary =
      `worker pid ${deadPid} SIGKILLed; replacement pid ${fresh.pid} on port ${rtcPort} after ${seconds(replacedMs)}; ` +
      `audio flowing again (kill -> first packet from each other person): ${[...recovery]
        .map(([name, ms]) => `${name} ${seconds(ms)}`)
        .join(', ')}; slowest ${seconds(Math.max(...recovery.values()))}`;
    console.log(`# ${summary}`);
    t.diagnostic(summary);
  });

  /**
   * Drops, with iptables, what `subjects`' browsers send to the media port (their ICE
   * checks and their audio; what the server sends still arrives) until their pages have
   * had the server restart ICE `restarts` times on each of their transports, and
   * BLOCKED_AFTER_RESTART_MS more have passed. Then checks that everyone recovered in
   * place and prints the times.
   */
  async function blockMedia(
    t: TestContext,
    subjects: readonly Person[],
    rulesFor: (rtcPort: string) => Promise<string[][]>,
    restarts: number,
  ): Promise<void> {
    const unusable = iptablesUnusable();
    if (unusable) {
      t.skip(unusable);
      return;
    }
    const { rooms } = server();
    const rtcPort = String(ts?.config.rtcUdpPort);
    const room = rooms.get(roomId);
    assert.ok(room);
    const subjectPeers = subjects.map((p) => {
      const peer = room.peers.get(peerIds.get(p.name) ?? '');
      assert.ok(peer, `${p.name} is a peer on the server`);
      return peer;
    });
    const ufrags = () =>
      subjectPeers.flatMap((peer) => [
        peer.sendTransport.iceParameters.usernameFragment,
        peer.recvTransport.iceParameters.usernameFragment,
      ]);
    const ufragsBefore = ufrags();
    const idsBefore = new Map(peerIds);
    const transportsBefore = (await room.router.dump()).transportIds.sort();

    // Anyone leaving, as the server tells the room and as the pages show it.
    const left: string[] = [];
    const onLeft = (_room: unknown, peer: { id: string }) => left.push(peer.id);
    rooms.on('peerLeft', onLeft);
    for (const p of people) {
      await p.page.evaluate(`
        window.__gtRemovedRows = [];
        new MutationObserver((records) => {
          for (const r of records) for (const n of r.removedNodes) {
            if (n.dataset && n.dataset.peerId) window.__gtRemovedRows.push(n.dataset.peerId);
          }
        }).observe(document.querySelector('ul.participants'), { childList: true });
      `);
    }
    const rules = await rulesFor(rtcPort);
    await Promise.all(people.map((p) => startMediaWatch(p.page)));

    try {
      const blockedAt = Date.now();
      for (const rule of rules) dropRule(rule);

      // Chromium notices: each subject's two connections go down...
      let downAt = 0;
      for (const p of subjects) {
        const down = await waitFor(
          `both of ${p.name}’s connections to go disconnected or failed`,
          async () => {
            const { states } = await readMediaWatch(p.page);
            const downs = states.filter((s) => s.state === 'disconnected' || s.state === 'failed');
            return new Set(downs.map((s) => s.connection)).size === 2 ? downs : undefined;
          },
          { timeoutMs: 20_000, intervalMs: 100 },
        );
        downAt = Math.max(downAt, ...down.map((s) => s.at));
      }
      // ...and the pages ask the server to restart ICE on all of them, while blocked
      // (each restart gives a transport a new ICE username fragment).
      const history = ufragsBefore.map((u) => [u]);
      let firstRestartAt = 0;
      await waitFor(
        `${restarts} ICE restart(s) of each blocked transport on the server`,
        () => {
          ufrags().forEach((u, i) => {
            const seen = history[i] as string[];
            if (seen.at(-1) !== u) seen.push(u);
          });
          if (!firstRestartAt && history.every((h) => h.length > 1)) firstRestartAt = Date.now();
          return history.every((h) => h.length > restarts);
        },
        { timeoutMs: 25_000, intervalMs: 50 },
      );
      const restartedAt = Date.now();
      await new Promise((resolve) => setTimeout(resolve, BLOCKED_AFTER_RESTART_MS));
      const unblockedAt = Date.now();
      assert.equal(removeOurRules(), rules.length);

      // Every stream from a subject stalled and flows again, on every other page.
      const back: string[] = [];
      let lastBack = 0;
      for (const listener of people) {
        for (const speaker of subjects.filter((s) => s !== listener)) {
          const speakerId = peerIds.get(speaker.name);
          const stream = await waitFor(
            `${listener.name} to receive ${speaker.name} again`,
            async () => {
              const { streams } = await readMediaWatch(listener.page);
              return streams.find((s) => s.peerId === speakerId && s.flowingAt !== undefined);
            },
            { timeoutMs: RECOVERY_BOUND_MS },
          );
          const { stalledAt, flowingAt } = stream as { stalledAt?: number; flowingAt: number };
          assert.ok(
            stalledAt,
            `${listener.name}'s audio from ${speaker.name} stopped in the block`,
          );
          lastBack = Math.max(lastBack, flowingAt);
          back.push(
            `${listener.name} hears ${speaker.name} at +${seconds(flowingAt - blockedAt)} (silent ${seconds(flowingAt - stalledAt)})`,
          );
        }
      }
      for (const p of subjects) {
        await waitFor(
          `both of ${p.name}’s connections to be connected again`,
          async () => {
            const { states } = await readMediaWatch(p.page);
            const last = new Map(states.map((s) => [s.connection, s.state]));
            return [...last.values()].filter((state) => state === 'connected').length === 2;
          },
          { timeoutMs: 10_000 },
        );
      }
      await everyoneHearsEveryone();

      // In place: same peers, same transports, and nobody saw anyone leave.
      for (const p of people) {
        assert.equal(
          await selfId(p.page),
          idsBefore.get(p.name),
          `${p.name} kept the same peer id`,
        );
      }
      for (const peer of subjectPeers) assert.equal(room.peers.get(peer.id), peer);
      assert.deepEqual((await room.router.dump()).transportIds.sort(), transportsBefore);
      assert.deepEqual(left, [], 'the server told nobody that anyone left');
      for (const p of people) {
        const removed = (await p.page.evaluate('window.__gtRemovedRows')) as string[];
        assert.deepEqual(removed, [], `${p.name}'s participant list lost nobody`);
      }
      await everyoneListsEveryone(5_000);

      const afterUnblock =
        lastBack >= unblockedAt
          ? `${seconds(lastBack - unblockedAt)} after the unblock`
          : `${seconds(unblockedAt - lastBack)} before the unblock: the restart found a new path`;
      const summary =
        `${subjects.map((p) => p.name).join(', ')}: media to port ${rtcPort} dropped for ${seconds(unblockedAt - blockedAt)}; ` +
        `ICE down at +${seconds(downAt - blockedAt)}; first ICE restart of every transport by +${seconds(firstRestartAt - blockedAt)}, ` +
        `${restarts === 1 ? 'one restart' : `${restarts} restarts`} each by +${seconds(restartedAt - blockedAt)}; ` +
        `audio back everywhere at +${seconds(lastBack - blockedAt)} (${afterUnblock}): ${back.join('; ')}`;
      console.log(`# ${summary}`);
      t.diagnostic(summary);
    } finally {
      rooms.off('peerLeft', onLeft);
      removeOurRules();
    }
  }

  test('one person’s media path is cut past ICE’s disconnect timeout: an ICE restart brings them back in place', async (t) => {
    const bo = person('Bo');
    await blockMedia(
      t,
      [bo],
      async (rtcPort) => {
        // Bo's browser side of its two media connections (send and receive).
        const candidates = await selectedLocalCandidates(bo.page);
        assert.equal(candidates.length, 2, 'Bo has two connected transports');
        assert.ok(candidates.every((c) => c.protocol === 'udp'));
        return [
          ...candidates.map(({ port }) => [
            ...['-i', 'lo', '-p', 'udp', '--sport', String(port), '--dport', rtcPort],
          ]),
          // Nobody uses TCP here; this keeps Bo from getting around the cut that way.
          ['-i', 'lo', '-p', 'tcp', '--dport', rtcPort],
        ];
      },
      1,
    );
  });

  test('everyone’s media blocked past ICE’s disconnect timeout: restarts retried, all back in place after', async (t) => {
    await blockMedia(
      t,
      people,
      async (rtcPort) => [
        ['-i', 'lo', '-p', 'udp', '--dport', rtcPort],
        ['-i', 'lo', '-p', 'tcp', '--dport', rtcPort],
      ],
      2,
    );
  });
});
