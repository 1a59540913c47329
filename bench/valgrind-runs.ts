// What bench/instructions.ts (cachegrind) and bench/js-instructions.ts (callgrind) share: Valgrind
// being there, one upstream for all variants, a variant started under Valgrind the way ab.ts
// starts it, and the listing of instructions per request by function, the first variant's largest
// and each other's largest differences from it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, httpGet, spawnServer, spawnUpstream, stopServer, waitReady } from './proc.ts';
import type { Server } from './proc.ts';
import type { VariantSpec } from './variants.ts';

const ROOT = resolve(import.meta.dirname, '..');

/** Throws, naming the Debian package, unless each tool answers `--version`. */
export function requireValgrind(tools: string[] = ['valgrind']): void {
  for (const tool of tools)
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is not installed (Debian: apt-get install valgrind)`);
    }
}

/** Runs `body` with bench/upstream.ts listening, then stops it. */
export async function withUpstream(body: (upstreamPort: number) => Promise<void>): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'sidecar-valgrind-up-'));
  let upstream: Server | undefined;
  try {
    const { port } = await spawnUpstream(tmp, (s) => (upstream = s));
    await body(port);
  } finally {
    if (upstream) await stopServer(upstream);
    rmSync(tmp, { recursive: true, force: true });
  }
}

export interface Started {
  server: Server;
  port: number;
  /** The variant's environment as started (its HOST included). */
  env: NodeJS.ProcessEnv;
}

/**
 * The variant's command behind `valgrind` (the tool's flags in `valgrind`), in front of the
 * upstream, its output in `dir`; resolves once it answers GET / with "Hello you!". Under Valgrind
 * a start takes tens of seconds.
 */
export async function startUnder(
  valgrind: string[],
  v: VariantSpec,
  argv: string[],
  upstreamPort: number,
  dir: string,
): Promise<Started> {
  const port = await freePort();
  const env = {
    ...process.env,
    TARGET: `http://127.0.0.1:${upstreamPort}`,
    PORT: String(port),
    ADMIN_PORT: String(await freePort()),
    HOST: '127.0.0.1',
    LOG_FORMAT: 'json',
    ...v.env,
  };
  const server = spawnServer([...valgrind, ...argv], env, ROOT, dir);
  try {
    await waitReady(server, [`http://127.0.0.1:${port}/`], 120_000);
    const hello = await httpGet(`http://127.0.0.1:${port}/`, 10_000);
    if (hello.body !== 'Hello you!') throw new Error(`GET / answered ${hello.status} ${hello.body.slice(0, 80)}`);
  } catch (error) {
    await stopServer(server, 1000);
    throw error;
  }
  return { server, port, env };
}

/** Per variant, instructions per request by function: the first's `top` largest, each other's `top` largest differences from it. */
export function printByFunction(rows: { name: string; byFunction: Map<string, number> }[], top: number): void {
  const first = rows[0];
  if (!first) return;
  for (const r of rows) {
    const delta = (fn: string) => (r.byFunction.get(fn) ?? 0) - (r === first ? 0 : (first.byFunction.get(fn) ?? 0));
    const names = new Set([...r.byFunction.keys(), ...(r === first ? [] : first.byFunction.keys())]);
    const listed = [...names].sort((a, b) => Math.abs(delta(b)) - Math.abs(delta(a))).slice(0, top);
    console.log(`\n${r.name}${r === first ? '' : ` against ${first.name}`}: instructions per request by function`);
    for (const fn of listed) console.log(`${delta(fn).toFixed(0).padStart(9)}  ${fn.slice(0, 160)}`);
  }
}
