// The figures of `npm run bench`: each row's medians over its rounds, the baselines the ratios
// divide by (direct, the best Node peer, nginx, the Node ceiling), and the notes the figures call
// for (a row mostly of errors fails there).
import { cpus } from 'node:os';
import type { Run } from './context.ts';
import { NODE_PEERS } from './targets.ts';
import type { Target } from './targets.ts';

/** A row of the table: one target's medians over its rounds. */
export interface Row {
  t: Target;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  spread: number;
  requests: number;
  errors: number;
  errorRate: number;
  logLinesPerRequest: number | null;
  otherCpu: number;
  startMs: number;
  bytesPerResponse: number;
}

/** What the ratios divide by. */
export interface Baseline {
  directRps: number;
  bestPeer: Row | undefined;
  nginxRps: number;
  ceilingRps: number;
}

/** The rows and their baselines; what the figures call for goes to the run's notes (or fails a row). */
export function summarize(run: Run, targets: Target[]): { rows: Row[]; baseline: Baseline } {
  const rows = targets.map(rowOf);
  const baseline = baselineOf(rows);
  noteRows(run, rows);
  noteMachine(run, targets);
  return { rows, baseline };
}

function rowOf(t: Target): Row {
  const s = t.samples;
  const rps = median(s.map((x) => x.rps));
  const requests = s.reduce((a, x) => a + x.requests, 0);
  const errors = s.reduce((a, x) => a + x.errors, 0);
  const lines =
    s.every((x) => x.logLines !== null) && s.length > 0 ? s.reduce((a, x) => a + (x.logLines ?? 0), 0) : null;
  const spread = s.length > 1 ? (Math.max(...s.map((x) => x.rps)) - Math.min(...s.map((x) => x.rps))) / rps : NaN;
  return {
    t,
    rps,
    p50Ms: median(s.map((x) => x.p50Ms)),
    p99Ms: median(s.map((x) => x.p99Ms)),
    spread,
    requests,
    errors,
    errorRate: requests > 0 ? errors / requests : NaN,
    logLinesPerRequest: lines === null || requests === 0 ? null : lines / requests,
    otherCpu: median(s.map((x) => x.otherCpu)),
    startMs: median(t.startMs),
    bytesPerResponse: median(s.map((x) => x.bytesPerResponse)),
  };
}

function baselineOf(rows: Row[]): Baseline {
  const rpsOf = (name: string): number => rows.find((r) => r.t.def.name === name && r.t.status === 'ok')?.rps ?? NaN;
  const bestPeer = rows
    .filter((r) => NODE_PEERS.includes(r.t.def.name) && r.t.status === 'ok' && Number.isFinite(r.rps))
    .sort((a, b) => b.rps - a.rps)[0];
  return { directRps: rpsOf('direct'), bestPeer, nginxRps: rpsOf('nginx'), ceilingRps: rpsOf('ceiling') };
}

/** A row mostly of errors fails; errors, lost log lines and unsteady rounds are noted. */
function noteRows(run: Run, rows: Row[]): void {
  const { notes, failures } = run;
  for (const r of rows) {
    const name = r.t.def.name;
    if (r.t.status === 'failed') failures.push(`${name}: ${r.t.reason ?? 'failed'}`);
    if (r.t.status !== 'ok') continue;
    if (r.errorRate > 0.5) {
      r.t.status = 'failed';
      r.t.reason = `${(r.errorRate * 100).toFixed(0)}% of responses were errors or non-2xx`;
      failures.push(`${name}: ${r.t.reason}`);
    } else if (r.errorRate > 0.001)
      notes.push(`${name}: ${r.errors} errors/non-2xx in ${r.requests} requests (${(r.errorRate * 100).toFixed(2)}%).`);
    // wrk does not count the requests still in flight when it stops, but the proxy logs them.
    const tolerance = Math.max(0.02 * r.requests, 2 * run.opts.connections * r.t.samples.length);
    if (r.logLinesPerRequest !== null && Math.abs(r.logLinesPerRequest * r.requests - r.requests) > tolerance)
      notes.push(`${name}: ${r.logLinesPerRequest.toFixed(3)} access-log lines per request on stdout (expected 1).`);
    if (r.spread > 0.1) {
      const other = Math.max(...r.t.samples.map((x) => x.otherCpu).filter(Number.isFinite));
      notes.push(
        `${name}: req/s varied by ${(r.spread * 100).toFixed(0)}% between rounds (other processes used up to ${Number.isFinite(other) ? (other * 100).toFixed(0) : '?'}% CPU in its runs); treat its ratios with care.`,
      );
    }
  }
}

/** A machine that was not quiet, or has few cores, is said so. */
function noteMachine(run: Run, targets: Target[]): void {
  const otherCpu = targets.flatMap((t) => t.samples.map((x) => x.otherCpu)).filter(Number.isFinite);
  if (otherCpu.length > 0 && Math.max(...otherCpu) > 0.05) {
    run.notes.push(
      `the machine was not quiet: processes outside the benchmark used up to ${(Math.max(...otherCpu) * 100).toFixed(0)}% of the CPU during a run (median ${(median(otherCpu) * 100).toFixed(0)}%); see "otherCpu" per run in the JSON.`,
    );
  }
  if (cpus().length <= 2)
    run.notes.push(
      `${cpus().length} cores: load generator, proxy and upstream share them, so every figure includes contention (the same for all rows).`,
    );
}

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}
