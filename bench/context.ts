// What every step of a benchmark run shares: the repository's paths, the progress log on stderr,
// and the run itself (its options, clock, temporary directory, live processes, notes, failures).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuthRig } from './auth-rows.ts';
import type { Deployed } from './deployed.ts';
import type { Options } from './options.ts';
import { killGroupNow } from './proc.ts';
import type { Server } from './proc.ts';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(BENCH_DIR, '..');
export const BIN = join(ROOT, 'node_modules', '.bin');
export const MiB = 1024 * 1024;

export const log = (msg: string): void => {
  process.stderr.write(`[bench] ${msg}\n`);
};

export function toolVersion(bin: string, args: string[]): string {
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

export class Run {
  readonly opts: Options;
  /** Every process started and not yet stopped: killed on exit, whatever happened. */
  readonly live = new Set<Server>();
  readonly notes: string[] = [];
  readonly failures: string[] = [];
  /** Seconds per phase, in the order they ran. */
  readonly phases: Record<string, number> = {};
  t0 = 0;
  #phaseStart = 0;
  tmpDir = '';
  /** Where the export-on row sends its spans: the OTLP sink, started with the upstream. */
  otlpSinkPort = 0;
  /** The as-deployed rows prepared (bench/deployed-rows.ts), by row name. */
  readonly deployed = new Map<string, Deployed>();
  /** The stand-in IdP and credentials of the auth rows, when one runs. */
  auth: AuthRig | null = null;

  constructor(opts: Options) {
    this.opts = opts;
  }

  /** The clock starts; the temporary directory (FIFOs, nginx's config) is made. */
  begin(): void {
    this.t0 = performance.now();
    this.#phaseStart = this.t0;
    this.tmpDir = mkdtempSync(join(tmpdir(), 'sidecar-bench-'));
  }

  /** The phase that ends now, timed since the previous one ended. */
  phase(name: string): void {
    const now = performance.now();
    this.phases[name] = Math.round(now - this.#phaseStart) / 1000;
    this.#phaseStart = now;
  }

  /** Seconds since begin(). */
  elapsedS(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Synchronous, so that it also runs on exit: processes killed, files removed. */
  cleanupNow(): void {
    for (const s of this.live) killGroupNow(s);
    this.auth?.close();
    if (this.tmpDir) rmSync(this.tmpDir, { recursive: true, force: true });
    for (const deployed of this.deployed.values()) deployed.remove();
  }
}
