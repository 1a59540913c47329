// `npm run bench`: the sidecar on Node, Bun and Deno against the upstream direct, node
// `http-proxy`, `@fastify/http-proxy` and nginx (when installed), all in front of one upstream
// process, in one run, reported as medians of interleaved rounds and as ratios (docs/behaviour.md,
// Performance). The table goes to stdout, progress to stderr, everything to a JSON file.
// Exits non-zero only when something failed to run, never because a figure missed a target.
// Options: bench/README.md, or `node bench/run.ts --help`.
//
// The steps, in order: options (bench/options.ts), the rows chosen (bench/targets.ts), their
// servers started (bench/servers.ts), the load and the big transfers (bench/measure.ts), the
// overload scenario (bench/overload.ts), everything stopped, then the figures (bench/summary.ts)
// and the report (bench/report.ts).
import { join } from 'node:path';
import { ROOT, Run, log, toolVersion } from './context.ts';
import { autocannonGenerator, findWrk, wrkGenerator } from './load.ts';
import type { LoadGenerator } from './load.ts';
import { measurePeaks, runRounds, runTransfers, warmUp } from './measure.ts';
import { findNginx } from './nginx.ts';
import type { NginxInfo } from './nginx.ts';
import { loadOptions } from './options.ts';
import { runOverload } from './overload.ts';
import { stopServer } from './proc.ts';
import { writeReport } from './report.ts';
import { startTargets, startUpstream, stopTargets, timeStartups } from './servers.ts';
import { summarize } from './summary.ts';
import { running, selectTargets } from './targets.ts';
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
  const deployedCgroupPeaks = measurePeaks(run, targets);
  run.phase('roundsS');
  const transfers = await runTransfers(run, targets);
  run.phase('bigTransfersS');
  // The overload scenario (bench/overload.ts, issue 12): its own app and Node sidecars, ~20 s.
  const overload = running(targets).some((t) => t.def.name === 'node') ? await runOverload(log) : null;
  run.phase('overloadS');
  await stopTargets(run, targets, upstream);
  run.phase('stopS');
  const { rows, baseline } = summarize(run, targets);
  const durationS = writeReport(run, rows, baseline, { transfers, overload, deployedCgroupPeaks, nginx, gen });
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
