// The load generator: wrk when installed (one thread, so the servers keep the rest of the CPU),
// else autocannon from npm, run in a child process so it never shares the orchestrator's loop.
// Both give the same result shape. Every run is bounded by its duration and a hard kill timer.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type LoadTool = 'wrk' | 'autocannon';

export interface LoadOptions {
  url: string;
  connections: number;
  durationS: number;
  threads: number;
  /** Extra request headers (Accept-Encoding on the compression rows). */
  headers?: Record<string, string>;
}

export interface LoadResult {
  tool: LoadTool;
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Bytes read from the sockets, headers included. */
  bytes: number;
  /** Socket errors (connect/read/write/timeout) plus responses that were not 2xx/3xx. */
  errors: { connect: number; read: number; write: number; timeout: number; status: number };
}

export function findWrk(): { bin: string; version: string } | null {
  let text: string;
  try {
    // `wrk -v` prints its version and usage, then exits 1.
    text = execFileSync('wrk', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') return null;
    text = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  return { bin: 'wrk', version: /^wrk\s+(\S+)/m.exec(text)?.[1] ?? 'unknown' };
}

// wrk's Lua `done` hook hands over the exact counts and histogram (microseconds), so nothing is
// lost to wrk's rounded text output. Only `done` is defined: no per-request Lua cost.
const WRK_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%.0f,"bytes":%.0f,"duration_us":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

function run(
  cmd: string,
  args: string[],
  killAfterMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4096)));
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function durationMs(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text ?? '');
  return m ? Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1) : NaN;
}

/** Parses wrk's output: the Lua JSON line when present, else wrk's own text report. */
export function parseWrk(out: string): LoadResult {
  const json = /^WRK_JSON (\{.*\})$/m.exec(out);
  if (json?.[1]) {
    const j = JSON.parse(json[1]) as Record<string, number>;
    const n = (k: string): number => j[k] ?? NaN;
    const durationS = n('duration_us') / 1e6;
    return {
      tool: 'wrk',
      requests: n('requests'),
      durationS,
      rps: n('requests') / durationS,
      p50Ms: n('p50_us') / 1000,
      p90Ms: n('p90_us') / 1000,
      p99Ms: n('p99_us') / 1000,
      maxMs: n('max_us') / 1000,
      bytes: n('bytes'),
      errors: { connect: n('connect'), read: n('read'), write: n('write'), timeout: n('timeout'), status: n('status') },
    };
  }
  const pct = (p: string): number => durationMs(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out)?.[1]);
  const total = /(\d+) requests in ([\d.]+\w+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const requests = Number(total?.[1] ?? NaN);
  const durationS = durationMs(total?.[2]) / 1000;
  return {
    tool: 'wrk',
    requests,
    durationS,
    rps: requests / durationS,
    p50Ms: pct('50'),
    p90Ms: pct('90'),
    p99Ms: pct('99'),
    maxMs: durationMs(/^\s*Latency\s+\S+\s+\S+\s+(\S+)/m.exec(out)?.[1]),
    bytes: NaN,
    errors: {
      connect: Number(sock?.[1] ?? 0),
      read: Number(sock?.[2] ?? 0),
      write: Number(sock?.[3] ?? 0),
      timeout: Number(sock?.[4] ?? 0),
      status: Number(non2xx?.[1] ?? 0),
    },
  };
}

export interface LoadGenerator {
  tool: LoadTool;
  version: string;
  run: (opts: LoadOptions) => Promise<LoadResult>;
}

export function wrkGenerator(tmpDir: string, version: string): LoadGenerator {
  const script = join(tmpDir, 'report.lua');
  writeFileSync(script, WRK_LUA);
  return {
    tool: 'wrk',
    version,
    run: async (o) => {
      const args = [
        '-t',
        String(o.threads),
        '-c',
        String(o.connections),
        '-d',
        `${o.durationS}s`,
        '--timeout',
        '5s',
        '--latency',
        '-s',
        script,
        ...Object.entries(o.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
        o.url,
      ];
      const r = await run('wrk', args, o.durationS * 1000 + 20_000);
      if (r.code !== 0) throw new Error(`wrk exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
      const res = parseWrk(r.stdout);
      if (!Number.isFinite(res.rps)) throw new Error(`could not parse wrk output:\n${r.stdout}`);
      return res;
    },
  };
}

interface AutocannonChildOptions {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  durationS: number;
}

export function autocannonGenerator(version: string): LoadGenerator {
  const self = fileURLToPath(import.meta.url);
  return {
    tool: 'autocannon',
    version,
    run: async (o) => {
      const arg: AutocannonChildOptions = {
        url: o.url,
        headers: o.headers,
        connections: o.connections,
        durationS: o.durationS,
      };
      const r = await run(process.execPath, [self, '--autocannon', JSON.stringify(arg)], o.durationS * 1000 + 20_000);
      const line = /^AC_JSON (\{.*\})$/m.exec(r.stdout)?.[1];
      if (r.code !== 0 || line === undefined) throw new Error(`autocannon exited ${r.code}: ${r.stderr.trim()}`);
      return JSON.parse(line) as LoadResult;
    },
  };
}

/** Child-process side of the autocannon generator. */
async function autocannonChild(arg: AutocannonChildOptions): Promise<void> {
  const { default: autocannon } = await import('autocannon');
  const r = await autocannon({
    url: arg.url,
    ...(arg.headers && { headers: arg.headers }),
    connections: arg.connections,
    duration: arg.durationS,
    pipelining: 1,
    timeout: 5,
  });
  const result: LoadResult = {
    tool: 'autocannon',
    requests: r.requests.total,
    durationS: r.duration,
    rps: r.requests.total / r.duration,
    p50Ms: r.latency.p50,
    p90Ms: r.latency.p90,
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    bytes: r.throughput.total,
    // autocannon counts timeouts inside `errors`; the socket error kinds are not split further.
    errors: { connect: 0, read: r.errors - r.timeouts, write: 0, timeout: r.timeouts, status: r.non2xx - r['3xx'] },
  };
  process.stdout.write(`AC_JSON ${JSON.stringify(result)}\n`);
}

if (import.meta.main && process.argv[2] === '--autocannon') {
  await autocannonChild(JSON.parse(process.argv[3] ?? '{}') as AutocannonChildOptions);
}

/**
 * Exactly `count` GETs of / over `connections` keep-alive connections, as fast as they are answered;
 * throws on anything but 200. For counting (bench/instructions.ts, bench/js-instructions.ts), where
 * wrk's time-bound runs would send a different number each time.
 */
export async function countedGets(port: number, count: number, connections: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let sent = 0;
  const one = (): Promise<void> =>
    new Promise((done, fail) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? done() : fail(new Error(`GET / answered ${res.statusCode}`))));
        })
        .on('error', fail);
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (sent < count) {
        sent++;
        await one();
      }
    }),
  );
  agent.destroy();
}
