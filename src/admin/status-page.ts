/**
 * GET / on the admin port: one self-contained page (inline CSS and JS, no external asset, no
 * framework, no build step) that polls /stats.json every 2 s and draws the figures, a chart of the
 * last minutes (inline SVG) and the masked configuration. Values go in through textContent only.
 * The Content-Security-Policy forbids anything but this page's own inline code and same-origin
 * fetches, so "no external assets" is enforced by the browser, not just intended.
 */
export const statusPageHeaders = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'content-security-policy':
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

const style = `
:root{color-scheme:light dark;--fg:#1d2330;--muted:#667085;--bg:#f6f7f9;--card:#fff;--line:#d0d5dd;--rate:#2e6fdb;--p50:#12a05c;--p99:#d9822b;--bad:#c4320a}
@media (prefers-color-scheme:dark){:root{--fg:#e4e7ec;--muted:#98a2b3;--bg:#111418;--card:#1b1f24;--line:#344054}}
*{box-sizing:border-box}body{margin:0;padding:16px 20px;font:14px/1.4 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:baseline;margin-bottom:12px}h1{font-size:20px;margin:0}
.muted{color:var(--muted)}.badge{padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:var(--p50)}.badge.bad{background:var(--bad)}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(118px,1fr));gap:10px;margin-bottom:12px}
.tile,.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.tile b{display:block;font-size:20px;white-space:nowrap;font-variant-numeric:tabular-nums}.tile span{color:var(--muted);font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:10px;margin-bottom:12px;align-items:start}
h2{font-size:13px;margin:0 0 6px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.04em}
svg{width:100%;height:120px;display:block}svg.empty{height:28px}svg text{font-size:10px;fill:var(--muted)}
table{border-collapse:collapse;width:100%}td{padding:2px 8px 2px 0;border-bottom:1px solid var(--line);vertical-align:top}td:last-child{text-align:right;font-variant-numeric:tabular-nums}
#config{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));column-gap:24px}
#config tr{display:flex;flex-wrap:wrap;align-content:flex-start;column-gap:12px;border-bottom:1px solid var(--line)}#config td{border:0}
#config td:first-child{white-space:nowrap}
#config td:last-child{margin-left:auto;min-width:0;text-align:right;font-family:ui-monospace,monospace;overflow-wrap:anywhere}
.card.wide{grid-column:1/-1}
.key span{display:inline-block;width:10px;height:3px;margin:0 4px 3px 10px;vertical-align:middle}
`;

const script = `
const $ = (id) => document.getElementById(id);
const fixed = (n, d) => (n === null || n === undefined ? '–' : n.toFixed(d));
const ms = (s) => (s === null || s === undefined ? '–' : (s * 1000).toFixed(s < 0.01 ? 2 : 1) + ' ms');
const percent = (r) => (r * 100).toFixed(r > 0 && r < 0.01 ? 2 : 1) + ' %';
function duration(seconds) {
  const s = Math.floor(seconds), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + (s % 60) + 's';
}
function rows(table, entries, empty) {
  const body = $(table);
  body.replaceChildren();
  for (const [name, value] of entries.length === 0 ? [[empty, '']] : entries) {
    const tr = body.insertRow();
    tr.dataset.name = name;
    tr.insertCell().textContent = name;
    const cell = tr.insertCell();
    for (const [i, part] of breakable(String(value)).entries()) {
      if (i > 0) cell.append(document.createElement('wbr'));
      cell.append(part);
    }
  }
}
// A configuration value too long for the rest of its row takes a line of its own (flex-wrap);
// there a list may break after its commas, else a URL or path after its slashes (<wbr>), and a
// word is cut only when nothing else fits (overflow-wrap).
const breakable = (text) => text.split(text.includes(',') ? /(?<=,)/ : /(?<=\\/)/);
const svgNs = 'http://www.w3.org/2000/svg';
/** The top of a chart's scale: the first of 1, 2, 5 times a power of ten at or above the highest value. */
function roundUp(v) {
  if (!(v > 0)) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(v)));
  return [1, 2, 5, 10].map((m) => m * power).find((n) => n >= v * (1 - 1e-9));
}
const short = (n) => String(Number(n.toPrecision(3)));
// Before the first point (a point every 5 s) a line of text, not an empty frame; from the first
// point on, the figures with a scale: 0, half and a round maximum, the maximum with its unit.
function chart(id, history, series, unit) {
  const svg = $(id), w = 600, left = 52, top = 8, bottom = 16, empty = history.length === 0, h = empty ? 28 : 120;
  svg.replaceChildren();
  svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
  svg.classList.toggle('empty', empty);
  svg.dataset.points = String(history.length);
  const add = (name, attrs, text) => {
    const el = document.createElementNS(svgNs, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    svg.append(el);
    return el;
  };
  if (empty) return void add('text', { x: 2, y: 18 }, 'the first point comes within 5 s (one every 5 s, the last 10 min kept)');
  const values = history.flatMap((p) => series.map((s) => unit.scale * (p[s.key] ?? 0)));
  const max = roundUp(Math.max(...values));
  const x = (i) => (history.length < 2 ? w - 4 : left + (i / (history.length - 1)) * (w - left));
  const y = (v) => top + (1 - v / max) * (h - top - bottom);
  for (const [v, label] of [[max, short(max) + ' ' + unit.name], [max / 2, short(max / 2)], [0, '0']]) {
    add('line', { x1: left, x2: w, y1: y(v), y2: y(v), stroke: 'var(--line)', 'stroke-dasharray': v ? '2 3' : '' });
    add('text', { x: left - 4, y: y(v) + 3, 'text-anchor': 'end', class: 'tick' }, label);
  }
  const span = Math.round((history[history.length - 1].time - history[0].time) / 1000);
  const since = span < 120 ? span + ' s' : Math.round(span / 60) + ' min';
  add('text', { x: left, y: h - 3 }, history.length < 2 ? 'first point' : '−' + since);
  add('text', { x: w, y: h - 3, 'text-anchor': 'end' }, 'now');
  for (const s of series) {
    const at = (p, i) => [x(i), y(unit.scale * (p[s.key] ?? 0))];
    if (history.length === 1) {
      const [cx, cy] = at(history[0], 0);
      add('circle', { cx, cy, r: 3, fill: s.color, 'data-series': s.key });
      continue;
    }
    const points = history.map((p, i) => at(p, i).map((n) => n.toFixed(1)).join(',')).join(' ');
    add('polyline', { points, fill: 'none', stroke: s.color, 'stroke-width': 1.5, 'data-series': s.key });
  }
}
function render(stats) {
  $('version').textContent = stats.version;
  $('runtime').textContent = stats.runtime;
  $('uptime').textContent = duration(stats.uptimeSeconds);
  $('ready').textContent = stats.ready ? 'ready' : 'not ready';
  $('ready').className = stats.ready ? 'badge' : 'badge bad';
  $('window').textContent = Math.round(stats.current.windowSeconds) + ' s';
  $('requests-per-second').textContent = fixed(stats.current.requestsPerSecond, 2);
  $('error-ratio').textContent = percent(stats.current.errorRatio);
  $('p50').textContent = ms(stats.current.p50Seconds);
  $('p99').textContent = ms(stats.current.p99Seconds);
  $('active-requests').textContent = String(stats.activeRequests);
  $('tunnels-active').textContent = String(stats.tunnelsActive);
  $('total-requests').textContent = String(stats.totals.requests);
  $('log-lines-dropped').textContent = String(stats.totals.logLinesDropped);
  rows('status-classes', Object.entries(stats.totals.byStatusClass).sort(), 'no requests yet');
  rows('upstream-errors', Object.entries(stats.totals.upstreamErrors).sort(), 'none');
  rows('config', Object.entries(stats.config).map(([name, value]) => [name, value === '' ? '–' : value]), 'none');
  $('auth-card').hidden = !stats.auth;
  if (stats.auth) {
    $('auth-ready').textContent = stats.auth.ready ? '' : 'waiting for the JWT issuer keys: bearer tokens get 503';
    rows('auth-outcomes', Object.entries(stats.auth.outcomes).sort(), 'none yet');
  }
  const r = stats.totals.refusals;
  $('refusals').textContent = (r.forbidden + r.rate_limited + r.body_too_large + r.unauthenticated) + ' (forbidden ' + r.forbidden +
    ', rate limited ' + r.rate_limited + ', too large ' + r.body_too_large + ', unauthenticated ' + r.unauthenticated + ')';
  chart('rate-chart', stats.history, [{ key: 'requestsPerSecond', color: 'var(--rate)' }], { name: 'req/s', scale: 1 });
  const latency = [{ key: 'p50Seconds', color: 'var(--p50)' }, { key: 'p99Seconds', color: 'var(--p99)' }];
  chart('latency-chart', stats.history, latency, { name: 'ms', scale: 1000 });
  $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  document.body.dataset.loaded = 'true';
}
async function refresh() {
  try {
    const response = await fetch('stats.json', { cache: 'no-store' });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    render(await response.json());
  } catch (error) {
    $('updated').textContent = 'cannot reach the sidecar (' + error.message + ')';
  }
}
refresh();
setInterval(refresh, 2000);
`;

const tile = (id: string, label: string) => `<div class="tile"><b id="${id}">–</b><span>${label}</span></div>`;

export const statusPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sidecar status</title>
<style>${style}</style>
</head>
<body>
<header>
<h1>sidecar</h1><span id="ready" class="badge">…</span>
<span class="muted">version <b id="version">–</b></span>
<span class="muted">runtime <b id="runtime">–</b></span>
<span class="muted">up <b id="uptime">–</b></span>
<span class="muted" id="updated"></span>
</header>
<div class="tiles">
${tile('requests-per-second', 'requests / s')}
${tile('error-ratio', 'errors (5xx)')}
${tile('p50', 'latency p50')}
${tile('p99', 'latency p99')}
${tile('active-requests', 'active requests')}
${tile('tunnels-active', 'active tunnels')}
${tile('total-requests', 'requests since start')}
${tile('log-lines-dropped', 'log lines dropped')}
</div>
<p class="muted">Rates, error ratio and latency over the last <span id="window">–</span>; the same registry as <a href="metrics">/metrics</a>.</p>
<p class="muted">refused at the door: <span id="refusals">–</span></p>
<div class="grid">
<div class="card"><h2>Request rate</h2><svg id="rate-chart" role="img" aria-label="request rate"></svg>
<div class="key muted"><span style="background:var(--rate)"></span>requests / s</div></div>
<div class="card"><h2>Latency</h2><svg id="latency-chart" role="img" aria-label="latency"></svg>
<div class="key muted"><span style="background:var(--p50)"></span>p50<span style="background:var(--p99)"></span>p99</div></div>
</div>
<div class="grid">
<div class="card"><h2>Responses since start</h2><table><tbody id="status-classes"></tbody></table></div>
<div class="card"><h2>Upstream errors since start</h2><table><tbody id="upstream-errors"></tbody></table></div>
<div class="card" id="auth-card" hidden><h2>Access control since start</h2><p class="muted" id="auth-ready"></p><table><tbody id="auth-outcomes"></tbody></table></div>
<div class="card wide"><h2>Configuration</h2><table><tbody id="config"></tbody></table></div>
</div>
<script>${script}</script>
</body>
</html>
`;
