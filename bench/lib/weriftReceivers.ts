/**
 * Child process holding werift RTCPeerConnections that receive mediasoup consumers over
 * ICE + DTLS + SRTP through a WebRtcServer. werift is pure TypeScript and costs far
 * more CPU per packet than the SFU, so it runs apart from the benchmark's own process.
 * Driven by SrtpReceivers (srtpLoad.ts).
 */
import type { RTCPeerConnection, RTCSessionDescription } from 'werift';
import {
  answerDtlsParameters,
  createPeerConnection,
  negotiatedSrtpProfile,
  restrictSrtpProfile,
  type SrtpProfileName,
  weriftConnected,
  withTimeout,
} from '../../test/support/weriftPeer.ts';
import { serve } from './ipc.ts';

type Entry = { pc: RTCPeerConnection; answer: RTCSessionDescription; received: number };
const entries = new Map<string, Entry>();

serve({
  /** mediasoup's offer in, werift's DTLS parameters out (for transport.connect()). */
  answer: async ({
    key,
    sdp,
    profile,
  }: {
    key: string;
    sdp: string;
    profile?: SrtpProfileName;
  }) => {
    const pc = createPeerConnection();
    const entry: Entry = { pc, answer: undefined as unknown as RTCSessionDescription, received: 0 };
    const seen = new WeakSet<object>();
    pc.onTrack.subscribe((track) => {
      if (seen.has(track)) return;
      seen.add(track);
      track.onReceiveRtp.subscribe(() => {
        entry.received++;
      });
    });
    await pc.setRemoteDescription({ type: 'offer', sdp });
    restrictSrtpProfile(pc, profile);
    entry.answer = await pc.createAnswer();
    entries.set(key, entry);
    return answerDtlsParameters(entry.answer.sdp);
  },
  /** After mediasoup knows our DTLS parameters: connect, report the SRTP profile. */
  connect: async ({ key }: { key: string }) => {
    const entry = entries.get(key);
    if (!entry) throw new Error(`no receiver ${key}`);
    const connected = weriftConnected(entry.pc);
    await entry.pc.setLocalDescription(entry.answer);
    await withTimeout(connected, 20_000, `werift receiver ${key} connect`);
    return { profile: negotiatedSrtpProfile(entry.pc) };
  },
  /** RTP packets received so far, per receiver key. */
  received: () => Object.fromEntries([...entries].map(([key, e]) => [key, e.received])),
  closeAll: async () => {
    await Promise.all([...entries.values()].map((e) => e.pc.close().catch(() => undefined)));
    entries.clear();
  },
});
