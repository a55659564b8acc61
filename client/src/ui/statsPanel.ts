import type { JoinMetrics } from '../call.ts';
import { h } from '../dom.ts';
import { type Level, levelFor, type NetworkStats } from '../stats.ts';

const LEVEL_TEXT: Record<Level, string> = {
  good: 'Good connection',
  fair: 'Fair connection',
  poor: 'Poor connection',
  unknown: 'Measuring…',
};

/** RTT, jitter, loss, bitrates and the path; raw numbers also in data-* for tests and tools. */
export class StatsPanel {
  readonly element: HTMLElement;
  readonly #summary = h('p', { class: 'quality', 'data-level': 'unknown' }, LEVEL_TEXT.unknown);
  readonly #cells = {
    rtt: h('dd', {}, '–'),
    jitter: h('dd', {}, '–'),
    loss: h('dd', {}, '–'),
    send: h('dd', {}, '–'),
    recv: h('dd', {}, '–'),
    path: h('dd', {}, '–'),
  };
  readonly #join = h('p', { class: 'hint join-metrics' });

  constructor() {
    const c = this.#cells;
    const item = (label: string, cell: HTMLElement) => h('div', {}, h('dt', {}, label), cell);
    this.element = h(
      'section',
      { class: 'panel stats', 'aria-labelledby': 'stats-title' },
      h('h2', { id: 'stats-title' }, 'Network'),
      this.#summary,
      h(
        'dl',
        {},
        item('Round trip', c.rtt),
        item('Jitter', c.jitter),
        item('Packet loss', c.loss),
        item('Sending', c.send),
        item('Receiving', c.recv),
        item('Path', c.path),
      ),
      this.#join,
    );
  }

  show(stats: NetworkStats): void {
    const data = this.element.dataset;
    setData(data, 'rttMs', stats.rttMs, 1);
    setData(data, 'jitterMs', stats.jitterMs, 1);
    setData(data, 'lossPct', stats.lossPct, 2);
    setData(data, 'sendKbps', stats.sendKbps, 1);
    setData(data, 'recvKbps', stats.recvKbps, 1);
    if (stats.path) data.path = stats.path;
    if (stats.candidateType) data.candidateType = stats.candidateType;
    data.level = stats.level;

    const c = this.#cells;
    c.rtt.textContent = format(stats.rttMs, (v) => `${Math.round(v)} ms`);
    c.rtt.dataset.level = levelFor(stats.rttMs, undefined);
    c.jitter.textContent = format(stats.jitterMs, (v) => `${Math.round(v)} ms`);
    c.loss.textContent = format(stats.lossPct, (v) => `${v < 10 ? v.toFixed(1) : Math.round(v)} %`);
    c.loss.dataset.level = levelFor(undefined, stats.lossPct);
    c.send.textContent = format(stats.sendKbps, (v) => `${Math.round(v)} kbit/s`);
    c.recv.textContent = format(stats.recvKbps, (v) => `${Math.round(v)} kbit/s`);
    c.path.textContent =
      stats.path === 'relay'
        ? 'Relayed (TURN)'
        : stats.path === 'direct'
          ? `Direct (${stats.candidateType})`
          : '–';
    this.#summary.textContent = LEVEL_TEXT[stats.level];
    this.#summary.dataset.level = stats.level;
  }

  showJoin(metrics: JoinMetrics): void {
    const data = this.element.dataset;
    data.joinMs = String(metrics.ms);
    data.joinRequests = String(metrics.requests);
    data.joinRoundTrips = String(metrics.roundTrips);
    const trips = metrics.roundTrips === 1 ? 'round trip' : 'round trips';
    this.#join.textContent = `Joined in ${metrics.ms} ms (${metrics.roundTrips} signaling ${trips}).`;
  }
}

function setData(data: DOMStringMap, key: string, value: number | undefined, digits: number): void {
  if (value === undefined) delete data[key];
  else data[key] = value.toFixed(digits);
}

function format(value: number | undefined, show: (v: number) => string): string {
  return value === undefined ? '–' : show(value);
}
