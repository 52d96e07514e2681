/**
 * The status page for people: one self-contained HTML document (inline CSS, inline script,
 * SVG drawn by the script; nothing fetched from anywhere but this server, so it works without
 * internet). It reads /events (server-sent events: the history once, then /status every
 * second and on every change of the root's state) and redraws:
 *
 * - a health badge with the reasons when not ready, and the last error;
 * - the key numbers: snapshot in memory and persisted, committed offset, last offset seen,
 *   lag, installs per second, backpressure, suffix size;
 * - the statemap queue as a bar of awaiting / in-flight / installed items;
 * - snapshot, lag and installs per second over the last minutes as small charts;
 * - every statechart with its states, the active ones highlighted.
 *
 * Kept as a TypeScript string so that `tsc` ships it in dist/ with the rest.
 */
import { STATECHARTS } from './statecharts.js';

const PAGE = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Talos cohort replicator</title>
<style>
  :root { --bg: #f6f7f9; --card: #fff; --ink: #1d232b; --muted: #6a7380; --line: #dde1e6;
          --ok: #1f9d55; --warn: #d98e04; --bad: #d64545; --idle: #8a94a3;
          --awaiting: #f0b429; --safepoint: #f7d070; --backoff: #e12d39; --installing: #2680c2; --backlog: #84c5f4; --installed: #3ebd93; --failed: #8d1c1c; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; background: var(--bg); color: var(--ink); }
  header { display: flex; align-items: center; gap: 12px; padding: 12px 20px; background: var(--ink); color: #fff; }
  header h1 { font-size: 17px; margin: 0; font-weight: 600; }
  header .spacer { flex: 1; }
  #conn { font-size: 12px; color: #c5ccd6; }
  .badge { padding: 3px 10px; border-radius: 12px; font-weight: 700; font-size: 12px; letter-spacing: .04em; background: var(--idle); color: #fff; }
  .badge.ready { background: var(--ok); } .badge.notready { background: var(--warn); } .badge.failed { background: var(--bad); } .badge.stopped { background: var(--idle); }
  main { padding: 16px 20px; display: grid; gap: 16px; max-width: 1280px; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
  .card h2 { font-size: 13px; margin: 0 0 8px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; font-weight: 600; }
  #reasons { color: #7a4d00; background: #fff6e0; border-color: #f3d48b; }
  #reasons:empty, #error[hidden], #reasons[hidden] { display: none; }
  #error { color: #7c1d1d; background: #fdecec; border-color: #f0b4b4; white-space: pre-wrap; word-break: break-word; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(135px, 1fr)); gap: 10px; }
  .tile { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
  .tile .label { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
  .tile .value { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; margin-top: 2px; }
  .tile .sub { font-size: 11px; color: var(--muted); }
  .value.critical { color: var(--bad); } .value.slowing { color: var(--warn); }
  .legend { display: flex; flex-wrap: wrap; gap: 14px; margin-top: 8px; font-size: 12px; }
  .legend span.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
  .legend b { font-variant-numeric: tabular-nums; }
  .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
  .chart .title { font-size: 12px; color: var(--muted); display: flex; justify-content: space-between; }
  .chart svg { width: 100%; height: 90px; display: block; }
  .machines { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }
  .machine h3 { font-size: 13px; margin: 0 0 6px; display: flex; justify-content: space-between; gap: 6px; }
  .machine h3 small { color: var(--muted); font-weight: 400; }
  .state { font-size: 12px; padding: 2px 6px; margin: 2px 0; border-radius: 4px; border: 1px solid var(--line); color: var(--muted); font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
  .state.parallel { border-style: dashed; }
  .state.final { border-width: 3px; border-style: double; }
  .state.active { background: #e3f0fc; border-color: var(--installing); color: var(--ink); font-weight: 650; }
  .state.active.final { background: #e6f6ef; border-color: var(--ok); }
  .state.active.failedstate { background: #fdecec; border-color: var(--bad); color: #7c1d1d; }
  .status-done { color: var(--ok); } .status-error, .status-stopped { color: var(--bad); }
  footer { padding: 0 20px 20px; font-size: 12px; color: var(--muted); }
  footer a { color: var(--muted); }
</style>
</head>
<body>
<header>
  <h1>Talos cohort replicator</h1>
  <span id="health" class="badge" data-testid="health">…</span>
  <span id="root-state" data-testid="root-state"></span>
  <span class="spacer"></span>
  <span id="conn" data-testid="connection">connecting…</span>
</header>
<main>
  <div id="reasons" class="card" data-testid="reasons" hidden></div>
  <div id="error" class="card" data-testid="last-error" hidden></div>
  <section class="tiles">
    <div class="tile"><div class="label">Snapshot (in memory)</div><div class="value" id="snapshot" data-testid="snapshot">–</div><div class="sub">everything at or below is installed</div></div>
    <div class="tile"><div class="label">Persisted snapshot</div><div class="value" id="persisted" data-testid="persisted">–</div><div class="sub">written by updateSnapshot</div></div>
    <div class="tile"><div class="label">Committed offset</div><div class="value" id="committed">–</div></div>
    <div class="tile"><div class="label">Last offset seen</div><div class="value" id="last-offset">–</div><div class="sub" id="unread" data-testid="unread"></div></div>
    <div class="tile"><div class="label">Lag</div><div class="value" id="lag" data-testid="lag">–</div><div class="sub">offsets read, not yet in the snapshot</div></div>
    <div class="tile"><div class="label">Installs / s</div><div class="value" id="rate" data-testid="rate">–</div><div class="sub" id="installed-total"></div></div>
    <div class="tile"><div class="label">Backpressure</div><div class="value" id="backpressure" data-testid="backpressure">–</div><div class="sub" id="paused"></div></div>
    <div class="tile"><div class="label">Suffix</div><div class="value" id="suffix">–</div><div class="sub">candidates held</div></div>
  </section>
  <section class="card">
    <h2>Statemap queue</h2>
    <svg id="queue-bar" data-testid="queue-bar" viewBox="0 0 1000 34" preserveAspectRatio="none" width="100%" height="34"></svg>
    <div class="legend" id="queue-legend"></div>
  </section>
  <section class="card">
    <h2>Over the last minutes</h2>
    <div class="charts">
      <div class="chart"><div class="title"><span>Snapshot</span><span id="chart-snapshot-last"></span></div><svg id="chart-snapshot" data-testid="chart-snapshot" viewBox="0 0 300 90" preserveAspectRatio="none"></svg></div>
      <div class="chart"><div class="title"><span>Lag (offsets)</span><span id="chart-lag-last"></span></div><svg id="chart-lag" viewBox="0 0 300 90" preserveAspectRatio="none"></svg></div>
      <div class="chart"><div class="title"><span>Installs per second</span><span id="chart-rate-last"></span></div><svg id="chart-rate" viewBox="0 0 300 90" preserveAspectRatio="none"></svg></div>
    </div>
  </section>
  <section class="card">
    <h2>Statecharts</h2>
    <div class="machines" id="machines"></div>
  </section>
</main>
<footer>Updated <span id="updated">never</span> · <a href="/status">/status</a> · <a href="/health">/health</a> · <a href="/metrics">/metrics</a></footer>
<script>
"use strict";
const STATECHARTS = __STATECHARTS__;
const HISTORY_LIMIT = __HISTORY_LIMIT__;
const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US', { maximumFractionDigits: 1 }));
let history = [];

function svg(tag, attrs, text) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const k in attrs) el.setAttribute(k, attrs[k]);
  if (text !== undefined) el.textContent = text;
  return el;
}

// The statecharts: drawn once, then only the "active" classes change.
const stateEls = {};
for (const chart of STATECHARTS) {
  const card = document.createElement('div');
  card.className = 'card machine';
  card.dataset.actor = chart.actor;
  const h = document.createElement('h3');
  const name = document.createElement('span');
  name.textContent = chart.actor === 'root' ? chart.machine : chart.actor + ' · ' + chart.machine;
  const status = document.createElement('small');
  status.id = 'status-' + chart.actor;
  h.append(name, status);
  card.append(h);
  stateEls[chart.actor] = {};
  for (const node of chart.nodes) {
    const el = document.createElement('div');
    el.className = 'state ' + node.kind + (node.key === 'failed' ? ' failedstate' : '');
    el.style.marginLeft = node.depth * 14 + 'px';
    el.textContent = node.key;
    el.dataset.path = node.path;
    card.append(el);
    stateEls[chart.actor][node.path] = el;
  }
  $('machines').append(card);
}

function drawMachines(machines) {
  for (const chart of STATECHARTS) {
    const m = machines[chart.actor] || { status: 'unknown', state: [] };
    const active = new Set();
    for (const leaf of m.state || []) {
      const parts = leaf.split('.');
      for (let i = 1; i <= parts.length; i++) active.add(parts.slice(0, i).join('.'));
    }
    for (const path in stateEls[chart.actor]) stateEls[chart.actor][path].classList.toggle('active', active.has(path));
    const status = $('status-' + chart.actor);
    status.textContent = m.status;
    status.className = 'status-' + m.status;
  }
}

const QUEUE_PARTS = [
  ['waiting for safepoint', 'safepoint', (q) => q.waitingForSafepoint],
  ['ready', 'awaiting', (q) => q.awaiting - q.waitingForSafepoint - q.backingOff],
  ['backing off', 'backoff', (q) => q.backingOff],
  ['installer backlog', 'backlog', (q) => q.installerBacklog],
  ['installing', 'installing', (q) => q.installing],
  ['installed', 'installed', (q) => q.installed],
  ['failed', 'failed', (q) => q.failed],
];

function drawQueue(q) {
  const bar = $('queue-bar');
  bar.replaceChildren();
  const legend = $('queue-legend');
  legend.replaceChildren();
  if (!q) {
    bar.append(svg('text', { x: 4, y: 22, 'font-size': 13, fill: '#6a7380' }, 'not loaded yet'));
    return;
  }
  const parts = QUEUE_PARTS.map(([label, color, get]) => [label, color, Math.max(0, get(q))]);
  const total = parts.reduce((s, p) => s + p[2], 0);
  bar.append(svg('rect', { x: 0, y: 0, width: 1000, height: 34, fill: '#eef0f3' }));
  let x = 0;
  for (const [label, color, n] of parts) {
    if (n > 0 && total > 0) {
      const w = Math.max(4, (n / total) * 1000);
      const r = svg('rect', { x, y: 0, width: w, height: 34, fill: 'var(--' + color + ')' });
      r.append(svg('title', {}, label + ': ' + n));
      bar.append(r);
      x += w;
    }
  }
  if (total === 0) bar.append(svg('text', { x: 8, y: 22, 'font-size': 13, fill: '#6a7380' }, 'empty: everything received is installed'));
  const groups = [
    ['awaiting', 'awaiting', q.awaiting, 'queue-awaiting'],
    ['in flight', 'installing', q.inflight, 'queue-inflight'],
    ['installed (not yet in snapshot)', 'installed', q.installed, 'queue-installed'],
  ];
  for (const [label, color, n, id] of groups) {
    const item = document.createElement('span');
    item.innerHTML = '<span class="sw"></span>';
    item.firstChild.style.background = 'var(--' + color + ')';
    item.append(label + ' ');
    const b = document.createElement('b');
    b.dataset.testid = id;
    b.textContent = fmt(n);
    item.append(b);
    legend.append(item);
  }
  const detail = document.createElement('span');
  detail.style.color = 'var(--muted)';
  detail.textContent = 'items ' + fmt(q.size) + ' · waiting for safepoint ' + fmt(q.waitingForSafepoint) + ' · backing off ' + fmt(q.backingOff) +
    ' · installer backlog ' + fmt(q.installerBacklog) + ' · installing ' + fmt(q.installing) + (q.failed ? ' · FAILED ' + q.failed : '');
  legend.append(detail);
}

function drawChart(id, key, color) {
  const el = $(id);
  el.replaceChildren();
  const points = history.filter((s) => s[key] !== null && s[key] !== undefined);
  const last = points.length ? points[points.length - 1][key] : null;
  $(id + '-last').textContent = last === null ? '' : fmt(last);
  if (points.length < 2) {
    el.append(svg('text', { x: 4, y: 50, 'font-size': 11, fill: '#6a7380' }, 'collecting…'));
    return;
  }
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  let lo = Infinity, hi = -Infinity;
  for (const p of points) { lo = Math.min(lo, p[key]); hi = Math.max(hi, p[key]); }
  if (hi === lo) { hi += 1; lo = Math.max(0, lo - 1); }
  const X = (t) => ((t - t0) / Math.max(1, t1 - t0)) * 296 + 2;
  const Y = (v) => 84 - ((v - lo) / (hi - lo)) * 74;
  const line = points.map((p) => X(p.t).toFixed(1) + ',' + Y(p[key]).toFixed(1)).join(' ');
  el.append(svg('polygon', { points: '2,84 ' + line + ' ' + X(t1).toFixed(1) + ',84', fill: color, opacity: 0.12 }));
  el.append(svg('polyline', { points: line, fill: 'none', stroke: color, 'stroke-width': 1.6, 'vector-effect': 'non-scaling-stroke' }));
  el.append(svg('text', { x: 4, y: 10, 'font-size': 9, fill: '#6a7380' }, fmt(hi)));
  el.append(svg('text', { x: 4, y: 88, 'font-size': 9, fill: '#6a7380' }, fmt(lo) + ' · ' + Math.round((t1 - t0) / 1000) + ' s'));
}

function drawCharts() {
  drawChart('chart-snapshot', 'snapshot', '#2680c2');
  drawChart('chart-lag', 'lag', '#d98e04');
  drawChart('chart-rate', 'installsPerSecond', '#1f9d55');
}

function draw(s) {
  const h = $('health');
  const failed = !s.health.live;
  const stopped = s.state === 'stopped';
  h.textContent = failed ? 'FAILED' : s.health.ready ? 'READY' : stopped ? 'STOPPED' : 'NOT READY';
  h.className = 'badge ' + (failed ? 'failed' : s.health.ready ? 'ready' : stopped ? 'stopped' : 'notready');
  // Reading Kafka in a consumer group: whether this process owns the topic, and in which turn.
  $('root-state').textContent = s.failover
    ? s.state + ' · ' + (s.failover.owned ? 'owns the topic (turn ' + s.failover.turns + ')' : 'standby: another member owns the topic') + ' · failover ' + s.failover.state
    : s.state;
  const reasons = $('reasons');
  reasons.textContent = s.health.reasons.length ? 'Not ready: ' + s.health.reasons.join('; ') : '';
  reasons.hidden = s.health.reasons.length === 0;
  const error = $('error');
  error.hidden = !s.lastError;
  error.textContent = s.lastError ? (s.lastError.level === 'error' ? 'Error' : 'Last warning') + ' at ' + s.lastError.at + ': ' + s.lastError.message : '';
  $('snapshot').textContent = fmt(s.snapshot.inMemory);
  $('persisted').textContent = fmt(s.snapshot.persisted);
  $('committed').textContent = fmt(s.committedOffset);
  $('last-offset').textContent = fmt(s.lastOffsetSeen);
  $('lag').textContent = fmt(s.lag);
  $('unread').textContent = s.unread === null ? '' : fmt(s.unread) + ' unread; the log ends at ' + fmt(s.endOffset);
  $('rate').textContent = fmt(s.installs.perSecond);
  $('installed-total').textContent = s.installs.total === null ? '' : fmt(s.installs.total) + ' installed' + (s.installs.failedAttempts ? ', ' + fmt(s.installs.failedAttempts) + ' failed attempts' : '');
  const bp = $('backpressure');
  bp.textContent = s.backpressure.level;
  bp.className = 'value ' + s.backpressure.level;
  $('paused').textContent = s.backpressure.sourcePaused ? 'source paused: suffix full' : 'source reading';
  $('suffix').textContent = s.suffix ? fmt(s.suffix.size) : '–';
  drawQueue(s.queue);
  drawMachines(s.machines);
  $('updated').textContent = new Date(s.time).toLocaleTimeString();
}

function connect() {
  const events = new EventSource('/events');
  events.addEventListener('open', () => { $('conn').textContent = 'live'; });
  events.addEventListener('error', () => { $('conn').textContent = 'disconnected, retrying…'; });
  events.addEventListener('history', (e) => { history = JSON.parse(e.data); drawCharts(); });
  events.addEventListener('sample', (e) => {
    history.push(JSON.parse(e.data));
    if (history.length > HISTORY_LIMIT) history.splice(0, history.length - HISTORY_LIMIT);
    drawCharts();
  });
  events.addEventListener('status', (e) => draw(JSON.parse(e.data)));
}
drawCharts();
connect();
</script>
</body>
</html>
`;

/** The page, with the statecharts' shapes and the history length filled in. */
export function renderStatusPage(historyLimit: number): string {
  // `<` escaped so that no state name could ever close the script element.
  const shapes = JSON.stringify(STATECHARTS).replace(/</g, '\\u003c');
  return PAGE.replace('__STATECHARTS__', shapes).replace('__HISTORY_LIMIT__', String(historyLimit));
}
