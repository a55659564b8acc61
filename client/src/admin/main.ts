import { io, type Socket } from 'socket.io-client';
import type {
  AdminAck,
  AdminClientToServerEvents,
  AdminServerToClientEvents,
  ClusterStatus,
  NodeSnapshot,
  PeerSnapshot,
  PipeCounts,
  RoomSnapshot,
  StatsSample,
} from '../../../src/protocol/adminProtocol.ts';
import './admin.css';
import { drawLineChart } from './chart.ts';

type AdminSocket = Socket<AdminServerToClientEvents, AdminClientToServerEvents>;

const SPAN_MS = 10 * 60_000;
const LOG_LINES = 300;

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} missing`);
  return element as T;
}

/** Builds an element; text goes through textContent only (nicknames are untrusted). */
function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  className?: string,
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (text !== undefined) element.textContent = text;
  if (className) element.className = className;
  return element;
}

function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return `${(value / 1024 / 1024).toFixed(1)} MiB`;
}

function since(at: number): string {
  const seconds = Math.max(0, Math.round((Date.now() - at) / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

// The server answered `/admin?key=…` with a session cookie (HttpOnly): the key has done
// its job, so it leaves the address bar and the history entry (and bookmarks, screen
// shares, shoulder-surfers). The console and a reload go by the cookie.
if (new URLSearchParams(location.search).has('key')) {
  history.replaceState(null, '', `${location.pathname}${location.hash}`);
}
const statusEl = byId<HTMLSpanElement>('status');
const summaryEl = byId<HTMLDListElement>('summary');
const roomsEl = byId<HTMLDivElement>('rooms');
const roomCountEl = byId<HTMLSpanElement>('room-count');
const roomErrorEl = byId<HTMLParagraphElement>('room-error');
const clusterCard = byId<HTMLElement>('cluster-card');
const nodeCountEl = byId<HTMLSpanElement>('node-count');
const clusterProblemEl = byId<HTMLParagraphElement>('cluster-problem');
const nodeErrorEl = byId<HTMLParagraphElement>('node-error');
const nodesEl = byId<HTMLDivElement>('nodes');
const bansEl = byId<HTMLUListElement>('bans');
const logEl = byId<HTMLPreElement>('log');
const banForm = byId<HTMLFormElement>('ban-form');
const banInput = byId<HTMLInputElement>('ban-input');
const banError = byId<HTMLParagraphElement>('ban-error');
const cpuCanvas = byId<HTMLCanvasElement>('chart-cpu');
const peersCanvas = byId<HTMLCanvasElement>('chart-peers');

let stats: StatsSample[] = [];
let rooms: RoomSnapshot[] = [];
let cluster: ClusterStatus | undefined;
let startedAt = Date.now();

// Same origin: the WebSocket handshake carries the session cookie.
const socket: AdminSocket = io('/admin', { transports: ['websocket'] });

function setStatus(text: string, ok: boolean): void {
  statusEl.textContent = text;
  statusEl.className = `status ${ok ? 'ok' : 'bad'}`;
}

socket.on('connect', () => setStatus('live', true));
socket.on('disconnect', (reason) =>
  setStatus(
    reason === 'io server disconnect' ? 'disconnected by the server' : 'disconnected, retrying…',
    false,
  ),
);
socket.on('connect_error', (error) => {
  // A refused session will not get better by retrying (a restart forgets sessions).
  if (error.message === 'unauthorized') {
    setStatus('session expired: open /admin?key=… again', false);
    socket.disconnect();
    return;
  }
  setStatus(`not connected: ${error.message}`, false);
});

function renderSummary(): void {
  const latest = stats.at(-1);
  const peers = rooms.reduce((n, r) => n + r.peers.length, 0);
  const items: [string, string][] = [
    ['Uptime', since(startedAt)],
    ['Rooms', String(rooms.length)],
    ['People', String(peers)],
    ['Worker', latest ? (latest.workerAlive ? 'alive' : 'DOWN') : '–'],
    ['Worker CPU', latest?.workerCpuPercent != null ? `${latest.workerCpuPercent}%` : '–'],
    ['Worker memory (peak)', bytes(latest?.workerMaxRssBytes)],
    ['Node CPU', latest ? `${latest.processCpuPercent}%` : '–'],
    ['Node memory', bytes(latest?.processRssBytes)],
  ];
  // Rooms and people are the cluster's; the rest is the node this console is connected to.
  if (cluster?.clustered) items.unshift(['Connected to node', cluster.node]);
  summaryEl.replaceChildren(
    ...items.map(([term, value]) => {
      const pair = el('div');
      pair.append(el('dt', term), el('dd', value));
      return pair;
    }),
  );
}

function renderCharts(): void {
  drawLineChart(
    cpuCanvas,
    stats.map((s) => ({ at: s.at, value: s.workerCpuPercent })),
    { spanMs: SPAN_MS, floor: 10, color: '#4f7cff', unit: '%' },
  );
  drawLineChart(
    peersCanvas,
    stats.map((s) => ({ at: s.at, value: s.peers })),
    { spanMs: SPAN_MS, floor: 5, color: '#2e9d5b', unit: '' },
  );
}

function action(label: string, run: () => Promise<void>): HTMLButtonElement {
  const button = el('button', label);
  button.type = 'button';
  button.addEventListener('click', () => {
    button.disabled = true;
    run().finally(() => {
      button.disabled = false;
    });
  });
  return button;
}

/** Shows a refused action's reason (cluster unreachable, unknown node...) under `target`. */
function showError(target: HTMLElement, response: AdminAck<unknown> | undefined): void {
  if (response?.ok) {
    target.hidden = true;
    return;
  }
  target.textContent = response ? response.error : 'no answer from the server';
  target.hidden = false;
}

/** Emits with a timeout; a timeout is an answer too (undefined). */
async function ask<E extends 'kick' | 'drain' | 'unban'>(
  event: E,
  request: Parameters<AdminClientToServerEvents[E]>[0],
): Promise<AdminAck<unknown> | undefined> {
  const emit = socket.timeout(5000).emitWithAck as unknown as (
    event: E,
    request: Parameters<AdminClientToServerEvents[E]>[0],
  ) => Promise<AdminAck<unknown>>;
  return emit.call(socket, event, request).catch(() => undefined);
}

function peerRow(peer: PeerSnapshot, clustered: boolean): HTMLTableRowElement {
  const row = el('tr');
  const connection = [peer.connection.iceState, peer.connection.protocol]
    .filter(Boolean)
    .join(' / ');
  const cells = [
    el('td', peer.nickname, peer.speaking ? 'speaking' : undefined),
    el('td', peer.ip),
    // The node this person's media goes to: in a room spanning nodes, not all the same.
    ...(clustered ? [el('td', peer.node)] : []),
    el('td', since(peer.joinedAt)),
    el('td', peer.muted ? 'muted' : peer.producing ? 'talking' : 'no mic'),
    el('td', connection),
    el('td', peer.lossPercent === null ? '–' : `${peer.lossPercent}%`),
  ];
  const actions = el('td');
  actions.append(
    action('Kick', async () => {
      showError(roomErrorEl, await ask('kick', { peerId: peer.id }));
    }),
    ' ',
    action('Ban IP', async () => {
      if (!confirm(`Ban ${peer.ip} and disconnect everyone from it?`)) return;
      await ban(peer.ip);
    }),
  );
  row.append(...cells, actions);
  return row;
}

function renderRooms(): void {
  roomCountEl.textContent = `(${rooms.length})`;
  if (rooms.length === 0) {
    roomsEl.replaceChildren(el('p', 'No rooms open.', 'muted'));
    return;
  }
  // Which node a room and each person are on matters only when there are several.
  const clustered = cluster?.clustered === true;
  roomsEl.replaceChildren(
    ...rooms.map((room) => {
      const table = el('table');
      const caption = el(
        'caption',
        `${room.id} · ${room.peers.length}/${room.capacity} · open ${since(room.createdAt)}`,
      );
      const parts = Object.entries(room.nodes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      if (room.encrypted) caption.append(' · ', el('span', 'end-to-end encrypted', 'encrypted'));
      if (clustered && parts.length > 1) {
        const split = parts.map(([node, count]) => `${node}: ${count}`).join(', ');
        caption.append(' · ', el('span', `spans ${parts.length} nodes`, 'spans'), ` (${split})`);
      } else if (clustered) {
        caption.append(` · on ${room.node}`);
      }
      table.append(caption);
      const head = el('tr');
      const titles = ['Nickname', 'IP', ...(clustered ? ['Node'] : [])];
      for (const title of [...titles, 'In room', 'Mic', 'Connection', 'Loss', '']) {
        const th = el('th', title);
        th.scope = 'col';
        head.append(th);
      }
      table.append(el('thead'), el('tbody'));
      table.tHead?.append(head);
      table.tBodies[0]?.append(...room.peers.map((peer) => peerRow(peer, clustered)));
      return table;
    }),
  );
}

function pipes(counts: PipeCounts | null): string {
  if (!counts) return '–';
  // Transports to other nodes; producers of this node sent out, of others received.
  const transports = `${counts.transports} transport${counts.transports === 1 ? '' : 's'}`;
  return `${transports}, ${counts.consumers} out, ${counts.producers} in`;
}

function nodeRow(node: NodeSnapshot, self: string): HTMLTableRowElement {
  const row = el('tr');
  const { load } = node;
  const cells = [
    el('td', node.id === self ? `${node.id} (this one)` : node.id),
    el('td', node.mediaAddress),
    el('td', `${load.rooms}/${load.maxRooms}`),
    el('td', `${load.peers}/${load.maxPeers}`),
    el('td', String(load.consumers)),
    el('td', pipes(node.pipes)),
    el('td', load.workerCpuPercent === null ? '–' : `${load.workerCpuPercent}%`),
    el('td', node.draining ? 'draining' : 'serving'),
    el('td', `${since(node.heartbeatAt)} ago`),
  ];
  const actions = el('td');
  if (!node.draining) {
    actions.append(
      action('Drain', async () => {
        if (!confirm(`Drain ${node.id}? Its rooms move to other nodes, then it exits.`)) return;
        showError(nodeErrorEl, await ask('drain', { node: node.id }));
      }),
    );
  }
  row.append(...cells, actions);
  return row;
}

function renderCluster(): void {
  if (!cluster?.clustered) {
    clusterCard.hidden = true;
    return;
  }
  clusterCard.hidden = false;
  nodeCountEl.textContent = `(${cluster.nodes.length})`;
  clusterProblemEl.textContent = cluster.problem ?? '';
  clusterProblemEl.hidden = cluster.problem === null;
  const table = el('table');
  const head = el('tr');
  for (const title of [
    'Node',
    'Media',
    'Rooms',
    'People',
    'Consumers',
    'Pipes',
    'Worker CPU',
    'State',
    'Heartbeat',
    '',
  ]) {
    const th = el('th', title);
    th.scope = 'col';
    head.append(th);
  }
  table.append(el('thead'), el('tbody'));
  table.tHead?.append(head);
  const self = cluster.node;
  table.tBodies[0]?.append(...cluster.nodes.map((node) => nodeRow(node, self)));
  nodesEl.replaceChildren(table);
}

function renderBans(bans: string[]): void {
  if (bans.length === 0) {
    bansEl.replaceChildren(el('li', 'Nobody is banned.', 'muted'));
    return;
  }
  bansEl.replaceChildren(
    ...bans.map((ban) => {
      const item = el('li');
      item.append(
        el('span', ban),
        action('Unban', async () => {
          showError(banError, await ask('unban', { ip: ban }));
        }),
      );
      return item;
    }),
  );
}

function appendLog(line: string): void {
  let text = line;
  let level = 'info';
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    const { timestamp, level: lvl, message, ...rest } = entry;
    level = String(lvl);
    const time = String(timestamp ?? '').slice(11, 19);
    const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    text = `${time} ${level.padEnd(5)} ${String(message)}${extra}`;
  } catch {
    // Not JSON: show as is.
  }
  const stick = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 4;
  logEl.append(el('div', text, level));
  while (logEl.childElementCount > LOG_LINES) logEl.firstElementChild?.remove();
  if (stick) logEl.scrollTop = logEl.scrollHeight;
}

socket.on('hello', (hello) => {
  startedAt = hello.startedAt;
  rooms = hello.rooms;
  cluster = hello.cluster;
  stats = hello.stats;
  logEl.replaceChildren();
  for (const line of hello.logs) appendLog(line);
  renderBans(hello.bans);
  renderCluster();
  renderRooms();
  renderSummary();
  renderCharts();
});
socket.on('rooms', (next) => {
  rooms = next;
  renderRooms();
  renderSummary();
});
socket.on('cluster', (next) => {
  cluster = next;
  renderCluster();
});
socket.on('stats', (sample) => {
  stats.push(sample);
  const cutoff = Date.now() - SPAN_MS;
  stats = stats.filter((s) => s.at >= cutoff);
  renderSummary();
  renderCharts();
});
socket.on('bans', renderBans);
socket.on('log', appendLog);

/** Bans through the server, which stores the canonical spelling; errors show under the form. */
async function ban(ip: string): Promise<boolean> {
  banError.hidden = true;
  try {
    const response = await socket.timeout(5000).emitWithAck('ban', { ip });
    if (response.ok) return true;
    banError.textContent = response.error;
  } catch {
    banError.textContent = 'no answer from the server';
  }
  banError.hidden = false;
  return false;
}

banForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const ip = banInput.value.trim();
  if (ip && (await ban(ip))) banInput.value = '';
});

// "In room" and uptime tick even when nothing else changes.
setInterval(() => {
  renderSummary();
  if (rooms.length) renderRooms();
  // Heartbeat ages too: a node (or Redis) that went quiet shows as growing older.
  if (cluster?.clustered) renderCluster();
}, 5000);
