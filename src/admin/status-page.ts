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
svg{width:100%;height:120px;display:block}svg text{font-size:10px;fill:var(--muted)}
table{border-collapse:collapse;width:100%}td{padding:2px 8px 2px 0;border-bottom:1px solid var(--line);vertical-align:top}td:last-child{text-align:right;font-variant-numeric:tabular-nums}
#config td:last-child{text-align:left;font-family:ui-monospace,monospace;word-break:break-all}
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
  if (entries.length === 0) entries = [[empty, '']];
  for (const [name, value] of entries) {
    const tr = body.insertRow();
    tr.dataset.name = name;
    tr.insertCell().textContent = name;
    tr.insertCell().textContent = String(value);
  }
}
const svgNs = 'http://www.w3.org/2000/svg';
function chart(id, history, series, format) {
  const svg = $(id), w = 600, h = 120, top = 12, bottom = 16;
  svg.replaceChildren();
  svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
  const values = history.flatMap((p) => series.map((s) => p[s.key] ?? 0));
  const max = Math.max(...values, 1e-9);
  const x = (i) => (history.length < 2 ? w : (i / (history.length - 1)) * w);
  const y = (v) => top + (1 - v / max) * (h - top - bottom);
  const add = (name, attrs, text) => {
    const el = document.createElementNS(svgNs, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    svg.append(el);
    return el;
  };
  add('line', { x1: 0, x2: w, y1: y(0), y2: y(0), stroke: 'var(--line)' });
  add('text', { x: 2, y: 10 }, 'max ' + format(max));
  const minutes = history.length ? (history[history.length - 1].time - history[0].time) / 60000 : 0;
  add('text', { x: 2, y: h - 3 }, history.length < 2 ? 'collecting…' : 'last ' + minutes.toFixed(1) + ' min');
  for (const s of series) {
    const points = history.map((p, i) => x(i).toFixed(1) + ',' + y(p[s.key] ?? 0).toFixed(1)).join(' ');
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
  rows('config', Object.entries(stats.config), 'none');
  $('auth-card').hidden = !stats.auth;
  if (stats.auth) {
    $('auth-ready').textContent = stats.auth.ready ? '' : 'waiting for the JWT issuer keys: bearer tokens get 503';
    rows('auth-outcomes', Object.entries(stats.auth.outcomes).sort(), 'none yet');
  }
  chart('rate-chart', stats.history, [{ key: 'requestsPerSecond', color: 'var(--rate)' }], (v) => v.toFixed(1) + ' req/s');
  chart('latency-chart', stats.history, [{ key: 'p50Seconds', color: 'var(--p50)' }, { key: 'p99Seconds', color: 'var(--p99)' }], ms);
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
<div class="card"><h2>Configuration</h2><table><tbody id="config"></tbody></table></div>
</div>
<script>${script}</script>
</body>
</html>
`;
