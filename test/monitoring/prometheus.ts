/**
 * A real Prometheus (Debian's, found or installed by ../support/system-tool.ts) for tests: its own temporary directory and
 * storage, 127.0.0.1 only, scraping the targets given every second and evaluating the rule files
 * given every second. It fails, never skips, when it cannot start.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { closedPort } from '../support/sidecar.ts';
import { requireTool, systemTools } from '../support/system-tool.ts';

export interface QueryResult {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

export interface Prometheus {
  url: string;
  dir: string;
  query(expr: string): Promise<QueryResult>;
  /** Polls an expression until `done` holds for its result; bounded, never a fixed sleep. */
  until(expr: string, done: (result: QueryResult) => boolean, what: string, timeoutMs?: number): Promise<QueryResult>;
  get<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startPrometheus(options: {
  targets: string[];
  labels: Record<string, string>;
  ruleFiles: string[];
  more?: { targets: string[]; labels: Record<string, string> }[];
}): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-prometheus-'));
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: options.ruleFiles,
    scrape_configs: [
      {
        job_name: 'sidecar',
        static_configs: [{ targets: options.targets, labels: options.labels }, ...(options.more ?? [])],
      },
    ],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = await closedPort();
  const url = `http://127.0.0.1:${port}`;
  const binary = await requireTool(systemTools.prometheus);
  const child = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  let exited: string | undefined;
  const gone = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `exited (code ${code}, signal ${signal})`;
      running.delete(child);
      resolve();
    });
    child.once('error', (error) => {
      exited = `could not be spawned: ${error.message}`;
      running.delete(child);
      resolve();
    });
  });

  const poll = async <T>(probe: () => Promise<T | undefined>, what: string, timeoutMs: number): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited) throw new Error(`prometheus ${exited} while waiting for ${what}:\n${stderr}`);
      const value = await probe().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; prometheus stderr:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  const query = async (expr: string): Promise<QueryResult> => {
    const response = await fetch(`${url}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: expr }) });
    return (await response.json()) as QueryResult;
  };

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await poll(async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined), 'prometheus to be ready', 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    dir,
    query,
    until: (expr, done, what, timeoutMs = 20_000) =>
      poll(
        async () => {
          const result = await query(expr);
          return done(result) ? result : undefined;
        },
        what,
        timeoutMs,
      ),
    get: async <T>(path: string) => (await (await fetch(`${url}${path}`)).json()) as T,
    stop,
  };
}
