/**
 * Runs a fixture script on Node, Bun or Deno, the binaries the repository installs
 * (node_modules/.bin, and this Node: process.execPath), from the repository's root.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type Runtime = 'node' | 'bun' | 'deno';

const repoRoot = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const fixture = (name: string) => path.join('test/unit/compress/fixtures', name);

/** Deno runs with no permission but loopback networking, and only when asked. */
function command(runtime: Runtime, script: string, net: boolean): [string, string[]] {
  switch (runtime) {
    case 'node':
      return [process.execPath, [fixture(script)]];
    case 'bun':
      return [path.join(repoRoot, 'node_modules/.bin/bun'), [fixture(script)]];
    case 'deno':
      return [
        path.join(repoRoot, 'node_modules/.bin/deno'),
        ['run', ...(net ? ['--allow-net=127.0.0.1'] : []), fixture(script)],
      ];
  }
}

function environment(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, NO_COLOR: '1', ...extra };
}

/** Runs a script to its end (bounded) and returns the last line it printed, parsed as JSON. */
export function runToEnd(runtime: Runtime, script: string, timeoutMs: number): Promise<unknown> {
  const [file, args] = command(runtime, script, false);
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: repoRoot, env: environment({}), timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${runtime} ${script} failed: ${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? 'null'));
    });
  });
}

/** Starts a server script; resolves with its first stdout line, parsed as JSON, and the process. */
export function startServer(
  runtime: Runtime,
  script: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; ready: unknown }> {
  const [file, args] = command(runtime, script, true);
  const child = spawn(file, args, { cwd: repoRoot, env: environment(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    child.stdout.on('data', (data: Buffer) => {
      stdout += data.toString();
      const newline = stdout.indexOf('\n');
      if (newline !== -1) resolve({ child, ready: JSON.parse(stdout.slice(0, newline)) });
    });
    child.on('exit', (code) => reject(new Error(`${runtime} ${script} exited (${code}) before listening\n${stderr}`)));
  });
}
