/**
 * Starts the real sidecar exactly as users run it on each runtime, and reads it the way an operator
 * would: the listening line on stderr, access-log lines on stdout.
 *
 *   node  node runtimes/node.ts             (this Node binary: process.execPath)
 *   bun   node_modules/.bin/bun run runtimes/bun.ts
 *   deno  node_modules/.bin/deno task --quiet serve
 *   node-bundle  node [the image's V8 flags] dist/sidecar.mjs   (the image's command; built first)
 *
 * A process that exits, or never prints its listening line, makes startSidecar reject with its
 * stderr: a runtime that cannot start fails its tests, it is never skipped.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleFile } from '../../scripts/build.ts';
import { entryOf, nodeOptionsOf, readImage } from '../deploy/project.ts';
import type { ImageFacts } from '../deploy/project.ts';
import { waitUntil } from './wait.ts';

/** `node-bundle`: the Node sidecar as the image runs it, dist/sidecar.mjs with the image's V8 flags (scripts/build.ts builds it). */
export type Runtime = 'node' | 'bun' | 'deno' | 'node-bundle' | 'bun-native' | 'deno-native';
export const runtimes: readonly Runtime[] = ['node', 'bun', 'deno'];

export const repoRoot = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

const START_TIMEOUT = 15_000;
const STOP_TIMEOUT = 10_000;
const LOG_TIMEOUT = 10_000;

export const listeningLine = /listening on (\S+):(\d+) \(admin (\S+):(\d+)\)/;

export function commandFor(runtime: Runtime): { command: string; args: string[]; env?: Record<string, string> } {
  switch (runtime) {
    case 'node':
      return { command: process.execPath, args: ['runtimes/node.ts'] };
    case 'bun':
      return { command: path.join(repoRoot, 'node_modules/.bin/bun'), args: ['run', 'runtimes/bun.ts'] };
    case 'deno':
      // --quiet: without it `deno task` writes its own coloured "Task serve ..." line to the sidecar's stderr.
      return { command: path.join(repoRoot, 'node_modules/.bin/deno'), args: ['task', '--quiet', 'serve'] };
    // The measured alternatives (runtimes/bun-native.ts, runtimes/deno-native.ts): Bun.serve and Deno.serve as the listener.
    case 'bun-native':
      return { command: path.join(repoRoot, 'node_modules/.bin/bun'), args: ['run', 'runtimes/bun-native.ts'] };
    case 'deno-native':
      return {
        command: '/bin/sh',
        args: [
          '-c',
          denoServeTask()
            .replace('OTEL_DENO=false ', 'export OTEL_DENO=false; exec ')
            .replace('runtimes/deno.ts', 'runtimes/deno-native.ts'),
        ],
      };
    case 'node-bundle': {
      const image = readImage('deploy/sidecar.Dockerfile');
      return { command: process.execPath, args: imageCommand(image).slice(1), env: image.env };
    }
  }
}

/** `deno task serve`'s command line (deno.json), for a variant that runs another entry with the same permissions. */
export function denoServeTask(): string {
  const tasks = (JSON.parse(readFileSync(path.join(repoRoot, 'deno.json'), 'utf8')) as { tasks: { serve: string } })
    .tasks;
  return tasks.serve;
}

/** The sidecar image's command (`node [flags] dist/sidecar.mjs`), read from its Dockerfile. */
function imageCommand(image: ImageFacts): string[] {
  const entry = entryOf(image);
  if (entry !== bundleFile || !image.command)
    throw new Error(`deploy/sidecar.Dockerfile runs ${JSON.stringify(image.command)}, not node [flags] ${bundleFile}`);
  return ['node', ...nodeOptionsOf(image), entry];
}

/**
 * Only what a runtime needs to find itself and its caches, plus the test's variables: nothing from
 * the developer's shell (a stray PORT or TARGET) leaks into the sidecar under test.
 */
function environment(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = { NO_COLOR: '1', HOST: '127.0.0.1', PORT: '0', ADMIN_PORT: '0' };
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'DENO_DIR', 'BUN_INSTALL', 'XDG_CACHE_HOME']) {
    const value = process.env[name];
    if (value !== undefined) base[name] = value;
  }
  return { ...base, ...env };
}

/** Every process group started here, killed if the test worker exits without stopping it. */
const live = new Set<number>();
process.on('exit', () => {
  for (const pid of live) killGroup(pid, 'SIGKILL');
});

function killGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function spawnRuntime(runtime: Runtime, env: Record<string, string>): ChildProcess {
  const { command, args, env: imageEnv } = commandFor(runtime);
  // Its own process group, so `deno task`'s child and any helper go down with it.
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: environment({ ...imageEnv, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  if (child.pid !== undefined) {
    const pid = child.pid;
    live.add(pid);
    child.once('exit', () => {
      // Whatever the runtime left behind in its group goes too.
      killGroup(pid, 'SIGKILL');
      live.delete(pid);
    });
  }
  return child;
}

export type LogEntry = Record<string, unknown>;

export interface Sidecar {
  runtime: Runtime;
  /** The spawned process (for `deno task`, the wrapper: its child serves; bench/proc.ts servingPids finds it). */
  pid: number | undefined;
  env: Record<string, string>;
  /** http://host:port of the proxied listener, and of the admin listener. */
  url: string;
  host: string;
  port: number;
  adminUrl: string;
  /** The line announcing the listeners (from stderr). */
  listening: string;
  /** Every complete stdout line so far, raw. */
  stdoutLines: string[];
  /** Every stdout line parsed as JSON (a line that is not a JSON object becomes {unparsable: line}). */
  logs(): LogEntry[];
  /** All of stderr so far. */
  stderr(): string;
  /** Resolves when at least n stdout lines were written; bounded. */
  waitForLogLines(n: number): Promise<string[]>;
  /** The first stdout line satisfying `match`; bounded. */
  waitForLine(match: (line: string) => boolean, what: string): Promise<string>;
  /** Resolves once stderr holds a line matching `pattern` (the sidecar's own messages); bounded. */
  waitForStderr(pattern: RegExp, what: string): Promise<string>;
  /** The first JSON access-log entry satisfying `match`; bounded. */
  waitForLog(match: (entry: LogEntry) => boolean, what: string): Promise<LogEntry>;
  /** Stops reading the sidecar's stdout (its pipe fills up, as with a stuck log shipper), and starts again. */
  pauseStdout(): void;
  resumeStdout(): void;
  /** Whether the process has exited (it should not while tests run). */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Sends a signal to the runtime process (not its group: `deno task` passes it on once). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL if it has not exited after a bounded wait. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function parseLogLine(line: string): LogEntry {
  try {
    const value: unknown = JSON.parse(line);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as LogEntry;
  } catch {
    // Not JSON: reported below as unparsable.
  }
  return { unparsable: line };
}

export async function startSidecar(runtime: Runtime, env: Record<string, string>): Promise<Sidecar> {
  const child = spawnRuntime(runtime, env);
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const stdoutLines: string[] = [];
  let partial = '';
  let stderr = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    if (parts.length === 0) return;
    stdoutLines.push(...parts);
    events.emit('change');
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr += text;
    events.emit('change');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      events.emit('change');
      resolve(exit);
    });
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  const failure = (why: string) =>
    new Error(
      `${runtime} sidecar ${why}.\ncommand: ${JSON.stringify(commandFor(runtime))}\nenv: ${JSON.stringify(env)}\nstderr:\n${stderr}\nstdout:\n${stdoutLines.join('\n')}${partial}`,
    );

  let match: RegExpMatchArray;
  try {
    match = await Promise.race([
      waitUntil(
        events,
        () => stderr.match(listeningLine) ?? (exit ? null : undefined),
        'the listening line',
        START_TIMEOUT,
      ).then((m) => {
        if (m === null) throw failure(`exited (code ${exit?.code}, signal ${exit?.signal}) before listening`);
        return m;
      }),
      spawnError.then((error) => {
        throw failure(`could not be spawned: ${error.message}`);
      }),
    ]);
  } catch (error) {
    if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    if (error instanceof Error && error.message.startsWith('timed out')) {
      throw failure(`printed no line matching ${listeningLine} on stderr within ${START_TIMEOUT} ms`);
    }
    throw error;
  }
  const [, host = '', port = '', adminHost = '', adminPort = ''] = match;
  const listening = stderr.split('\n').find((line) => listeningLine.test(line)) ?? '';

  const sidecar: Sidecar = {
    runtime,
    pid: child.pid,
    env,
    url: `http://${host}:${port}`,
    host,
    port: Number(port),
    adminUrl: `http://${adminHost}:${adminPort}`,
    listening,
    stdoutLines,
    logs: () => stdoutLines.map(parseLogLine),
    stderr: () => stderr,
    waitForLogLines: (n) =>
      waitUntil(
        events,
        () => (stdoutLines.length >= n ? stdoutLines.slice() : undefined),
        `${n} stdout lines`,
        LOG_TIMEOUT,
        () => `stdout so far:\n${stdoutLines.join('\n')}`,
      ),
    waitForLine: (matchLine, what) =>
      waitUntil(
        events,
        () => stdoutLines.find(matchLine),
        `stdout line: ${what}`,
        LOG_TIMEOUT,
        () => `stdout so far:\n${stdoutLines.slice(-20).join('\n')}`,
      ),
    waitForStderr: (pattern, what) =>
      waitUntil(
        events,
        () => stderr.split('\n').find((line) => pattern.test(line)),
        `stderr line: ${what}`,
        LOG_TIMEOUT,
        () => `stderr so far:\n${stderr.slice(-2000)}`,
      ),
    waitForLog: (matchEntry, what) =>
      waitUntil(
        events,
        () => stdoutLines.map(parseLogLine).find(matchEntry),
        `access-log entry: ${what}`,
        LOG_TIMEOUT,
        () => `last stdout lines:\n${stdoutLines.slice(-10).join('\n')}\nstderr:\n${stderr.slice(-2000)}`,
      ),
    pauseStdout: () => void child.stdout?.pause(),
    resumeStdout: () => void child.stdout?.resume(),
    exited: () => exit,
    signal: (name) => void child.kill(name),
    async stop() {
      if (exit) return exit;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), STOP_TIMEOUT);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
  return sidecar;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The process was still running after the bounded wait (and was killed). */
  timedOut: boolean;
}

/** Runs the sidecar with a configuration that should stop it, and reports how it ended. */
export async function runUntilExit(
  runtime: Runtime,
  env: Record<string, string>,
  timeoutMs = START_TIMEOUT,
): Promise<Exit> {
  const child = spawnRuntime(runtime, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
  }, timeoutMs);
  const [code, signal] = (await Promise.race([
    once(child, 'exit'),
    once(child, 'error').then(([error]: unknown[]) => {
      throw new Error(`${runtime} could not be spawned: ${String(error)}`);
    }),
  ])) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  // 'exit' can come before the pipes are drained.
  await Promise.all([
    child.stdout && !child.stdout.readableEnded ? once(child.stdout, 'close') : null,
    child.stderr && !child.stderr.readableEnded ? once(child.stderr, 'close') : null,
  ]);
  return { code, signal, stdout, stderr, timedOut };
}

/** A port on 127.0.0.1 that nothing listens on (just closed). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
