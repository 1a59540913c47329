// `npm run bench`'s options: each a flag and an env variable (bench/README.md), checked once;
// `--help` prints them and exits 0, a bad one exits 2 with one line saying which.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadTool } from './load.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Options {
  only: string[] | null;
  skip: string[];
  durationS: number;
  rounds: number;
  warmupS: number;
  connections: number;
  threads: number;
  bigMiB: number;
  bigTargets: string[];
  startRuns: number;
  load: LoadTool | null;
  nginxWorkers: number;
  retries: number;
  noisyCpu: number;
  budgetS: number;
  out: string;
}

const HELP = `usage: node bench/run.ts [options]      (each option also as an env variable)
  --only a,b          BENCH_ONLY        targets to run (direct is always run: it is the baseline)
  --skip a,b          BENCH_SKIP        targets to leave out
  --duration S        BENCH_DURATION    seconds per measured run (8)
  --rounds N          BENCH_ROUNDS      interleaved rounds; medians are reported (3)
  --warmup S          BENCH_WARMUP      seconds of warm-up per target before the rounds (3)
  --connections N     BENCH_CONNECTIONS concurrent connections (32)
  --threads N         BENCH_THREADS     wrk threads (1)
  --big-mib N         BENCH_BIG_MIB     size of the big download/upload, 0 to skip (1024)
  --big-targets a,b   BENCH_BIG_TARGETS targets that get the big transfers (direct,node,bun,deno,deployed)
  --start-runs N      BENCH_START_RUNS  extra spawns per sidecar to time start-to-ready (3)
  --load wrk|autocannon BENCH_LOAD      force a load generator (default: wrk if installed)
  --nginx-workers N   BENCH_NGINX_WORKERS nginx worker processes (1, like one event loop)
  --retries N         BENCH_RETRIES     repeat a run once more when it was noisy, at most N times (1)
  --noisy-cpu P       BENCH_NOISY_CPU   noisy = other processes used over P% of the machine (10)
  --budget S          BENCH_BUDGET      no repeats once they would push the run past S seconds (280)
  --out FILE          BENCH_OUT         JSON report (bench/results/latest.json)
  --quick                               smoke run: 2 s runs, 1 round, 1 s warm-up, 128 MiB, 1 start run, no repeats
targets: ${'direct, node, node-otlp, node-limits, node-jwt, node-session, bun, deno, bun-otlp, deno-otlp, http-proxy, fastify, nginx, deployed, deployed-bun, ceiling, node-gzip, node-br, nginx-gzip'}
`;

const KNOWN_FLAGS = [
  'quick',
  'only',
  'skip',
  'duration',
  'rounds',
  'warmup',
  'connections',
  'threads',
  'big-mib',
  'big-targets',
  'start-runs',
  'load',
  'nginx-workers',
  'retries',
  'noisy-cpu',
  'budget',
  'out',
];

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      process.exit(0);
    }
    if (a === '--quick') {
      flags.set('quick', '1');
      continue;
    }
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(a);
    if (!m?.[1]) throw new Error(`unknown argument ${a}\n${HELP}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    flags.set(m[1], value);
  }
  const quick = flags.has('quick') || env.BENCH_QUICK === '1';
  const get = (flag: string, envName: string): string | undefined => flags.get(flag) ?? env[envName];
  const num = (flag: string, envName: string, dflt: number, quickValue: number, min: number): number => {
    const raw = get(flag, envName);
    if (raw === undefined || raw === '') return quick ? quickValue : dflt;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`${flag}/${envName}: expected a number >= ${min}, got ${raw}`);
    return n;
  };
  const list = (flag: string, envName: string): string[] | null => {
    const raw = get(flag, envName);
    return raw
      ? raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : null;
  };
  const load = get('load', 'BENCH_LOAD');
  if (load !== undefined && load !== 'wrk' && load !== 'autocannon')
    throw new Error(`--load: wrk or autocannon, got ${load}`);
  for (const f of flags.keys()) {
    if (!KNOWN_FLAGS.includes(f)) throw new Error(`unknown option --${f}\n${HELP}`);
  }
  return {
    only: list('only', 'BENCH_ONLY'),
    skip: list('skip', 'BENCH_SKIP') ?? [],
    durationS: num('duration', 'BENCH_DURATION', 8, 2, 1),
    rounds: Math.floor(num('rounds', 'BENCH_ROUNDS', 3, 1, 1)),
    warmupS: num('warmup', 'BENCH_WARMUP', 3, 1, 0),
    connections: Math.floor(num('connections', 'BENCH_CONNECTIONS', 32, 32, 1)),
    threads: Math.floor(num('threads', 'BENCH_THREADS', 1, 1, 1)),
    bigMiB: num('big-mib', 'BENCH_BIG_MIB', 1024, 128, 0),
    bigTargets: list('big-targets', 'BENCH_BIG_TARGETS') ?? ['direct', 'node', 'bun', 'deno', 'deployed'],
    startRuns: Math.floor(num('start-runs', 'BENCH_START_RUNS', 3, 1, 0)),
    load: load ?? null,
    nginxWorkers: Math.floor(num('nginx-workers', 'BENCH_NGINX_WORKERS', 1, 1, 1)),
    retries: Math.floor(num('retries', 'BENCH_RETRIES', 1, 0, 0)),
    noisyCpu: num('noisy-cpu', 'BENCH_NOISY_CPU', 10, 10, 0) / 100,
    budgetS: num('budget', 'BENCH_BUDGET', 280, 40, 10),
    out: resolve(ROOT, get('out', 'BENCH_OUT') ?? 'bench/results/latest.json'),
  };
}

/** The options of this process, or its end: exit 2 with the reason on stderr. */
export function loadOptions(): Options {
  try {
    return parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
}
