/** Network quality from RTCPeerConnection stats, sampled once a second. */
export type Level = 'good' | 'fair' | 'poor' | 'unknown';

export type NetworkStats = {
  rttMs?: number;
  jitterMs?: number;
  /** Inbound packet loss over the last interval. */
  lossPct?: number;
  sendKbps?: number;
  recvKbps?: number;
  path?: 'direct' | 'relay';
  /** Local candidate type of the selected pair: host, srflx, prflx or relay. */
  candidateType?: string;
  level: Level;
};

// Thresholds people know from the old app: yellow above 100 ms or 1 %, red above 300 ms or 5 %.
export function levelFor(rttMs?: number, lossPct?: number): Level {
  if (rttMs === undefined && lossPct === undefined) return 'unknown';
  if ((rttMs ?? 0) > 300 || (lossPct ?? 0) > 5) return 'poor';
  if ((rttMs ?? 0) > 100 || (lossPct ?? 0) > 1) return 'fair';
  return 'good';
}

type Stat = Record<string, unknown> & { id: string; type: string };
type Counters = {
  at: number;
  bytesSent?: number;
  bytesReceived?: number;
  inbound: Map<string, { received: number; lost: number }>;
};

function values(report: RTCStatsReport | undefined): Stat[] {
  return report ? ([...report.values()] as Stat[]) : [];
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The pair ICE chose: the transport report says which; nominated + succeeded is the fallback. */
function selectedPair(report: RTCStatsReport | undefined): Stat | undefined {
  const all = values(report);
  const transport = all.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const byId = transport && report?.get(transport.selectedCandidatePairId as string);
  if (byId) return byId as Stat;
  return all.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
}

function transportBytes(report: RTCStatsReport | undefined, key: 'bytesSent' | 'bytesReceived') {
  const transport = values(report).find((s) => s.type === 'transport');
  return num(transport?.[key]) ?? num(selectedPair(report)?.[key]);
}

export class NetworkStatsSampler {
  #previous: Counters | undefined;

  sample(send?: RTCStatsReport, recv?: RTCStatsReport, at = performance.now()): NetworkStats {
    const pair = selectedPair(send) ?? selectedPair(recv);
    const pairReport = selectedPair(send) ? send : recv;
    const local = pair && (pairReport?.get(pair.localCandidateId as string) as Stat | undefined);
    const candidateType = local?.candidateType as string | undefined;
    const remoteInbound = values(send).find((s) => s.type === 'remote-inbound-rtp');

    const rttSeconds = num(pair?.currentRoundTripTime) ?? num(remoteInbound?.roundTripTime);
    const inbound = values(recv).filter((s) => s.type === 'inbound-rtp' && s.kind === 'audio');
    const jitters = inbound.map((s) => num(s.jitter)).filter((j) => j !== undefined);
    const jitterSeconds = jitters.length ? Math.max(...jitters) : num(remoteInbound?.jitter);

    const counters: Counters = {
      at,
      bytesSent: transportBytes(send, 'bytesSent'),
      bytesReceived: transportBytes(recv, 'bytesReceived'),
      inbound: new Map(
        inbound.map((s) => [
          s.id,
          { received: num(s.packetsReceived) ?? 0, lost: num(s.packetsLost) ?? 0 },
        ]),
      ),
    };
    const previous = this.#previous;
    this.#previous = counters;

    let lossPct: number | undefined;
    let sendKbps: number | undefined;
    let recvKbps: number | undefined;
    if (previous) {
      const seconds = (at - previous.at) / 1000;
      let received = 0;
      let lost = 0;
      // Per stream, so consumers coming and going do not look like loss.
      for (const [id, now] of counters.inbound) {
        const before = previous.inbound.get(id);
        if (!before) continue;
        received += Math.max(0, now.received - before.received);
        lost += Math.max(0, now.lost - before.lost);
      }
      if (received + lost > 0) lossPct = (100 * lost) / (received + lost);
      else if (counters.inbound.size > 0) lossPct = 0;
      const kbps = (a?: number, b?: number) =>
        a !== undefined && b !== undefined && seconds > 0
          ? Math.max(0, ((a - b) * 8) / 1000 / seconds)
          : undefined;
      sendKbps = kbps(counters.bytesSent, previous.bytesSent);
      recvKbps = kbps(counters.bytesReceived, previous.bytesReceived);
    }

    const rttMs = rttSeconds === undefined ? undefined : rttSeconds * 1000;
    return {
      rttMs,
      jitterMs: jitterSeconds === undefined ? undefined : jitterSeconds * 1000,
      lossPct,
      sendKbps,
      recvKbps,
      candidateType,
      path:
        candidateType === undefined ? undefined : candidateType === 'relay' ? 'relay' : 'direct',
      level: levelFor(rttMs, lossPct),
    };
  }
}
