// What `npm run bench` measures of the rows once they are up: warm-up, then interleaved rounds of
// load (a noisy run repeated while the time budget allows), each process's peak memory, then the
// big download and upload through the selected rows with their RSS sampled meanwhile.
import { cpus } from 'node:os';
import { MiB, log } from './context.ts';
import type { Run } from './context.ts';
import { deployedCgroupPeaks } from './deployed-rows.ts';
import type { LoadGenerator, LoadResult } from './load.ts';
import { cpuSnapshot, foreignCpuShare, processTree, readMem, sleep } from './proc.ts';
import { stderrSummary } from './servers.ts';
import { running } from './targets.ts';
import type { RunSample, Target } from './targets.ts';
import { runTransfer } from './transfer.ts';

export interface TransferRow {
  target: string;
  direction: 'download' | 'upload';
  bytes: number;
  ok: boolean;
  ms: number;
  mibPerS: number;
  rssBeforeKiB: number | null;
  rssMaxKiB: number | null;
  rssGrowthMiB: number | null;
  error?: string;
}

/** One run of load through `t`, with what else it tells: log lines written, peak RSS, foreign CPU. */
async function loadOnce(
  run: Run,
  gen: LoadGenerator,
  t: Target,
  durationS: number,
): Promise<{ res: LoadResult; logLines: number | null; maxRssKiB: number | null; otherCpu: number }> {
  const server = t.server;
  const linesBefore = server?.stdoutLines ?? 0;
  const sampler = rssSampler(t.servingPids, 250);
  const cpu0 = cpuSnapshot();
  const res = await gen.run({
    url: `http://127.0.0.1:${t.port}${t.def.request?.path ?? '/'}`,
    headers: {
      ...(t.def.request && { 'Accept-Encoding': t.def.request.acceptEncoding }),
      ...t.def.headers?.(run),
    },
    connections: run.opts.connections,
    durationS,
    threads: run.opts.threads,
  });
  const otherCpu = foreignCpuShare(cpu0, cpuSnapshot(), cpus().length);
  const maxRssKiB = sampler.stop();
  await sleep(300); // let batched access logs reach the pipe
  const logLines = t.def.kind === 'direct' || !server ? null : server.stdoutLines - linesBefore;
  if (server && server.exitInfo !== null)
    throw new Error(`process exited (${server.exitInfo}) during the run; stderr: ${stderrSummary(server)}`);
  return { res, logLines, maxRssKiB, otherCpu };
}

/** --warmup seconds of load through each row, not counted. */
export async function warmUp(run: Run, gen: LoadGenerator, targets: Target[]): Promise<void> {
  if (run.opts.warmupS <= 0) return;
  for (const t of running(targets)) {
    try {
      t.warmup = (await loadOnce(run, gen, t, run.opts.warmupS)).res;
      log(`warm-up ${t.def.name}: ${t.warmup.rps.toFixed(0)} req/s`);
    } catch (err) {
      t.status = 'failed';
      t.reason = `warm-up: ${(err as Error).message}`;
      log(`${t.def.name}: FAILED in warm-up: ${t.reason}`);
    }
  }
}

/**
 * Interleaved rounds: A B C ... A B C ... A run during which other processes took more than
 * --noisy-cpu of the machine is run again (--retries times at most) while the time budget
 * allows; the noisy one is kept in the JSON.
 */
export async function runRounds(run: Run, gen: LoadGenerator, targets: Target[]): Promise<void> {
  const opts = run.opts;
  const bigCostS =
    opts.bigMiB > 0
      ? running(targets).filter((t) => opts.bigTargets.includes(t.def.name)).length * 2 * (opts.bigMiB / 350 + 0.4)
      : 0;
  let retriesUsed = 0;
  for (let round = 1; round <= opts.rounds; round++) {
    const order = running(targets);
    for (const [i, t] of order.entries()) {
      const remainingRuns = (opts.rounds - round) * order.length + (order.length - i - 1);
      retriesUsed += await runRound(run, gen, t, round, remainingRuns, bigCostS);
    }
  }
  if (retriesUsed > 0)
    run.notes.push(
      `${retriesUsed} run(s) were repeated because other processes used more than ${(opts.noisyCpu * 100).toFixed(0)}% of the CPU during them ("noisy" in the JSON).`,
    );
}

/** One row's run in one round (repeated while noisy and affordable); returns the repeats it took. */
async function runRound(
  run: Run,
  gen: LoadGenerator,
  t: Target,
  round: number,
  remainingRuns: number,
  bigCostS: number,
): Promise<number> {
  const opts = run.opts;
  const runCostS = opts.durationS + 0.5;
  let retries = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      const { res, logLines, maxRssKiB, otherCpu } = await loadOnce(run, gen, t, opts.durationS);
      const errors = res.errors.connect + res.errors.read + res.errors.write + res.errors.timeout + res.errors.status;
      const sample: RunSample = {
        round,
        rps: res.rps,
        p50Ms: res.p50Ms,
        p90Ms: res.p90Ms,
        p99Ms: res.p99Ms,
        maxMs: res.maxMs,
        requests: res.requests,
        errors,
        logLines,
        maxRssKiB,
        otherCpu,
        bytesPerResponse: res.bytes / res.requests,
      };
      const projectedS = run.elapsedS() + runCostS * (remainingRuns + 1) + bigCostS + 5;
      const retry = otherCpu > opts.noisyCpu && attempt < opts.retries && projectedS < opts.budgetS;
      log(
        `round ${round}/${opts.rounds} ${t.def.name}: ${res.rps.toFixed(0)} req/s, p50 ${res.p50Ms.toFixed(2)} ms, p99 ${res.p99Ms.toFixed(2)} ms, errors ${errors}${logLines === null ? '' : `, log lines ${logLines}`}, other processes ${(otherCpu * 100).toFixed(0)}% CPU${retry ? ' — noisy, running it again' : ''}`,
      );
      if (retry) {
        t.noisy.push(sample);
        retries++;
        continue;
      }
      t.samples.push(sample);
    } catch (err) {
      t.status = 'failed';
      t.reason = `round ${round}: ${(err as Error).message}`;
      log(`${t.def.name}: FAILED: ${t.reason}`);
    }
    return retries;
  }
}

/** Each row's peak RSS (its serving processes, and its whole process tree); each as-deployed row's cgroup peak, by row. */
export function measurePeaks(run: Run, targets: Target[]): Record<string, number | null> {
  for (const t of targets) {
    if (t.servingPids.length === 0 || !t.server) continue;
    t.peakRssKiB = memOf(t.servingPids)?.hwmKiB ?? null;
    t.treePeakRssKiB = memOf(processTree(t.server.pid))?.hwmKiB ?? null;
  }
  return deployedCgroupPeaks(run);
}

/** 1 GiB (or --big-mib) down and up through each selected row, its RSS sampled every 50 ms. */
export async function runTransfers(run: Run, targets: Target[]): Promise<TransferRow[]> {
  const opts = run.opts;
  const transfers: TransferRow[] = [];
  if (opts.bigMiB <= 0) return transfers;
  const bytes = Math.round(opts.bigMiB * MiB);
  const timeoutMs = Math.max(15_000, Math.round((45_000 * opts.bigMiB) / 1024));
  for (const t of running(targets).filter((x) => opts.bigTargets.includes(x.def.name))) {
    for (const direction of ['download', 'upload'] as const) {
      const before = memOf(t.servingPids)?.rssKiB ?? null;
      const sampler = rssSampler(t.servingPids, 50);
      const url = `http://127.0.0.1:${t.port}/${direction === 'download' ? 'big' : 'upload'}`;
      const r = await runTransfer(direction, url, bytes, timeoutMs);
      const max = sampler.stop();
      const row: TransferRow = {
        target: t.def.name,
        direction,
        bytes,
        ok: r.ok,
        ms: r.ms,
        mibPerS: r.ok ? bytes / MiB / (r.ms / 1000) : NaN,
        rssBeforeKiB: before,
        rssMaxKiB: max,
        rssGrowthMiB: before !== null && max !== null ? (max - before) / 1024 : null,
        ...(r.ok ? {} : { error: r.error ?? `status ${r.status}, ${r.bytes} of ${bytes} bytes` }),
      };
      transfers.push(row);
      log(
        `${direction} ${opts.bigMiB} MiB via ${t.def.name}: ${r.ok ? `${row.mibPerS.toFixed(0)} MiB/s, RSS +${row.rssGrowthMiB?.toFixed(1)} MiB` : `FAILED: ${row.error}`}`,
      );
      if (!r.ok) run.failures.push(`${t.def.name}: ${direction} of ${opts.bigMiB} MiB failed: ${row.error}`);
      await sleep(100);
    }
  }
  return transfers;
}

function memOf(pids: number[]): { rssKiB: number; hwmKiB: number } | null {
  let rssKiB = 0;
  let hwmKiB = 0;
  let any = false;
  for (const pid of pids) {
    const m = readMem(pid);
    if (m) {
      any = true;
      rssKiB += m.rssKiB;
      hwmKiB += m.hwmKiB;
    }
  }
  return any ? { rssKiB, hwmKiB } : null;
}

/** Samples VmRSS of `pids` every `everyMs` until stopped; returns the largest sum seen. */
function rssSampler(pids: number[], everyMs: number): { stop: () => number | null } {
  let max: number | null = null;
  const take = (): void => {
    const m = memOf(pids);
    if (m && (max === null || m.rssKiB > max)) max = m.rssKiB;
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return max;
    },
  };
}
