// The overload scenario (issue 12): an app that collapses above N concurrent requests
// (bench/collapsing-app.ts), offered 1.5× what it can serve, open loop (requests arrive at a fixed
// rate whether or not earlier ones were answered, as users do), direct and behind the Node sidecar
// with MAX_CONCURRENT_REQUESTS=N. Latency is measured from each request's scheduled start, so a
// stalled server cannot hide its queue (no coordinated omission); a request unanswered after
// OVERLOAD_CLIENT_TIMEOUT_MS counts as a timeout. About 20 s in all.
//   node bench/overload.ts     the table on stdout, progress on stderr
// Env: OVERLOAD_CAPACITY (N, 8), OVERLOAD_WORK_MS (20), OVERLOAD_RATE (1.5 × N/work, req/s),
// OVERLOAD_DURATION_S (4), OVERLOAD_CLIENT_TIMEOUT_MS (3000). `npm run bench` runs it too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { freePort, spawnServer, stopServer, waitReady } from './proc.ts';
import type { Server } from './proc.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH_DIR, '..');

export interface OverloadRow {
  name: string;
  /** What the sidecar was given, or `direct`. */
  config: string;
  offered: number;
  /** 200s (some answered after the load stopped: they were queued), and their latency. */
  ok: number;
  okP50Ms: number;
  okP99Ms: number;
  /** 503s from the sidecar, and how fast they came. */
  rejected: number;
  rejectedP50Ms: number;
  rejectedP99Ms: number;
  timeouts: number;
  errors: number;
  /** The most requests the app had in flight at once (it counts them itself). */
  appMaxInFlight: number;
}

export interface OverloadReport {
  capacity: number;
  workMs: number;
  rate: number;
  durationS: number;
  clientTimeoutMs: number;
  rows: OverloadRow[];
  totalS: number;
}

const env = process.env;
const num = (name: string, dflt: number): number => (env[name] ? Number(env[name]) : dflt);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Open-loop load: `rate` requests per second for `durationS`, each timed from when it was due. */
async function offer(url: string, rate: number, durationS: number, timeoutMs: number) {
  const pool = new Pool(url, { connections: 2048, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
  const ok: number[] = [];
  const rejected: number[] = [];
  let timeouts = 0;
  let errors = 0;
  const pending: Promise<void>[] = [];
  const total = Math.round(rate * durationS);
  const start = performance.now();
  const one = async (due: number): Promise<void> => {
    try {
      const res = await pool.request({ path: '/', method: 'GET', signal: AbortSignal.timeout(timeoutMs) });
      await res.body.dump();
      const ms = performance.now() - due;
      if (res.statusCode === 200) ok.push(ms);
      else if (res.statusCode === 503) rejected.push(ms);
      else errors++;
    } catch (err) {
      if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError') timeouts++;
      else errors++;
    }
  };
  let sent = 0;
  await new Promise<void>((done) => {
    const tick = (): void => {
      const elapsed = (performance.now() - start) / 1000;
      const due = Math.min(total, Math.floor(elapsed * rate));
      for (; sent < due; sent++) pending.push(one(start + (sent / rate) * 1000));
      if (sent >= total) done();
      else setTimeout(tick, 2);
    };
    tick();
  });
  await Promise.all(pending);
  await pool.close();
  ok.sort((a, b) => a - b);
  rejected.sort((a, b) => a - b);
  return { ok, rejected, timeouts, errors };
}

async function appStats(url: string): Promise<{ maxInFlight: number }> {
  const res = await fetch(`${url}/_stats?reset=1`);
  return (await res.json()) as { maxInFlight: number };
}

export async function runOverload(
  log: (line: string) => void = (l) => process.stderr.write(`[overload] ${l}\n`),
): Promise<OverloadReport> {
  const t0 = performance.now();
  const capacity = num('OVERLOAD_CAPACITY', 8);
  const workMs = num('OVERLOAD_WORK_MS', 20);
  const rate = num('OVERLOAD_RATE', Math.round((1.5 * capacity * 1000) / workMs));
  const durationS = num('OVERLOAD_DURATION_S', 4);
  const clientTimeoutMs = num('OVERLOAD_CLIENT_TIMEOUT_MS', 3000);
  const tmp = mkdtempSync(join(tmpdir(), 'sidecar-overload-'));
  const live: Server[] = [];
  const rows: OverloadRow[] = [];
  const cases: { name: string; config: string; env: Record<string, string> | null }[] = [
    { name: 'direct', config: 'no sidecar', env: null },
    {
      name: 'sidecar, cap + small queue',
      config: `MAX_CONCURRENT_REQUESTS=${capacity} MAX_QUEUED_REQUESTS=${capacity}`,
      env: { MAX_CONCURRENT_REQUESTS: String(capacity), MAX_QUEUED_REQUESTS: String(capacity) },
    },
    {
      name: 'sidecar, cap + default queue',
      config: `MAX_CONCURRENT_REQUESTS=${capacity} (queue 1000, 1000 ms)`,
      env: { MAX_CONCURRENT_REQUESTS: String(capacity) },
    },
  ];
  try {
    for (const c of cases) {
      // A fresh app per case, so no case inherits another's backlog.
      const appPort = await freePort();
      const app = spawnServer(
        [process.execPath, join(BENCH_DIR, 'collapsing-app.ts')],
        { ...env, PORT: String(appPort), CAPACITY: String(capacity), WORK_MS: String(workMs) },
        ROOT,
        tmp,
      );
      live.push(app);
      const appUrl = `http://127.0.0.1:${appPort}`;
      await waitReady(app, [`${appUrl}/_stats`], 10_000);
      let url = appUrl;
      let sidecar: Server | undefined;
      if (c.env) {
        const [port, admin] = [await freePort(), await freePort()];
        const sidecarEnv = {
          PATH: env.PATH,
          HOME: env.HOME,
          TARGET: appUrl,
          PORT: String(port),
          ADMIN_PORT: String(admin),
          HOST: '127.0.0.1',
          LOG_FORMAT: 'json',
          SRV_NAME: 'bench',
          DRAIN_TIMEOUT_MS: '2000',
          ...c.env,
        };
        sidecar = spawnServer([process.execPath, 'runtimes/node.ts'], sidecarEnv, ROOT, tmp);
        live.push(sidecar);
        await waitReady(sidecar, [`http://127.0.0.1:${admin}/readyz`], 10_000);
        url = `http://127.0.0.1:${port}`;
      }
      await appStats(appUrl);
      const r = await offer(url, rate, durationS, clientTimeoutMs);
      const stats = await appStats(appUrl);
      const row: OverloadRow = {
        name: c.name,
        config: c.config,
        offered: rate,
        ok: r.ok.length,
        okP50Ms: percentile(r.ok, 50),
        okP99Ms: percentile(r.ok, 99),
        rejected: r.rejected.length,
        rejectedP50Ms: percentile(r.rejected, 50),
        rejectedP99Ms: percentile(r.rejected, 99),
        timeouts: r.timeouts,
        errors: r.errors,
        appMaxInFlight: stats.maxInFlight,
      };
      rows.push(row);
      log(
        `${c.name}: ${row.ok} × 200 (p99 ${row.okP99Ms.toFixed(0)} ms), ${row.rejected} × 503 (p99 ${row.rejectedP99Ms.toFixed(1)} ms), ${row.timeouts} timeouts, app at most ${row.appMaxInFlight} at once`,
      );
      if (sidecar) await stopServer(sidecar, 3000);
      await stopServer(app, 3000);
    }
  } finally {
    for (const s of live) await stopServer(s, 1000);
    rmSync(tmp, { recursive: true, force: true });
  }
  return { capacity, workMs, rate, durationS, clientTimeoutMs, rows, totalS: (performance.now() - t0) / 1000 };
}

export function overloadTable(report: OverloadReport): string {
  const f = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
  const lines = [
    `Overload: an app that collapses above ${report.capacity} concurrent requests (${report.workMs} ms each within it), offered ${report.rate} req/s open loop for ${report.durationS} s (${Math.round(report.rate * report.durationS)} requests; it can serve ${Math.round((report.capacity * 1000 * report.durationS) / report.workMs)} in that time); latency from each request's scheduled start; unanswered after ${report.clientTimeoutMs} ms = timeout.`,
    '',
    '| target | 200s | 200 p50 ms | 200 p99 ms | 503s | 503 p50 ms | 503 p99 ms | timeouts | errors | app max in flight |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...report.rows.map(
      (r) =>
        `| ${r.name} | ${r.ok} | ${f(r.okP50Ms)} | ${f(r.okP99Ms)} | ${r.rejected} | ${f(r.rejectedP50Ms, 1)} | ${f(r.rejectedP99Ms, 1)} | ${r.timeouts} | ${r.errors} | ${r.appMaxInFlight} |`,
    ),
  ];
  return lines.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const report = await runOverload();
  process.stdout.write(`${overloadTable(report)}\n\ntotal ${report.totalS.toFixed(0)} s\n`);
}
