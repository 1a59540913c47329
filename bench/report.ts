// What `npm run bench` writes: the tables on stdout (Markdown: each row's medians and its ratios
// to the baselines, the big transfers, the overload scenario, the notes) and everything, every
// round and every process, in the JSON file (--out). The figures come from bench/summary.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { BIN, toolVersion } from './context.ts';
import type { Run } from './context.ts';
import { compressionTable } from './compression-rows.ts';
import { deployedJson, deployedLines } from './deployed-rows.ts';
import { featureCostTable } from './feature-costs.ts';
import type { LoadGenerator } from './load.ts';
import type { TransferRow } from './measure.ts';
import type { NginxInfo } from './nginx.ts';
import { overloadTable } from './overload.ts';
import type { OverloadReport } from './overload.ts';
import type { Baseline, Row } from './summary.ts';

/** What was measured, beyond the rows themselves. */
export interface Measured {
  transfers: TransferRow[];
  overload: OverloadReport | null;
  /** Each as-deployed row's cgroup peak (bytes), by row name. */
  deployedCgroupPeaks: Record<string, number | null>;
  nginx: NginxInfo | null;
  gen: LoadGenerator;
}

/** The Markdown report on stdout, then the JSON file; returns the run's duration in seconds. */
export function writeReport(run: Run, rows: Row[], baseline: Baseline, measured: Measured): number {
  const tables = [
    mainTable(
      rows.filter((r) => r.t.def.request === undefined),
      baseline,
      measured.nginx,
    ),
    bigTable(measured.transfers),
    compressionTable(rows, table),
    featureCostTable(rows, table),
  ] as const;
  const durationS = run.elapsedS();
  const versions = {
    node: process.version,
    bun: toolVersion(join(BIN, 'bun'), ['--version']),
    deno: toolVersion(join(BIN, 'deno'), ['--version']),
    nginx: measured.nginx?.version ?? 'not installed',
    load: `${measured.gen.tool} ${measured.gen.version}`,
  };
  process.stdout.write(`${markdown(run, rows, baseline, measured, tables, versions, durationS).join('\n')}\n`);
  mkdirSync(dirname(run.opts.out), { recursive: true });
  const json = reportJson(run, rows, baseline, measured, versions, durationS);
  writeFileSync(run.opts.out, `${JSON.stringify(json, null, 2)}\n`);
  return durationS;
}

type Versions = Record<'node' | 'bun' | 'deno' | 'nginx' | 'load', string>;

function markdown(
  run: Run,
  rows: Row[],
  baseline: Baseline,
  measured: Measured,
  [mainTable, bigTable, compressed, features]: readonly [string, string, string, string],
  versions: Versions,
  durationS: number,
): string[] {
  const { opts } = run;
  const out: string[] = [];
  out.push(`# sidecar benchmark — ${new Date().toISOString()}`);
  out.push('');
  out.push(
    `${cpus().length} cores (${cpus()[0]?.model ?? '?'}); load: ${versions.load}, ${opts.connections} connections, ${opts.threads} thread(s), ${opts.rounds} round(s) × ${opts.durationS} s after ${opts.warmupS} s warm-up; medians of the rounds.`,
  );
  out.push(
    `node ${versions.node}, bun ${versions.bun}, ${versions.deno.split('\n')[0]}, nginx ${versions.nginx} (${opts.nginxWorkers} worker).`,
  );
  out.push('');
  out.push(mainTable);
  if (features) out.push('', 'What each feature costs, against the default row of this run:', '', features);
  const deployedAs = deployedLines(run, rows, baseline, measured.deployedCgroupPeaks);
  if (deployedAs.length > 0) out.push('', ...deployedAs);
  if (bigTable) {
    out.push('');
    out.push(
      `${opts.bigMiB} MiB through each (generated, streamed; RSS growth = largest VmRSS while it streams minus VmRSS before):`,
    );
    out.push('');
    out.push(bigTable);
  }
  if (compressed)
    out.push(
      '',
      'The 16 KiB HTML page (16384 bytes uncompressed) with Accept-Encoding, compressed by each (bytes/response: on the wire, headers included):',
      '',
      compressed,
    );
  if (measured.overload) out.push('', overloadTable(measured.overload));
  out.push('');
  const allNotes = [...run.failures.map((f) => `FAILED ${f}`), ...run.notes];
  if (allNotes.length > 0) out.push(...allNotes.map((n) => `- ${n}`), '');
  out.push(`total ${durationS.toFixed(0)} s; JSON: ${opts.out}`);
  return out;
}

function mainTable(rows: Row[], baseline: Baseline, nginx: NginxInfo | null): string {
  const { directRps, bestPeer, nginxRps, ceilingRps } = baseline;
  return table(
    [
      'target',
      'req/s',
      'spread',
      'p50 ms',
      'p99 ms',
      'errors',
      '×direct',
      `×best node peer${bestPeer ? ` (${bestPeer.t.def.name})` : ''}`,
      '×nginx',
      '×ceiling',
      'idle RSS MiB',
      'peak RSS MiB',
      'start ms',
      'log/req',
      'other CPU',
    ],
    rows.map((r) => {
      const name = r.t.def.name;
      if (r.t.status !== 'ok') return [name, r.t.status.toUpperCase(), ...Array<string>(13).fill('')];
      return [
        name,
        fmt(r.rps),
        Number.isFinite(r.spread) ? `${(r.spread * 100).toFixed(0)}%` : '–',
        fmt(r.p50Ms, 2),
        fmt(r.p99Ms, 2),
        String(r.errors),
        ratio(r.rps, directRps),
        ratio(r.rps, bestPeer?.rps ?? NaN),
        nginx ? ratio(r.rps, nginxRps) : 'n/a',
        ratio(r.rps, ceilingRps),
        r.t.idleRssKiB === null ? '–' : fmt(r.t.idleRssKiB / 1024, 1),
        r.t.peakRssKiB === null ? '–' : fmt(r.t.peakRssKiB / 1024, 1),
        fmt(r.startMs),
        r.logLinesPerRequest === null ? '–' : r.logLinesPerRequest.toFixed(2),
        Number.isFinite(r.otherCpu) ? `${(r.otherCpu * 100).toFixed(0)}%` : '–',
      ];
    }),
  );
}

function bigTable(transfers: TransferRow[]): string {
  if (transfers.length === 0) return '';
  return table(
    ['target', 'download MiB/s', 'download RSS growth MiB', 'upload MiB/s', 'upload RSS growth MiB'],
    [...new Set(transfers.map((x) => x.target))].map((name) => {
      const d = transfers.find((x) => x.target === name && x.direction === 'download');
      const u = transfers.find((x) => x.target === name && x.direction === 'upload');
      const cell = (x: TransferRow | undefined, what: 'speed' | 'rss'): string =>
        !x ? '–' : !x.ok ? 'FAILED' : what === 'speed' ? fmt(x.mibPerS) : fmt(x.rssGrowthMiB, 1);
      return [name, cell(d, 'speed'), cell(d, 'rss'), cell(u, 'speed'), cell(u, 'rss')];
    }),
  );
}

function reportJson(
  run: Run,
  rows: Row[],
  baseline: Baseline,
  measured: Measured,
  versions: Versions,
  durationS: number,
): object {
  const { directRps, bestPeer, nginxRps, ceilingRps } = baseline;
  const nginx = measured.nginx;
  return {
    date: new Date().toISOString(),
    durationS,
    phases: run.phases,
    machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? null },
    versions,
    options: run.opts,
    baseline: {
      directRps,
      bestNodePeer: bestPeer?.t.def.name ?? null,
      bestNodePeerRps: bestPeer?.rps ?? null,
      nginxRps: nginx ? nginxRps : null,
      ceilingRps: Number.isFinite(ceilingRps) ? ceilingRps : null,
    },
    deployed: deployedJson(run, measured.deployedCgroupPeaks),
    targets: rows.map((r) => targetJson(r, baseline, nginx)),
    transfers: measured.transfers,
    overload: measured.overload,
    notes: run.notes,
    failures: run.failures,
  };
}

function targetJson(r: Row, { directRps, bestPeer, nginxRps, ceilingRps }: Baseline, nginx: NginxInfo | null): object {
  return {
    name: r.t.def.name,
    label: r.t.def.label,
    kind: r.t.def.kind,
    status: r.t.status,
    reason: r.t.reason ?? null,
    command: r.t.command,
    servingPids: r.t.servingPids,
    servingCommand: r.t.servingCommand,
    readyUrl: r.t.readyUrl ?? null,
    startMs: r.t.startMs,
    startMsMedian: Number.isFinite(r.startMs) ? r.startMs : null,
    rps: Number.isFinite(r.rps) ? r.rps : null,
    p50Ms: Number.isFinite(r.p50Ms) ? r.p50Ms : null,
    p99Ms: Number.isFinite(r.p99Ms) ? r.p99Ms : null,
    spread: Number.isFinite(r.spread) ? r.spread : null,
    ratios: {
      direct: r.rps / directRps || null,
      bestNodePeer: bestPeer ? r.rps / bestPeer.rps || null : null,
      nginx: nginx ? r.rps / nginxRps || null : null,
      ceiling: r.rps / ceilingRps || null,
    },
    requests: r.requests,
    errors: r.errors,
    logLinesPerRequest: r.logLinesPerRequest,
    idleRssKiB: r.t.idleRssKiB,
    peakRssKiB: r.t.peakRssKiB,
    processTreePeakRssKiB: r.t.treePeakRssKiB,
    warmup: r.t.warmup ?? null,
    samples: r.t.samples,
    noisy: r.t.noisy,
    otherCpuMedian: Number.isFinite(r.otherCpu) ? r.otherCpu : null,
    exit: r.t.exit ?? null,
  };
}

const fmt = (n: number | null | undefined, digits = 0): string =>
  n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);

const ratio = (n: number, d: number): string =>
  Number.isFinite(n) && Number.isFinite(d) && d > 0 ? (n / d).toFixed(2) : '–';

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i === 0 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}
