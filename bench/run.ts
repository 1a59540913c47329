// `npm run bench`: the sidecar on Node, Bun and Deno against the upstream direct, node
// `http-proxy`, `@fastify/http-proxy` and nginx (when installed), all in front of one upstream
// process, in one run, reported as medians of interleaved rounds and as ratios (SPEC.md,
// Performance). The table goes to stdout, progress to stderr, everything to a JSON file.
// Exits non-zero only when something failed to run, never because a figure missed a target.
// Options: bench/README.md, or `node bench/run.ts --help`.
//
// The steps, in order: options (bench/options.ts), the rows chosen (bench/targets.ts), their
// servers started (bench/servers.ts), the load and the big transfers (bench/measure.ts), the
// overload scenario (bench/overload.ts), everything stopped, then the report.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { BIN, MiB, ROOT, Run, log, toolVersion } from './context.ts';
import { autocannonGenerator, findWrk, wrkGenerator } from './load.ts';
import type { LoadGenerator } from './load.ts';
import { measurePeaks, runRounds, runTransfers, warmUp } from './measure.ts';
import type { TransferRow } from './measure.ts';
import { findNginx } from './nginx.ts';
import type { NginxInfo } from './nginx.ts';
import { loadOptions } from './options.ts';
import { overloadTable, runOverload } from './overload.ts';
import { stopServer } from './proc.ts';
import { startTargets, startUpstream, stopTargets, timeStartups } from './servers.ts';
import { NODE_PEERS, running, selectTargets } from './targets.ts';
import type { Target } from './targets.ts';

async function main(run: Run): Promise<number> {
  run.begin();
  const { gen, nginx } = findTools(run);
  const targets = await selectTargets(run, nginx);
  logPlan(run, gen, targets);
  const upstream = await startUpstream(run, targets);
  await timeStartups(run, targets, upstream);
  run.phase('startupTimingS');
  await startTargets(run, targets, upstream, nginx);
  run.phase('startTargetsS');
  await warmUp(run, gen, targets);
  run.phase('warmupS');
  await runRounds(run, gen, targets);
  const deployedCgroupPeak = measurePeaks(run, targets);
  run.phase('roundsS');
  const transfers = await runTransfers(run, targets);
  run.phase('bigTransfersS');
  // The overload scenario (bench/overload.ts, issue 12): its own app and Node sidecars, ~20 s.
  const overload = running(targets).some((t) => t.def.name === 'node') ? await runOverload(log) : null;
  run.phase('overloadS');
  await stopTargets(run, targets, upstream);
  run.phase('stopS');
  const rows = targets.map((t) => {
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
    };
  });
  const rpsOf = (name: string): number => rows.find((r) => r.t.def.name === name && r.t.status === 'ok')?.rps ?? NaN;
  const directRps = rpsOf('direct');
  const bestPeer = rows
    .filter((r) => NODE_PEERS.includes(r.t.def.name) && r.t.status === 'ok' && Number.isFinite(r.rps))
    .sort((a, b) => b.rps - a.rps)[0];
  const nginxRps = rpsOf('nginx');
  const ceilingRps = rpsOf('ceiling');

  for (const r of rows) {
    const name = r.t.def.name;
    if (r.t.status === 'failed') run.failures.push(`${name}: ${r.t.reason ?? 'failed'}`);
    if (r.t.status !== 'ok') continue;
    if (r.errorRate > 0.5) {
      r.t.status = 'failed';
      r.t.reason = `${(r.errorRate * 100).toFixed(0)}% of responses were errors or non-2xx`;
      run.failures.push(`${name}: ${r.t.reason}`);
    } else if (r.errorRate > 0.001)
      run.notes.push(
        `${name}: ${r.errors} errors/non-2xx in ${r.requests} requests (${(r.errorRate * 100).toFixed(2)}%).`,
      );
    // wrk does not count the requests still in flight when it stops, but the proxy logs them.
    const tolerance = Math.max(0.02 * r.requests, 2 * run.opts.connections * r.t.samples.length);
    if (r.logLinesPerRequest !== null && Math.abs(r.logLinesPerRequest * r.requests - r.requests) > tolerance)
      run.notes.push(
        `${name}: ${r.logLinesPerRequest.toFixed(3)} access-log lines per request on stdout (expected 1).`,
      );
    if (r.spread > 0.1) {
      const other = Math.max(...r.t.samples.map((x) => x.otherCpu).filter(Number.isFinite));
      run.notes.push(
        `${name}: req/s varied by ${(r.spread * 100).toFixed(0)}% between rounds (other processes used up to ${Number.isFinite(other) ? (other * 100).toFixed(0) : '?'}% CPU in its runs); treat its ratios with care.`,
      );
    }
  }
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

  const fmt = (n: number | null | undefined, digits = 0): string =>
    n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);
  const ratio = (n: number, d: number): string =>
    Number.isFinite(n) && Number.isFinite(d) && d > 0 ? (n / d).toFixed(2) : '–';
  const table = (header: string[], body: string[][]): string => {
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
    const line = (cells: string[]): string =>
      `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
    return [
      line(header),
      `|${widths.map((w, i) => (i === 0 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`,
      ...body.map(line),
    ].join('\n');
  };

  const mainTable = table(
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
      'peak RSS MiB',
      'start ms',
      'log/req',
      'other CPU',
    ],
    rows.map((r) => {
      const name = r.t.def.name;
      if (r.t.status !== 'ok') return [name, r.t.status.toUpperCase(), ...Array<string>(12).fill('')];
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
        r.t.peakRssKiB === null ? '–' : fmt(r.t.peakRssKiB / 1024, 1),
        fmt(r.startMs),
        r.logLinesPerRequest === null ? '–' : r.logLinesPerRequest.toFixed(2),
        Number.isFinite(r.otherCpu) ? `${(r.otherCpu * 100).toFixed(0)}%` : '–',
      ];
    }),
  );
  const bigTable =
    transfers.length === 0
      ? ''
      : table(
          ['target', 'download MiB/s', 'download RSS growth MiB', 'upload MiB/s', 'upload RSS growth MiB'],
          [...new Set(transfers.map((x) => x.target))].map((name) => {
            const d = transfers.find((x) => x.target === name && x.direction === 'download');
            const u = transfers.find((x) => x.target === name && x.direction === 'upload');
            const cell = (x: TransferRow | undefined, what: 'speed' | 'rss'): string =>
              !x ? '–' : !x.ok ? 'FAILED' : what === 'speed' ? fmt(x.mibPerS) : fmt(x.rssGrowthMiB, 1);
            return [name, cell(d, 'speed'), cell(d, 'rss'), cell(u, 'speed'), cell(u, 'rss')];
          }),
        );

  const durationS = run.elapsedS();
  const versions = {
    node: process.version,
    bun: toolVersion(join(BIN, 'bun'), ['--version']),
    deno: toolVersion(join(BIN, 'deno'), ['--version']),
    nginx: nginx?.version ?? 'not installed',
    load: `${gen.tool} ${gen.version}`,
  };
  const out: string[] = [];
  out.push(`# sidecar benchmark — ${new Date().toISOString()}`);
  out.push('');
  out.push(
    `${cpus().length} cores (${cpus()[0]?.model ?? '?'}); load: ${versions.load}, ${run.opts.connections} connections, ${run.opts.threads} thread(s), ${run.opts.rounds} round(s) × ${run.opts.durationS} s after ${run.opts.warmupS} s warm-up; medians of the rounds.`,
  );
  out.push(
    `node ${versions.node}, bun ${versions.bun}, ${versions.deno.split('\n')[0]}, nginx ${versions.nginx} (${run.opts.nginxWorkers} worker).`,
  );
  out.push('');
  out.push(mainTable);
  const deployedRow = rows.find((r) => r.t.def.name === 'deployed' && r.t.status === 'ok');
  if (run.deployed && deployedRow) {
    const nodeRow = rows.find((r) => r.t.def.name === 'node' && r.t.status === 'ok');
    out.push('');
    out.push(
      `deployed = \`${run.deployed.imageCommand.join(' ')}\` in a ${(run.deployed.limitBytes / MiB).toFixed(0)} MiB memory cgroup (the manifest's limit): ${ratio(deployedRow.rps, nodeRow?.rps ?? NaN)}× the unconstrained node row's req/s, ${ratio(deployedRow.rps, ceilingRps)}× the ceiling's; p99 ${fmt(deployedRow.p99Ms, 2)} ms (ceiling ${fmt(rows.find((r) => r.t.def.name === 'ceiling')?.p99Ms, 2)} ms); cgroup peak ${deployedCgroupPeak === null ? '–' : fmt(deployedCgroupPeak / MiB, 1)} MiB (page cache included).`,
    );
  }
  if (bigTable) {
    out.push('');
    out.push(
      `${run.opts.bigMiB} MiB through each (generated, streamed; RSS growth = largest VmRSS while it streams minus VmRSS before):`,
    );
    out.push('');
    out.push(bigTable);
  }
  if (overload) out.push('', overloadTable(overload));
  out.push('');
  const allNotes = [...run.failures.map((f) => `FAILED ${f}`), ...run.notes];
  if (allNotes.length > 0) out.push(...allNotes.map((n) => `- ${n}`), '');
  out.push(`total ${durationS.toFixed(0)} s; JSON: ${run.opts.out}`);
  process.stdout.write(`${out.join('\n')}\n`);

  mkdirSync(dirname(run.opts.out), { recursive: true });
  writeFileSync(
    run.opts.out,
    `${JSON.stringify(
      {
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
        deployed: run.deployed
          ? {
              command: run.deployed.imageCommand,
              memoryLimitBytes: run.deployed.limitBytes,
              bundleBytes: run.deployed.bundleBytes,
              cgroupPeakBytes: deployedCgroupPeak,
            }
          : null,
        targets: rows.map((r) => ({
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
          peakRssKiB: r.t.peakRssKiB,
          processTreePeakRssKiB: r.t.treePeakRssKiB,
          warmup: r.t.warmup ?? null,
          samples: r.t.samples,
          noisy: r.t.noisy,
          otherCpuMedian: Number.isFinite(r.otherCpu) ? r.otherCpu : null,
          exit: r.t.exit ?? null,
        })),
        transfers,
        overload,
        notes: run.notes,
        failures: run.failures,
      },
      null,
      2,
    )}\n`,
  );
  log(`done in ${durationS.toFixed(0)} s${run.failures.length > 0 ? `; ${run.failures.length} failure(s)` : ''}`);
  return run.failures.length > 0 ? 1 : 0;
}

/** The load generator (wrk if installed, unless --load says otherwise) and nginx; each one missing is noted. */
function findTools(run: Run): { gen: LoadGenerator; nginx: NginxInfo | null } {
  const wrk = findWrk();
  const nginx = findNginx();
  let gen: LoadGenerator;
  const acVersion = toolVersion(process.execPath, [
    '-p',
    `require(${JSON.stringify(join(ROOT, 'node_modules/autocannon/package.json'))}).version`,
  ]);
  if (run.opts.load === 'wrk' && !wrk) throw new Error('--load wrk: wrk is not installed');
  if (wrk && run.opts.load !== 'autocannon') gen = wrkGenerator(run.tmpDir, wrk.version);
  else {
    gen = autocannonGenerator(acVersion);
    if (!wrk)
      run.notes.push(
        'wrk is not installed: load from autocannon (npm), which needs more CPU per request than wrk; figures are not comparable with wrk runs.',
      );
  }
  if (!nginx)
    run.notes.push('nginx is not installed: its row and the ×nginx column are skipped (apt-get install nginx).');
  return { gen, nginx };
}

function logPlan(run: Run, gen: LoadGenerator, targets: Target[]): void {
  const { connections, rounds, durationS, warmupS } = run.opts;
  log(
    `load: ${gen.tool} ${gen.version}; ${connections} connections, ${rounds} round(s) x ${durationS} s, warm-up ${warmupS} s`,
  );
  log(
    `targets: ${targets.map((t) => `${t.def.name}${t.status === 'ok' ? '' : ` (${t.status}: ${t.reason})`}`).join(', ')}`,
  );
}

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

const run = new Run(loadOptions());

process.on('exit', () => run.cleanupNow());
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    run.cleanupNow();
    process.exit(130);
  });
}

try {
  process.exitCode = await main(run);
} catch (err) {
  process.stderr.write(`[bench] ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
} finally {
  for (const s of run.live) await stopServer(s, 2000);
  run.cleanupNow();
}
