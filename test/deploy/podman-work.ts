/**
 * The pod test's podman: one temp folder holding its containers.conf (the two settings this
 * machine needs: no RLIMIT raising, no crun), a private image store and network config, so the
 * test touches no image, pod or network of anyone else's; and the bounded command runner, poll
 * and free port its parts share (test/deploy/pod-test.ts).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './project.ts';

export const work = mkdtempSync(join(tmpdir(), 'pod-test-'));
export const env = {
  ...process.env,
  CONTAINERS_CONF: join(work, 'containers.conf'),
  CONTAINERS_STORAGE_CONF: join(work, 'storage.conf'),
  DEBIAN_FRONTEND: 'noninteractive',
};

// The two settings this machine needs (no RLIMIT raising, no crun), and everything of this test's in `work`.
writeFileSync(
  env.CONTAINERS_CONF,
  [
    '[containers]',
    'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `tmp_dir = "${work}/tmp"`,
    '[network]',
    `network_config_dir = "${work}/networks"`,
    '',
  ].join('\n'),
);
writeFileSync(
  env.CONTAINERS_STORAGE_CONF,
  ['[storage]', 'driver = "overlay"', `graphroot = "${work}/storage"`, `runroot = "${work}/run"`, ''].join('\n'),
);
mkdirSync(join(work, 'networks'));

export interface Output {
  stdout: string;
  stderr: string;
}

/** Runs a command, bounded in time; fails with its stderr. */
export function run(
  command: string,
  args: string[],
  options: { timeoutMs?: number; cwd?: string } = {},
): Promise<Output> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env, cwd: options.cwd ?? repoRoot, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stderr}`.trim()));
        else resolve({ stdout, stderr });
      },
    );
  });
}
export const podman = (args: string[], timeoutMs?: number) => run('podman', args, { timeoutMs });

/** Polls until `check` returns a value; every wait is for a condition, bounded by the deadline. */
export async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last instanceof Error ? ` (last: ${last.message})` : ''}`);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
