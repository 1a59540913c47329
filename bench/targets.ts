// The rows of `npm run bench`: what each one runs (TARGETS: its command and extra environment,
// what it needs), the state of each during a run, and the selection --only and --skip make.
// bench/servers.ts starts and stops them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, MiB, ROOT } from './context.ts';
import type { Run } from './context.ts';
import { DEPLOYED_TARGETS, prepareDeployedRow } from './deployed-rows.ts';
import type { LoadResult } from './load.ts';
import type { NginxInfo } from './nginx.ts';
import type { Server } from './proc.ts';
import { COMPRESSION_TARGETS } from './compression-rows.ts';
import { AUTH_TARGETS } from './auth-rows.ts';

export type Kind = 'direct' | 'sidecar' | 'peer';

export interface TargetDef {
  name: string;
  kind: Kind;
  label: string;
  /** Files that must exist for the target to run (relative to the repository root). */
  needs: string[];
  argv: (run: Run) => string[];
  /** Extra environment (the export-on row's OTLP endpoint). */
  env?: (run: Run) => Record<string, string>;
  /** Headers its load sends with every request (the auth rows' credentials: bench/auth-rows.ts). */
  headers?: (run: Run) => Record<string, string>;
  /** What its load asks for, when not `GET /` (the compression rows: bench/compression-rows.ts). */
  request?: { path: string; acceptEncoding: string };
}

export const TARGETS: TargetDef[] = [
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
    env: (run) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${run.otlpSinkPort}` }),
  },
  // The edge limits' cost (docs/edge-limits.md): every request goes through the door (client
  // address, the rate limiter's table and bucket) and the body limit's checks, and none is
  // refused: the rate is the most RATE_LIMIT_RPS allows, the body limit above any --big-mib.
  {
    name: 'node-limits',
    kind: 'sidecar',
    label: 'sidecar on Node, rate limit on (no client limited) and body limit on',
    needs: ['runtimes/node.ts'],
    argv: () => [process.execPath, 'runtimes/node.ts'],
    env: () => ({ RATE_LIMIT_RPS: '1000000', MAX_REQUEST_BODY_BYTES: String(64 * 1024 * MiB) }),
  },
  ...AUTH_TARGETS,
  {
    name: 'bun',
    kind: 'sidecar',
    label: 'sidecar on Bun (node:http)',
    needs: ['runtimes/bun.ts', 'node_modules/.bin/bun'],
    argv: () => [join(BIN, 'bun'), 'run', 'runtimes/bun.ts'],
  },
  {
    name: 'deno',
    kind: 'sidecar',
    label: 'sidecar on Deno (node:http)',
    needs: ['runtimes/deno.ts', 'node_modules/.bin/deno'],
    argv: () => [join(BIN, 'deno'), 'task', '--quiet', 'serve'],
  },
  // Bun and Deno exporting a span per request, as node-otlp does (each against its own default row).
  {
    name: 'bun-otlp',
    kind: 'sidecar',
    label: 'sidecar on Bun, export on',
    needs: ['runtimes/bun.ts', 'node_modules/.bin/bun'],
    argv: () => [join(BIN, 'bun'), 'run', 'runtimes/bun.ts'],
    env: (run) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${run.otlpSinkPort}` }),
  },
  {
    name: 'deno-otlp',
    kind: 'sidecar',
    label: 'sidecar on Deno, export on',
    needs: ['runtimes/deno.ts', 'node_modules/.bin/deno'],
    argv: () => [join(BIN, 'deno'), 'task', '--quiet', 'serve'],
    env: (run) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${run.otlpSinkPort}` }),
  },
  // Bun and Deno on their native servers, Bun.serve and Deno.serve (runtimes/bun-native.ts, deno-native.ts): the measured alternative.
  {
    name: 'bun-native',
    kind: 'sidecar',
    label: 'sidecar on Bun, Bun.serve listener',
    needs: ['runtimes/bun-native.ts', 'node_modules/.bin/bun'],
    argv: () => [join(BIN, 'bun'), 'run', 'runtimes/bun-native.ts'],
  },
  {
    name: 'deno-native',
    kind: 'sidecar',
    label: 'sidecar on Deno, Deno.serve listener',
    needs: ['runtimes/deno-native.ts', 'node_modules/.bin/deno'],
    argv: () => ['/bin/sh', '-c', denoServeCommand('runtimes/deno-native.ts')],
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
  // Each image's bundle and command inside its manifests' memory limit, Node then Bun (bench/deployed-rows.ts).
  ...DEPLOYED_TARGETS,
  {
    name: 'ceiling',
    kind: 'peer',
    label: 'node:http + undici pool.stream (the Node ceiling)',
    needs: [],
    argv: () => [process.execPath, 'bench/peers/ceiling.ts'],
  },
  ...COMPRESSION_TARGETS,
];
/** `deno task serve`'s command line (deno.json) with another entry: the same permissions, exec'd so signals reach Deno. */
export function denoServeCommand(entry: string): string {
  const tasks = (JSON.parse(readFileSync(join(ROOT, 'deno.json'), 'utf8')) as { tasks: { serve: string } }).tasks;
  return tasks.serve.replace('OTEL_DENO=false ', 'export OTEL_DENO=false; exec ').replace('runtimes/deno.ts', entry);
}

export const NODE_PEERS = ['http-proxy', 'fastify'];

export interface RunSample {
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
  /** Bytes read per response, headers included (the load generator's count). */
  bytesPerResponse: number;
}

export interface Target {
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
  /** RSS of the serving processes once every row is up, before any load (bench/servers.ts). */
  idleRssKiB: number | null;
  peakRssKiB: number | null;
  treePeakRssKiB: number | null;
  exit?: string;
}

export const running = (targets: Target[]): Target[] => targets.filter((t) => t.status === 'ok');

/** The rows asked for (direct always), each checked for what it needs; the as-deployed rows prepared. */
export async function selectTargets(run: Run, nginx: NginxInfo | null): Promise<Target[]> {
  const { only, skip } = run.opts;
  const selected = TARGETS.filter(
    (d) => d.name === 'direct' || ((only === null || only.includes(d.name)) && !skip.includes(d.name)),
  );
  const unknown = [...(only ?? []), ...skip].filter((n) => !TARGETS.some((d) => d.name === n));
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
    idleRssKiB: null,
    peakRssKiB: null,
    treePeakRssKiB: null,
  }));
  for (const t of targets) {
    const missing = t.def.needs.filter((f) => !existsSync(join(ROOT, f)));
    if (missing.length > 0) {
      t.status = 'failed';
      t.reason = `not present: ${missing.join(', ')}`;
    }
    if (t.def.name.startsWith('nginx') && !nginx) {
      t.status = 'skipped';
      t.reason = 'nginx not installed';
    }
    await prepareDeployedRow(run, t);
  }
  return targets;
}
