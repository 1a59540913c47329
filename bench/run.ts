// `npm run bench`: the sidecar on Node, Bun and Deno against the upstream direct, node
// `http-proxy`, `@fastify/http-proxy` and nginx (when installed), all in front of one upstream
// process, in one run, reported as medians of interleaved rounds and as ratios (SPEC.md,
// Performance). The table goes to stdout, progress to stderr, everything to a JSON file.
// Exits non-zero only when something failed to run, never because a figure missed a target.
// Options: bench/README.md, or `node bench/run.ts --help`.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { autocannonGenerator, findWrk, wrkGenerator } from './load.ts';
import type { LoadGenerator, LoadResult } from './load.ts';
import { findNginx, writeNginxConfig } from './nginx.ts';
import { loadOptions } from './options.ts';
import { overloadTable, runOverload } from './overload.ts';
import type { NginxInfo } from './nginx.ts';
import {
  commandLine,
  cpuSnapshot,
  foreignCpuShare,
  freePort,
  httpGet,
  killGroupNow,
  processTree,
  readMem,
  servingPids,
  sleep,
  spawnServer,
  stopServer,
  waitReady,
} from './proc.ts';
import type { Server } from './proc.ts';
import type { TransferResult } from './transfer.ts';
import { prepareDeployed } from './deployed.ts';
import type { Deployed } from './deployed.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH_DIR, '..');
const BIN = join(ROOT, 'node_modules', '.bin');
const MiB = 1024 * 1024;

// ---------------------------------------------------------------- targets

type Kind = 'direct' | 'sidecar' | 'peer';

interface TargetDef {
  name: string;
  kind: Kind;
  label: string;
  /** Files that must exist for the target to run (relative to the repository root). */
  needs: string[];
  argv: (ports: { port: number; admin: number; upstream: number }) => string[];
  /** Extra environment (the export-on row's OTLP endpoint). */
  env?: () => Record<string, string>;
}

const TARGETS: TargetDef[] = [
  { name: 'direct', kind: 'direct', label: 'upstream direct', needs: [], argv: () => [] },
  {
    name: 'node',
    kind: 'sidecar',
    label: 'sidecar on Node',
    needs: ['runtimes/node.ts'],
    argv: () => [process.execPath, 'runtimes/node.ts'],
  },
  // The same sidecar exporting a span per request to a sink that discards (bench/peers/otlp-sink.ts).
  {
    name: 'node-otlp',
    kind: 'sidecar',
    label: 'sidecar on Node, export on',
    needs: ['runtimes/node.ts'],
    argv: () => [process.execPath, 'runtimes/node.ts'],
    env: () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpSinkPort}` }),
  },
  {
    name: 'bun',
    kind: 'sidecar',
    label: 'sidecar on Bun',
    needs: ['runtimes/bun.ts', 'node_modules/.bin/bun'],
    argv: () => [join(BIN, 'bun'), 'run', 'runtimes/bun.ts'],
  },
  {
    name: 'deno',
    kind: 'sidecar',
    label: 'sidecar on Deno',
    needs: ['runtimes/deno.ts', 'node_modules/.bin/deno'],
    argv: () => [join(BIN, 'deno'), 'task', '--quiet', 'serve'],
  },
  {
    name: 'http-proxy',
    kind: 'peer',
    label: 'http-proxy + keep-alive agent',
    needs: [],
    argv: () => [process.execPath, 'bench/peers/http-proxy.ts'],
  },
  {
    name: 'fastify',
    kind: 'peer',
    label: '@fastify/http-proxy',
    needs: [],
    argv: () => [process.execPath, 'bench/peers/fastify.ts'],
  },
  { name: 'nginx', kind: 'peer', label: 'nginx (keepalive upstream)', needs: [], argv: () => [] },
  // The image's bundle and command inside the manifest's memory limit (bench/deployed.ts).
  {
    name: 'deployed',
    kind: 'sidecar',
    label: 'sidecar as deployed (bundle, image flags, memory limit)',
    needs: [],
    argv: () => deployedArgv(),
  },
  {
    name: 'ceiling',
    kind: 'peer',
    label: 'node:http + undici pool.stream (the Node ceiling)',
    needs: [],
    argv: () => [process.execPath, 'bench/peers/ceiling.ts'],
  },
];
const NODE_PEERS = ['http-proxy', 'fastify'];

interface RunSample {
  round: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
  errors: number;
  logLines: number | null;
  maxRssKiB: number | null;
  /** CPU share (0..1 of all cores) used by processes outside the benchmark during the run. */
  otherCpu: number;
}

interface TransferRow {
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

interface Target {
  def: TargetDef;
  status: 'ok' | 'failed' | 'skipped';
  reason?: string;
  port: number;
  adminPort: number;
  server: Server | null;
  command: string[];
  servingPids: number[];
  servingCommand: string[];
  readyUrl?: string;
  /** Spawn to first 200: admin /readyz (or /healthz) for sidecars, the proxy port for the rest. */
  startMs: number[];
  warmup?: LoadResult;
  samples: RunSample[];
  /** Runs thrown away and repeated because other processes were busy. */
  noisy: RunSample[];
  peakRssKiB: number | null;
  treePeakRssKiB: number | null;
  exit?: string;
}

// ---------------------------------------------------------------- helpers

const log = (msg: string): void => {
  process.stderr.write(`[bench] ${msg}\n`);
};

/** The telling lines of a process's stderr, on one line: error lines first, else the last ones. */
function stderrSummary(server: Server | null): string {
  const lines = (server?.stderrTail() ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^at /.test(l));
  const telling = lines.filter((l) => /error|invalid|fail|cannot|denied|EADDR|emerg|panic/i.test(l));
  const pick = (telling.length > 0 ? telling : lines.slice(-3)).slice(0, 3).join(' ⏎ ');
  return pick.length > 400 ? `${pick.slice(0, 400)}…` : pick || '(empty)';
}

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

function toolVersion(bin: string, args: string[]): string {
  try {
    return (
      execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
        .split('\n')[0]
        ?.trim() ?? '?'
    );
  } catch {
    return 'not available';
  }
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

function runTransfer(
  direction: 'download' | 'upload',
  url: string,
  bytes: number,
  timeoutMs: number,
): Promise<TransferResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(
      process.execPath,
      [join(BENCH_DIR, 'transfer.ts'), direction, url, String(bytes), String(timeoutMs)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-2000)));
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 10_000);
    child.on('close', (code) => {
      clearTimeout(killer);
      const line = /^TRANSFER_JSON (\{.*\})$/m.exec(out)?.[1];
      if (line) resolvePromise(JSON.parse(line) as TransferResult);
      else
        resolvePromise({
          ok: false,
          bytes: 0,
          ms: 0,
          status: 0,
          error: `transfer client exited ${code}: ${err.trim()}`,
        });
    });
  });
}

// ---------------------------------------------------------------- orchestration

const live = new Set<Server>();
/** Where the export-on row sends its spans: the OTLP sink, started with the upstream. */
let otlpSinkPort = 0;
let tmpDir = '';
let deployed: Deployed | null = null;
const deployedArgv = (): string[] => {
  if (!deployed) throw new Error('the deployed row was not prepared');
  return deployed.argv;
};

function cleanupNow(): void {
  for (const s of live) killGroupNow(s);
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  deployed?.remove();
}

/** Starts a target and checks it proxies; returns spawn-to-ready in ms. */
async function startTarget(t: Target, upstreamPort: number, nginx: NginxInfo | null): Promise<number> {
  const def = t.def;
  t.port = await freePort();
  t.adminPort = await freePort();
  let argv = def.argv({ port: t.port, admin: t.adminPort, upstream: upstreamPort });
  if (def.name === 'nginx') {
    if (!nginx) throw new Error('nginx not installed');
    const dir = join(tmpDir, 'nginx');
    argv = writeNginxConfig(nginx, { dir, port: t.port, upstreamPort, workers: OPTS.nginxWorkers });
  }
  t.command = argv;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TARGET: `http://127.0.0.1:${upstreamPort}`,
    PORT: String(t.port),
    ADMIN_PORT: String(t.adminPort),
    HOST: '127.0.0.1',
    LOG_FORMAT: 'json',
    SRV_NAME: 'bench',
    DRAIN_TIMEOUT_MS: '2000',
    ...def.env?.(),
  };
  const server = spawnServer(argv, env, ROOT, tmpDir);
  live.add(server);
  t.server = server;
  const urls =
    def.kind === 'sidecar'
      ? [`http://127.0.0.1:${t.adminPort}/readyz`, `http://127.0.0.1:${t.adminPort}/healthz`]
      : [`http://127.0.0.1:${t.port}/`];
  const ready = await waitReady(server, urls, 20_000);
  t.readyUrl = ready.url;
  const hello = await httpGet(`http://127.0.0.1:${t.port}/`, 2000);
  if (hello.status !== 200 || hello.body !== 'Hello you!')
    throw new Error(
      `GET / through it answered ${hello.status} ${JSON.stringify(hello.body.slice(0, 80))}, expected 200 "Hello you!"`,
    );
  t.servingPids = servingPids(server.pid, t.port);
  t.servingCommand = t.servingPids.map(commandLine);
  return ready.ms;
}

const OPTS = loadOptions();

async function main(): Promise<number> {
  const t0 = performance.now();
  const phases: Record<string, number> = {};
  let phaseStart = t0;
  const phase = (name: string): void => {
    const now = performance.now();
    phases[name] = Math.round(now - phaseStart) / 1000;
    phaseStart = now;
  };
  const notes: string[] = [];
  const failures: string[] = [];
  tmpDir = mkdtempSync(join(tmpdir(), 'sidecar-bench-'));

  // Tools.
  const wrk = findWrk();
  const nginx = findNginx();
  let gen: LoadGenerator;
  const acVersion = toolVersion(process.execPath, [
    '-p',
    `require(${JSON.stringify(join(ROOT, 'node_modules/autocannon/package.json'))}).version`,
  ]);
  if (OPTS.load === 'wrk' && !wrk) throw new Error('--load wrk: wrk is not installed');
  if (wrk && OPTS.load !== 'autocannon') gen = wrkGenerator(tmpDir, wrk.version);
  else {
    gen = autocannonGenerator(acVersion);
    if (!wrk)
      notes.push(
        'wrk is not installed: load from autocannon (npm), which needs more CPU per request than wrk; figures are not comparable with wrk runs.',
      );
  }
  if (!nginx) notes.push('nginx is not installed: its row and the ×nginx column are skipped (apt-get install nginx).');

  // Which targets.
  const selected = TARGETS.filter(
    (d) => d.name === 'direct' || ((OPTS.only === null || OPTS.only.includes(d.name)) && !OPTS.skip.includes(d.name)),
  );
  const unknown = [...(OPTS.only ?? []), ...OPTS.skip].filter((n) => !TARGETS.some((d) => d.name === n));
  if (unknown.length > 0) throw new Error(`unknown target(s): ${unknown.join(', ')}`);
  const targets: Target[] = selected.map((def) => ({
    def,
    status: 'ok',
    port: 0,
    adminPort: 0,
    server: null,
    command: [],
    servingPids: [],
    servingCommand: [],
    startMs: [],
    samples: [],
    noisy: [],
    peakRssKiB: null,
    treePeakRssKiB: null,
  }));
  for (const t of targets) {
    const missing = t.def.needs.filter((f) => !existsSync(join(ROOT, f)));
    if (missing.length > 0) {
      t.status = 'failed';
      t.reason = `not present: ${missing.join(', ')}`;
    }
    if (t.def.name === 'nginx' && !nginx) {
      t.status = 'skipped';
      t.reason = 'nginx not installed';
    }
    if (t.def.name === 'deployed' && t.status === 'ok') {
      try {
        deployed = await prepareDeployed();
        log(
          `deployed: ${deployed.imageCommand.join(' ')} (${(deployed.bundleBytes / MiB).toFixed(1)} MiB bundle) in a ${(deployed.limitBytes / MiB).toFixed(0)} MiB memory cgroup`,
        );
      } catch (err) {
        t.status = 'failed';
        t.reason = (err as Error).message;
      }
    }
  }

  log(
    `load: ${gen.tool} ${gen.version}; ${OPTS.connections} connections, ${OPTS.rounds} round(s) x ${OPTS.durationS} s, warm-up ${OPTS.warmupS} s`,
  );
  log(
    `targets: ${targets.map((t) => `${t.def.name}${t.status === 'ok' ? '' : ` (${t.status}: ${t.reason})`}`).join(', ')}`,
  );

  // The upstream, in its own process.
  const upstreamPort = await freePort();
  const upstream = spawnServer(
    [process.execPath, join(BENCH_DIR, 'upstream.ts')],
    { ...process.env, PORT: String(upstreamPort), HOST: '127.0.0.1' },
    ROOT,
    tmpDir,
  );
  live.add(upstream);
  const upReady = await waitReady(upstream, [`http://127.0.0.1:${upstreamPort}/`], 10_000);
  log(`upstream on 127.0.0.1:${upstreamPort} (ready in ${upReady.ms.toFixed(0)} ms)`);
  if (targets.some((t) => t.def.env !== undefined)) {
    otlpSinkPort = await freePort();
    const sink = spawnServer(
      [process.execPath, join(BENCH_DIR, 'peers/otlp-sink.ts')],
      { ...process.env, PORT: String(otlpSinkPort), HOST: '127.0.0.1' },
      ROOT,
      tmpDir,
    );
    live.add(sink);
    await waitReady(sink, [`http://127.0.0.1:${otlpSinkPort}/`], 10_000);
  }

  // Start-to-ready of each sidecar, on a machine with nothing else running.
  for (const t of targets) {
    if (t.def.kind !== 'sidecar' || t.status !== 'ok' || OPTS.startRuns === 0) continue;
    for (let i = 0; i < OPTS.startRuns; i++) {
      const probe: Target = { ...t, samples: [], startMs: [], server: null, servingPids: [], servingCommand: [] };
      try {
        t.startMs.push(await startTarget(probe, upstreamPort, null));
      } catch (err) {
        t.status = 'failed';
        t.reason = `start: ${(err as Error).message}; stderr: ${stderrSummary(probe.server)}`;
      } finally {
        if (probe.server) {
          await stopServer(probe.server);
          live.delete(probe.server);
        }
      }
      if (t.status !== 'ok') break;
    }
    log(
      t.status === 'ok'
        ? `${t.def.name}: start-to-ready ${t.startMs.map((m) => m.toFixed(0)).join(', ')} ms`
        : `${t.def.name}: FAILED: ${t.reason}`,
    );
  }

  phase('startupTimingS');
  // Everything up for the load rounds.
  for (const t of targets) {
    if (t.status !== 'ok') continue;
    if (t.def.kind === 'direct') {
      t.port = upstreamPort;
      t.server = upstream;
      t.command = upstream.child.spawnargs;
      t.servingPids = [upstream.pid];
      t.servingCommand = [commandLine(upstream.pid)];
      t.startMs = [upReady.ms];
      continue;
    }
    try {
      const ms = await startTarget(t, upstreamPort, nginx);
      if (t.def.kind !== 'sidecar' || t.startMs.length === 0) t.startMs.push(ms);
      log(
        `${t.def.name}: up on :${t.port}, serving pid(s) ${t.servingPids.join(',')} (${t.servingCommand.join(' | ').slice(0, 100)})`,
      );
    } catch (err) {
      t.status = 'failed';
      t.reason = `start: ${(err as Error).message}; stderr: ${stderrSummary(t.server)}`;
      log(`${t.def.name}: FAILED to start: ${t.reason}`);
      if (t.server) await stopServer(t.server);
    }
  }
  const running = (): Target[] => targets.filter((t) => t.status === 'ok');
  deployed?.resetPeak();

  const loadOnce = async (
    t: Target,
    durationS: number,
  ): Promise<{ res: LoadResult; logLines: number | null; maxRssKiB: number | null; otherCpu: number }> => {
    const server = t.server;
    const linesBefore = server?.stdoutLines ?? 0;
    const sampler = rssSampler(t.servingPids, 250);
    const cpu0 = cpuSnapshot();
    const res = await gen.run({
      url: `http://127.0.0.1:${t.port}/`,
      connections: OPTS.connections,
      durationS,
      threads: OPTS.threads,
    });
    const otherCpu = foreignCpuShare(cpu0, cpuSnapshot(), cpus().length);
    const maxRssKiB = sampler.stop();
    await sleep(300); // let batched access logs reach the pipe
    const logLines = t.def.kind === 'direct' || !server ? null : server.stdoutLines - linesBefore;
    if (server && server.exitInfo !== null)
      throw new Error(`process exited (${server.exitInfo}) during the run; stderr: ${stderrSummary(server)}`);
    return { res, logLines, maxRssKiB, otherCpu };
  };

  phase('startTargetsS');
  // Warm-up, then interleaved rounds: A B C ... A B C ...
  if (OPTS.warmupS > 0) {
    for (const t of running()) {
      try {
        t.warmup = (await loadOnce(t, OPTS.warmupS)).res;
        log(`warm-up ${t.def.name}: ${t.warmup.rps.toFixed(0)} req/s`);
      } catch (err) {
        t.status = 'failed';
        t.reason = `warm-up: ${(err as Error).message}`;
        log(`${t.def.name}: FAILED in warm-up: ${t.reason}`);
      }
    }
  }
  phase('warmupS');
  // A run during which other processes took more than --noisy-cpu of the machine is run again
  // (--retries times at most) while the time budget allows; the noisy one is kept in the JSON.
  const runCostS = OPTS.durationS + 0.5;
  const bigCostS =
    OPTS.bigMiB > 0
      ? running().filter((t) => OPTS.bigTargets.includes(t.def.name)).length * 2 * (OPTS.bigMiB / 350 + 0.4)
      : 0;
  let retriesUsed = 0;
  for (let round = 1; round <= OPTS.rounds; round++) {
    const order = running();
    for (const [i, t] of order.entries()) {
      for (let attempt = 0; ; attempt++) {
        try {
          const { res, logLines, maxRssKiB, otherCpu } = await loadOnce(t, OPTS.durationS);
          const errors =
            res.errors.connect + res.errors.read + res.errors.write + res.errors.timeout + res.errors.status;
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
          };
          const remainingRuns = (OPTS.rounds - round) * order.length + (order.length - i - 1);
          const projectedS = (performance.now() - t0) / 1000 + runCostS * (remainingRuns + 1) + bigCostS + 5;
          const retry = otherCpu > OPTS.noisyCpu && attempt < OPTS.retries && projectedS < OPTS.budgetS;
          log(
            `round ${round}/${OPTS.rounds} ${t.def.name}: ${res.rps.toFixed(0)} req/s, p50 ${res.p50Ms.toFixed(2)} ms, p99 ${res.p99Ms.toFixed(2)} ms, errors ${errors}${logLines === null ? '' : `, log lines ${logLines}`}, other processes ${(otherCpu * 100).toFixed(0)}% CPU${retry ? ' — noisy, running it again' : ''}`,
          );
          if (retry) {
            t.noisy.push(sample);
            retriesUsed++;
            continue;
          }
          t.samples.push(sample);
        } catch (err) {
          t.status = 'failed';
          t.reason = `round ${round}: ${(err as Error).message}`;
          log(`${t.def.name}: FAILED: ${t.reason}`);
        }
        break;
      }
    }
  }
  if (retriesUsed > 0)
    notes.push(
      `${retriesUsed} run(s) were repeated because other processes used more than ${(OPTS.noisyCpu * 100).toFixed(0)}% of the CPU during them ("noisy" in the JSON).`,
    );
  for (const t of targets) {
    if (t.servingPids.length === 0 || !t.server) continue;
    t.peakRssKiB = memOf(t.servingPids)?.hwmKiB ?? null;
    t.treePeakRssKiB = memOf(processTree(t.server.pid))?.hwmKiB ?? null;
  }
  const deployedCgroupPeak = deployed?.cgroupPeakBytes() ?? null;

  phase('roundsS');
  // 1 GiB (or --big-mib) down and up through each selected target.
  const transfers: TransferRow[] = [];
  if (OPTS.bigMiB > 0) {
    const bytes = Math.round(OPTS.bigMiB * MiB);
    const timeoutMs = Math.max(15_000, Math.round((45_000 * OPTS.bigMiB) / 1024));
    for (const t of running().filter((x) => OPTS.bigTargets.includes(x.def.name))) {
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
          `${direction} ${OPTS.bigMiB} MiB via ${t.def.name}: ${r.ok ? `${row.mibPerS.toFixed(0)} MiB/s, RSS +${row.rssGrowthMiB?.toFixed(1)} MiB` : `FAILED: ${row.error}`}`,
        );
        if (!r.ok) failures.push(`${t.def.name}: ${direction} of ${OPTS.bigMiB} MiB failed: ${row.error}`);
        await sleep(100);
      }
    }
  }

  phase('bigTransfersS');
  // The overload scenario (bench/overload.ts, issue 12): its own app and Node sidecars, ~20 s.
  const overload = running().some((t) => t.def.name === 'node') ? await runOverload(log) : null;
  phase('overloadS');
  // Stop everything; a sidecar should drain and exit 0 on SIGTERM.
  for (const t of targets) {
    if (!t.server || t.def.kind === 'direct') continue;
    const t1 = performance.now();
    await stopServer(t.server, 5000);
    live.delete(t.server);
    t.exit = `${t.server.exitInfo ?? 'killed'} after ${(performance.now() - t1).toFixed(0)} ms`;
    if (t.def.kind === 'sidecar' && t.status === 'ok' && t.server.exitInfo !== 0)
      notes.push(`${t.def.name}: on SIGTERM it ended with ${t.exit} (expected exit 0 after draining).`);
  }
  await stopServer(upstream);
  live.delete(upstream);

  phase('stopS');
  // ------------------------------------------------------------ report
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
    if (r.t.status === 'failed') failures.push(`${name}: ${r.t.reason ?? 'failed'}`);
    if (r.t.status !== 'ok') continue;
    if (r.errorRate > 0.5) {
      r.t.status = 'failed';
      r.t.reason = `${(r.errorRate * 100).toFixed(0)}% of responses were errors or non-2xx`;
      failures.push(`${name}: ${r.t.reason}`);
    } else if (r.errorRate > 0.001)
      notes.push(`${name}: ${r.errors} errors/non-2xx in ${r.requests} requests (${(r.errorRate * 100).toFixed(2)}%).`);
    // wrk does not count the requests still in flight when it stops, but the proxy logs them.
    const tolerance = Math.max(0.02 * r.requests, 2 * OPTS.connections * r.t.samples.length);
    if (r.logLinesPerRequest !== null && Math.abs(r.logLinesPerRequest * r.requests - r.requests) > tolerance)
      notes.push(`${name}: ${r.logLinesPerRequest.toFixed(3)} access-log lines per request on stdout (expected 1).`);
    if (r.spread > 0.1) {
      const other = Math.max(...r.t.samples.map((x) => x.otherCpu).filter(Number.isFinite));
      notes.push(
        `${name}: req/s varied by ${(r.spread * 100).toFixed(0)}% between rounds (other processes used up to ${Number.isFinite(other) ? (other * 100).toFixed(0) : '?'}% CPU in its runs); treat its ratios with care.`,
      );
    }
  }
  const otherCpu = targets.flatMap((t) => t.samples.map((x) => x.otherCpu)).filter(Number.isFinite);
  if (otherCpu.length > 0 && Math.max(...otherCpu) > 0.05) {
    notes.push(
      `the machine was not quiet: processes outside the benchmark used up to ${(Math.max(...otherCpu) * 100).toFixed(0)}% of the CPU during a run (median ${(median(otherCpu) * 100).toFixed(0)}%); see "otherCpu" per run in the JSON.`,
    );
  }
  if (cpus().length <= 2)
    notes.push(
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

  const durationS = (performance.now() - t0) / 1000;
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
    `${cpus().length} cores (${cpus()[0]?.model ?? '?'}); load: ${versions.load}, ${OPTS.connections} connections, ${OPTS.threads} thread(s), ${OPTS.rounds} round(s) × ${OPTS.durationS} s after ${OPTS.warmupS} s warm-up; medians of the rounds.`,
  );
  out.push(
    `node ${versions.node}, bun ${versions.bun}, ${versions.deno.split('\n')[0]}, nginx ${versions.nginx} (${OPTS.nginxWorkers} worker).`,
  );
  out.push('');
  out.push(mainTable);
  const deployedRow = rows.find((r) => r.t.def.name === 'deployed' && r.t.status === 'ok');
  if (deployed && deployedRow) {
    const nodeRow = rows.find((r) => r.t.def.name === 'node' && r.t.status === 'ok');
    out.push('');
    out.push(
      `deployed = \`${deployed.imageCommand.join(' ')}\` in a ${(deployed.limitBytes / MiB).toFixed(0)} MiB memory cgroup (the manifest's limit): ${ratio(deployedRow.rps, nodeRow?.rps ?? NaN)}× the unconstrained node row's req/s, ${ratio(deployedRow.rps, ceilingRps)}× the ceiling's; p99 ${fmt(deployedRow.p99Ms, 2)} ms (ceiling ${fmt(rows.find((r) => r.t.def.name === 'ceiling')?.p99Ms, 2)} ms); cgroup peak ${deployedCgroupPeak === null ? '–' : fmt(deployedCgroupPeak / MiB, 1)} MiB (page cache included).`,
    );
  }
  if (bigTable) {
    out.push('');
    out.push(
      `${OPTS.bigMiB} MiB through each (generated, streamed; RSS growth = largest VmRSS while it streams minus VmRSS before):`,
    );
    out.push('');
    out.push(bigTable);
  }
  if (overload) out.push('', overloadTable(overload));
  out.push('');
  const allNotes = [...failures.map((f) => `FAILED ${f}`), ...notes];
  if (allNotes.length > 0) out.push(...allNotes.map((n) => `- ${n}`), '');
  out.push(`total ${durationS.toFixed(0)} s; JSON: ${OPTS.out}`);
  process.stdout.write(`${out.join('\n')}\n`);

  mkdirSync(dirname(OPTS.out), { recursive: true });
  writeFileSync(
    OPTS.out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        durationS,
        phases,
        machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? null },
        versions,
        options: OPTS,
        baseline: {
          directRps,
          bestNodePeer: bestPeer?.t.def.name ?? null,
          bestNodePeerRps: bestPeer?.rps ?? null,
          nginxRps: nginx ? nginxRps : null,
          ceilingRps: Number.isFinite(ceilingRps) ? ceilingRps : null,
        },
        deployed: deployed
          ? {
              command: deployed.imageCommand,
              memoryLimitBytes: deployed.limitBytes,
              bundleBytes: deployed.bundleBytes,
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
        notes,
        failures,
      },
      null,
      2,
    )}\n`,
  );
  log(`done in ${durationS.toFixed(0)} s${failures.length > 0 ? `; ${failures.length} failure(s)` : ''}`);
  return failures.length > 0 ? 1 : 0;
}

process.on('exit', cleanupNow);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    cleanupNow();
    process.exit(130);
  });
}

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`[bench] ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
} finally {
  for (const s of live) await stopServer(s, 2000);
  cleanupNow();
}
