// Process plumbing for the benchmark: free ports, spawned servers whose stdout goes to a sink that
// counts lines and discards them, /proc memory readings, and finding the process that serves.
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A spawned server. Its stdout is a FIFO that the orchestrator reads and throws away, the same
 *  sink for every target; a FIFO because that is what a container's stdout is (containerd), and
 *  because nginx can open /dev/stdout on a pipe but not on the socketpair Node's 'pipe' gives.
 *  Newlines are counted so the report can check "one access-log line per request". */
export interface Server {
  child: ChildProcess;
  pid: number;
  spawnedAt: number;
  stdoutLines: number;
  stderrTail: () => string;
  exited: Promise<number | string>;
  exitInfo: number | string | null;
  /** Read end of the stdout FIFO; closed by stopServer. */
  stdout: net.Socket;
}

let fifoCount = 0;

function stdoutFifo(dir: string): { writeFd: number; reader: net.Socket } {
  const path = join(dir, `stdout-${process.pid}-${fifoCount++}.fifo`);
  execFileSync('mkfifo', ['-m', '600', path]);
  // Reader first, non-blocking, so opening the write end does not wait.
  const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeFd = openSync(path, constants.O_WRONLY);
  return { writeFd, reader: new net.Socket({ fd: readFd, readable: true, writable: false }) };
}

export function spawnServer(argv: string[], env: NodeJS.ProcessEnv, cwd: string, fifoDir: string): Server {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  const { writeFd, reader } = stdoutFifo(fifoDir);
  const spawnedAt = performance.now();
  // detached: its own process group, so stopping it reaches wrappers' children too (deno task).
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { cwd, env, stdio: ['ignore', writeFd, 'pipe'], detached: true });
  } finally {
    closeSync(writeFd);
  }
  let stderr = '';
  const server: Server = {
    child,
    pid: child.pid ?? -1,
    spawnedAt,
    stdoutLines: 0,
    stderrTail: () => stderr,
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
      child.once('error', (err) => resolve(`spawn error: ${err.message}`));
    }),
    exitInfo: null,
    stdout: reader,
  };
  void server.exited.then((v) => {
    server.exitInfo = v;
  });
  reader.on('data', (chunk: Buffer) => {
    let i = -1;
    while ((i = chunk.indexOf(10, i + 1)) !== -1) server.stdoutLines++;
  });
  reader.on('error', () => undefined);
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    stderr = (stderr + s).slice(-8192);
  });
  return server;
}

/** Resolves 'timeout' after `ms` unless `p` settles first; leaves no timer behind. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** SIGTERM to the process we started (as Kubernetes signals a container's PID 1: a wrapper such as
 *  `deno task` must pass it on), then SIGKILL to its whole process group if it has not exited after
 *  `graceMs`, and to whatever of the group is left once it has. */
export async function stopServer(server: Server, graceMs = 3000): Promise<void> {
  if (server.exitInfo === null && server.pid > 0) {
    const signalGroup = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-server.pid, sig);
      } catch {
        // already gone
      }
    };
    try {
      process.kill(server.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    if ((await within(server.exited, graceMs)) === 'timeout') {
      signalGroup('SIGKILL');
      await within(server.exited, 1000);
    }
    // Children of wrappers (deno task) may outlive the wrapper: make sure the group is gone.
    signalGroup('SIGKILL');
  }
  server.stdout.destroy();
}

/** Synchronous last resort, for process 'exit'. */
export function killGroupNow(server: Server): void {
  if (server.exitInfo !== null || server.pid <= 0) return;
  try {
    process.kill(-server.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export interface HttpAnswer {
  status: number;
  body: string;
}

export function httpGet(url: string, timeoutMs = 1000, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => {
        if (body.length < 4096) body += s;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Polls the first of `urls` until it answers 200; returns ms since spawn and the URL that answered.
 *  A URL answering 404 is dropped for the next (e.g. /readyz not implemented yet: use /healthz). */
export async function waitReady(
  server: Server,
  urls: string[],
  timeoutMs: number,
): Promise<{ ms: number; url: string }> {
  const deadline = performance.now() + timeoutMs;
  const candidates = [...urls];
  let last = 'no answer';
  while (performance.now() < deadline) {
    if (server.exitInfo !== null) throw new Error(`exited (${server.exitInfo}) before ready`);
    const url = candidates[0];
    if (url === undefined) break;
    try {
      const { status } = await httpGet(url, 500);
      if (status === 200) return { ms: performance.now() - server.spawnedAt, url };
      last = `${url} answered ${status}`;
      if (status === 404 && candidates.length > 1) {
        candidates.shift();
        continue;
      }
    } catch (err) {
      last = `${url}: ${(err as Error).message}`;
    }
    await sleep(5);
  }
  throw new Error(`not ready within ${timeoutMs} ms (last: ${last})`);
}

export interface Mem {
  rssKiB: number;
  hwmKiB: number;
}

export function readMem(pid: number): Mem | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
    if (!rss || !hwm) return null;
    return { rssKiB: Number(rss[1]), hwmKiB: Number(hwm[1]) };
  } catch {
    return null;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const list = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (list) out.push(...list.split(/\s+/).map(Number));
    } catch {
      // task gone
    }
  }
  return out;
}

export function processTree(root: number): number[] {
  const seen: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift();
    if (pid === undefined || seen.includes(pid)) continue;
    seen.push(pid);
    queue.push(...childrenOf(pid));
  }
  return seen;
}

function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // f[1] local address:port, f[3] state (0A = LISTEN), f[9] inode
      if (f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A' && f[9]) inodes.add(f[9]);
    }
  }
  return inodes;
}

/** The processes that actually serve `port`: in the tree under `root`, those holding the listening
 *  socket, minus any whose descendant holds it too (a `deno task` wrapper, an nginx master). */
export function servingPids(root: number, port: number): number[] {
  const inodes = listeningInodes(port);
  const holders = new Set<number>();
  for (const pid of processTree(root)) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1] !== undefined && inodes.has(m[1])) {
          holders.add(pid);
          break;
        }
      } catch {
        // fd closed meanwhile
      }
    }
  }
  const leaves = [...holders].filter((pid) => !processTree(pid).some((d) => d !== pid && holders.has(d)));
  return leaves.length > 0 ? leaves : [root];
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '?';
  }
}

/** CPU time in clock ticks: the whole machine's busy time, and the benchmark's own (this process,
 *  every process under it, and its children already reaped, such as a finished wrk). */
export interface CpuSnapshot {
  at: number;
  machineBusy: number;
  bench: number;
}

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

export function cpuSnapshot(): CpuSnapshot {
  let machineBusy = 0;
  try {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal. Not idle/iowait, and not irq/softirq either:
    // loopback traffic is processed in softirq, charged to no process, and that traffic is ours.
    // Steal (the hypervisor running someone else) does count as interference.
    machineBusy = [0, 1, 2, 7].reduce((a, i) => a + (f[i] || 0), 0);
  } catch {
    // no /proc/stat
  }
  let bench = 0;
  for (const pid of processTree(process.pid)) {
    const f = statFields(pid);
    // after ')': [0]=state ... utime=[11] stime=[12] cutime=[13] cstime=[14]
    if (!f) continue;
    bench += Number(f[11] ?? 0) + Number(f[12] ?? 0);
    if (pid === process.pid) bench += Number(f[13] ?? 0) + Number(f[14] ?? 0);
  }
  return { at: performance.now(), machineBusy, bench };
}

/** Share of the machine's CPU (0..1 of all cores) that processes outside the benchmark used. */
export function foreignCpuShare(a: CpuSnapshot, b: CpuSnapshot, cores: number): number {
  const ticksPerS = 100; // USER_HZ, 100 on Linux
  const capacity = ((b.at - a.at) / 1000) * ticksPerS * cores;
  if (capacity <= 0) return NaN;
  return Math.max(0, (b.machineBusy - a.machineBusy - (b.bench - a.bench)) / capacity);
}

/**
 * The benchmark's upstream (bench/upstream.ts) in its own process on a free port, ready. `onSpawn`
 * gets it before it is ready, so a caller can stop it if it never is.
 */
export async function spawnUpstream(
  fifoDir: string,
  onSpawn: (server: Server) => void = () => {},
): Promise<{ server: Server; port: number; readyMs: number }> {
  const port = await freePort();
  const server = spawnServer(
    [process.execPath, join(import.meta.dirname, 'upstream.ts')],
    { ...process.env, PORT: String(port), HOST: '127.0.0.1' },
    join(import.meta.dirname, '..'),
    fifoDir,
  );
  onSpawn(server);
  const ready = await waitReady(server, [`http://127.0.0.1:${port}/`], 10_000);
  return { server, port, readyMs: ready.ms };
}
