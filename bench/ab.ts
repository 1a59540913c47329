// `node bench/ab.ts`: an A/B comparison of sidecar variants (V8 flags, a change of code) that holds
// up on a busy machine. Every variant runs as its own long-lived process in front of one upstream;
// rounds are interleaved (A B C, A B C, ...), and besides req/s each run reports what noise moves
// least: the serving process's own CPU time per request (utime + stime from /proc, in µs) and its
// peak RSS during that run (VmHWM, reset before each run through /proc/PID/clear_refs).
//
//   node bench/ab.ts --variant 'semi8@256=node --max-semi-space-size=8 dist/sidecar.mjs' \
//                    --variant 'free=node dist/sidecar.mjs' [--memory-limit 256] [--rounds 5]
//
// `node` in a variant is this Node binary; `row:NAME` is the command of bench/targets.ts's row NAME
// (`--variant 'node-http=row:bun' --variant 'native=row:bun-native'`); `name@MiB` runs that variant in a memory cgroup of its
// own limited to MiB (as bench/deployed.ts does; needs root), --memory-limit gives every variant
// without one that limit. Output: a table on stdout, JSON with --out.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findWrk, wrkGenerator } from './load.ts';
import { freePort, httpGet, readMem, spawnServer, spawnUpstream, stopServer, waitReady } from './proc.ts';
import type { Server } from './proc.ts';
import { option as optionOf, variantSpecs } from './variants.ts';

const ROOT = resolve(import.meta.dirname, '..');

interface Variant {
  name: string;
  argv: string[];
  env: Record<string, string>;
  limitMiB: number;
  cgroup?: string;
  server?: Server;
  port?: number;
  runs: { rps: number; p99Ms: number; cpuUsPerRequest: number; peakRssMiB: number; requests: number }[];
}

const option = (name: string, fallback: string): string => optionOf(process.argv, name, fallback);
const memoryLimitMiB = Number(option('memory-limit', '0'));
const variants: Variant[] = variantSpecs(process.argv).map((v) => ({
  name: v.name,
  argv: v.argv,
  env: v.env,
  limitMiB: v.limitMiB ?? memoryLimitMiB,
  runs: [],
}));
const rounds = Number(option('rounds', '5'));
const durationS = Number(option('duration', '3'));
const connections = Number(option('connections', '32'));
const out = option('out', '');
if (variants.length === 0)
  throw new Error(
    "usage: node bench/ab.ts --variant 'name=node flags file' ... [--rounds N] [--duration S] [--memory-limit MiB] [--out FILE]",
  );

/** utime + stime of a process, in µs (clock ticks are 100 per second on Linux). */
function cpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

const tmp = mkdtempSync(join(tmpdir(), 'sidecar-ab-'));
const wrk = findWrk();
if (!wrk) throw new Error('wrk is not installed');
const gen = wrkGenerator(tmp, wrk.version);
const servers: Server[] = [];
const ownCgroup = /^\d+:memory:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '';
try {
  const { port: upstreamPort } = await spawnUpstream(tmp, (s) => servers.push(s));
  for (const v of variants) {
    v.port = await freePort();
    const admin = await freePort();
    if (v.limitMiB > 0) {
      v.cgroup = join('/sys/fs/cgroup/memory', ownCgroup, `sidecar-ab-${process.pid}-${variants.indexOf(v)}`);
      mkdirSync(v.cgroup);
      writeFileSync(join(v.cgroup, 'memory.limit_in_bytes'), String(v.limitMiB * 1024 * 1024));
    }
    const argv = v.cgroup
      ? ['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', join(v.cgroup, 'cgroup.procs'), ...v.argv]
      : v.argv;
    const env = {
      ...process.env,
      TARGET: `http://127.0.0.1:${upstreamPort}`,
      PORT: String(v.port),
      ADMIN_PORT: String(admin),
      HOST: '127.0.0.1',
      LOG_FORMAT: 'json',
      SRV_NAME: 'ab',
      ...v.env,
    };
    v.server = spawnServer(argv, env, ROOT, tmp);
    servers.push(v.server);
    // The proxy port, not the admin one: the ceiling has no admin listener.
    await waitReady(v.server, [`http://127.0.0.1:${v.port}/`], 20_000);
    const hello = await httpGet(`http://127.0.0.1:${v.port}/`, 2000);
    if (hello.body !== 'Hello you!')
      throw new Error(`${v.name}: GET / answered ${hello.status} ${hello.body.slice(0, 80)}`);
    await gen.run({ url: `http://127.0.0.1:${v.port}/`, connections, durationS: 2, threads: 1 });
  }
  for (let round = 1; round <= rounds; round++) {
    for (const v of variants) {
      const pid = v.server?.pid ?? 0;
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
      const cpu0 = cpuUs(pid);
      const res = await gen.run({ url: `http://127.0.0.1:${v.port}/`, connections, durationS, threads: 1 });
      const cpu = cpuUs(pid) - cpu0;
      const run = {
        rps: res.rps,
        p99Ms: res.p99Ms,
        cpuUsPerRequest: cpu / res.requests,
        peakRssMiB: (readMem(pid)?.hwmKiB ?? NaN) / 1024,
        requests: res.requests,
      };
      v.runs.push(run);
      process.stderr.write(
        `[ab] round ${round} ${v.name}: ${res.rps.toFixed(0)} req/s, p99 ${res.p99Ms.toFixed(2)} ms, ${run.cpuUsPerRequest.toFixed(1)} µs CPU/req, peak RSS ${run.peakRssMiB.toFixed(1)} MiB\n`,
      );
      if (v.server?.exitInfo !== null)
        throw new Error(`${v.name} exited (${v.server?.exitInfo}): ${v.server?.stderrTail().slice(-500)}`);
    }
  }
  const base = variants[0] as Variant;
  const m = (v: Variant, key: keyof Variant['runs'][number]) => median(v.runs.map((r) => r[key]));
  const lines = [
    `| variant | memory limit | req/s | × first | p99 ms | CPU µs/req | × first | peak RSS MiB (median of runs) | max |`,
    `|---|--:|--:|--:|--:|--:|--:|--:|--:|`,
    ...variants.map(
      (v) =>
        `| ${v.name} | ${v.limitMiB > 0 ? `${v.limitMiB} MiB` : 'none'} | ${m(v, 'rps').toFixed(0)} | ${(m(v, 'rps') / m(base, 'rps')).toFixed(2)} | ${m(v, 'p99Ms').toFixed(2)} | ${m(v, 'cpuUsPerRequest').toFixed(1)} | ${(m(v, 'cpuUsPerRequest') / m(base, 'cpuUsPerRequest')).toFixed(2)} | ${m(v, 'peakRssMiB').toFixed(1)} | ${Math.max(...v.runs.map((r) => r.peakRssMiB)).toFixed(1)} |`,
    ),
  ];
  process.stdout.write(
    `${rounds} interleaved rounds × ${durationS} s, ${connections} connections; medians\n${lines.join('\n')}\n`,
  );
  if (out)
    writeFileSync(
      out,
      JSON.stringify(
        {
          rounds,
          durationS,
          connections,
          variants: variants.map(({ name, argv, limitMiB, runs }) => ({ name, argv, limitMiB, runs })),
        },
        null,
        2,
      ),
    );
} finally {
  for (const s of servers) await stopServer(s, 3000);
  for (const v of variants) if (v.cgroup) rmdirSync(v.cgroup);
  rmSync(tmp, { recursive: true, force: true });
}
