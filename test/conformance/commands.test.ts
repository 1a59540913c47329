/**
 * Holds docs/behaviour.md#commands: `node src/legacy.ts` (the demo app alone), `npm start` (the
 * demo pod: the app with the Node sidecar in front), and `npm run start:bun` /
 * `npm run start:deno` (the sidecar alone on Bun or Deno straight after `npm install`, neither
 * being on PATH), run as users run them. The native per-runtime commands are covered by the conformance
 * suite itself (../support/sidecar.ts starts them).
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { send } from '../support/http-client.ts';
import { closedPort, listeningLine, parseLogLine, repoRoot } from '../support/sidecar.ts';
import { startUpstream } from '../support/upstream.ts';
import { waitUntil, withTimeout } from '../support/wait.ts';
import { connectWs } from '../support/ws-client.ts';

interface Started {
  child: ChildProcess;
  output: () => { stdout: string; stderr: string };
  waitFor: (pattern: RegExp, what: string) => Promise<RegExpMatchArray>;
  exit: Promise<[number | null, NodeJS.Signals | null]>;
}

const started: Started[] = [];
/** Every process each command started (npm -> node scripts/demo.ts -> app and sidecar, each in its own group). */
const family = new Set<number>();

function run(command: string, args: string[], env: Record<string, string>): Started {
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const events = new EventEmitter();
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    events.emit('change');
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
    events.emit('change');
  });
  const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  exit.then(
    () => events.emit('change'),
    () => undefined,
  );
  const handle: Started = {
    child,
    output: () => ({ stdout, stderr }),
    waitFor: (pattern, what) =>
      waitUntil(
        events,
        () => (stdout + stderr).match(pattern) ?? (child.exitCode !== null ? null : undefined),
        what,
        15_000,
        () => `stdout:\n${stdout}\nstderr:\n${stderr}`,
      ).then((m) => {
        if (m === null)
          throw new Error(
            `${command} ${args.join(' ')} exited (${child.exitCode}) before ${what}.\nstdout:\n${stdout}\nstderr:\n${stderr}`,
          );
        return m;
      }),
    exit,
  };
  started.push(handle);
  return handle;
}

/** Linux: the process and everything below it, from /proc. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const all: number[] = [];
  const visit = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      all.push(child);
      visit(child);
    }
  };
  visit(root);
  return all;
}

afterEach(async () => {
  for (const { child, exit } of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await withTimeout(exit, 'the command to stop', 10_000).catch(() => undefined);
    }
  }
  // Whatever a failed test left behind.
  for (const pid of family) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone, as it should be.
    }
  }
  family.clear();
});

const alive = (pid: number) => {
  try {
    // A zombie has exited; only its parent has not reaped it yet.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

/** Waits (bounded poll: there is no event for another process's exit) until none of `pids` runs; returns the ones still running. */
async function allGone(pids: number[], timeoutMs = 15_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return pids.filter(alive);
}

const refusesConnections = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

describe('commands', () => {
  it('`node src/legacy.ts` serves "Hello you!" on GET / ("Hello alice!" for X-Forwarded-User: alice) and 404 elsewhere on PORT, and stops on SIGTERM', async () => {
    const app = run(process.execPath, ['src/legacy.ts'], { PORT: '0' });
    const [, port] = await app.waitFor(/listening on http:\/\/localhost:(\d+)/, 'the legacy app to listen');
    const url = `http://127.0.0.1:${port}`;
    const hello = await send(url, '/');
    expect(hello.status).toBe(200);
    expect(hello.body.toString()).toBe('Hello you!');
    const greeting = await send(url, '/', { headers: [['X-Forwarded-User', 'alice']] });
    expect(greeting.body.toString()).toBe('Hello alice!');
    expect(greeting.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect((await send(url, '/elsewhere')).status).toBe(404);
    app.child.kill('SIGTERM');
    expect(await withTimeout(app.exit, 'the legacy app to exit')).toEqual([0, null]);
  });

  it('`npm start` runs the demo pod: the app behind the Node sidecar, its URLs printed (app, sidecar, status page), the access log on stdout; Ctrl-C stops both', async () => {
    // The spec's 8080/8000/9901, moved to free ports so a test never collides with a running pod.
    const [appPort, port, adminPort] = await Promise.all([closedPort(), closedPort(), closedPort()]);
    const pod = run('npm', ['start'], { APP_PORT: String(appPort), PORT: String(port), ADMIN_PORT: String(adminPort) });
    await pod.waitFor(new RegExp(`http://localhost:${port}\\b`), 'the sidecar URL');
    await pod.waitFor(new RegExp(`http://localhost:${appPort}\\b`), 'the app URL');
    await pod.waitFor(new RegExp(`status page +http://localhost:${adminPort}/ `), 'the status page URL');
    if (pod.child.pid !== undefined) for (const pid of descendants(pod.child.pid)) family.add(pid);

    const res = await send(`http://127.0.0.1:${port}`, '/', { headers: [['X-Request-Id', 'npm-start-demo']] });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('Hello you!');
    await pod.waitFor(/"request_id":"npm-start-demo"/, 'the access-log line on stdout');
    const line =
      pod
        .output()
        .stdout.split('\n')
        .find((l) => l.includes('"npm-start-demo"')) ?? '';
    expect(parseLogLine(line)).toMatchObject({ method: 'GET', path: '/', status: 200, request_id: 'npm-start-demo' });
    expect((await send(`http://127.0.0.1:${adminPort}`, '/healthz')).status).toBe(200);

    // The demo app's /ws echo, through the sidecar's tunnel: text, a 64-bit-length binary, a close.
    const ws = await connectWs(`ws://127.0.0.1:${port}/ws`, { headers: { 'X-Request-Id': 'npm-start-ws' } });
    ws.ws.send('hi');
    ws.ws.send(Buffer.alloc(70_000, 7));
    expect((await ws.message(0)).data.toString()).toBe('hi');
    expect((await ws.message(1)).data.equals(Buffer.alloc(70_000, 7))).toBe(true);
    ws.ws.close(4000, 'bye');
    expect(await ws.closed()).toEqual({ code: 4000, reason: 'bye' });
    await pod.waitFor(/"request_id":"npm-start-ws"/, "the tunnel's access-log line");
    const tunnelLine =
      pod
        .output()
        .stdout.split('\n')
        .find((l) => l.includes('"npm-start-ws"')) ?? '';
    expect(parseLogLine(tunnelLine)).toMatchObject({ path: '/ws', status: 101, upgrade: 'websocket' });

    // Ctrl-C in a terminal: SIGINT to the whole foreground process group (npm, its shell, the demo script).
    if (pod.child.pid !== undefined) process.kill(-pod.child.pid, 'SIGINT');
    await withTimeout(pod.exit, '`npm start` to exit after Ctrl-C', 15_000);
    const survivors = await allGone([...family]);
    expect(survivors, 'processes `npm start` started that are still running').toEqual([]);
    expect(await refusesConnections(port), 'the sidecar still listens').toBe(true);
    expect(await refusesConnections(appPort), 'the app still listens').toBe(true);
  });

  /** A newcomer's shell after `npm install`: neither bun nor deno on PATH (npx and npm scripts add node_modules/.bin; a terminal does not). */
  const freshPath = (process.env.PATH ?? '')
    .split(':')
    .filter((dir) => !existsSync(path.join(dir, 'bun')) && !existsSync(path.join(dir, 'deno')))
    .join(':');

  for (const [script, runtime] of [
    ['start:bun', 'bun'],
    ['start:deno', 'deno'],
  ] as const) {
    it(`\`npm run ${script}\` starts the sidecar on ${runtime} with ${runtime} not on PATH, stderr holds only its lines, and SIGTERM to npm alone stops it`, async () => {
      const upstream = await startUpstream();
      try {
        const sidecar = run('npm', ['run', script], {
          PATH: freshPath,
          TARGET: upstream.url,
          HOST: '127.0.0.1',
          PORT: '0',
          ADMIN_PORT: '0',
        });
        const [, host, port] = await sidecar.waitFor(listeningLine, `the ${runtime} sidecar's listening line`);
        expect(sidecar.output().stderr).toMatch(new RegExp(`\\[${runtime} `));
        if (sidecar.child.pid !== undefined) for (const pid of descendants(sidecar.child.pid)) family.add(pid);
        const res = await send(`http://${host}:${port}`, '/_/echo?id=npm-run-start', {
          headers: [['X-Request-Id', `npm-run-${runtime}`]],
        });
        expect(res.status).toBe(200);
        await sidecar.waitFor(new RegExp(`"request_id":"npm-run-${runtime}"`), 'the access-log line on stdout');
        const stderrLines = sidecar
          .output()
          .stderr.split('\n')
          .filter((line) => line.trim() !== '');
        expect(stderrLines, "stderr lines: the sidecar's own only").toEqual([expect.stringMatching(listeningLine)]);

        // As a process manager stops it: SIGTERM to npm's process alone, not its group.
        sidecar.child.kill('SIGTERM');
        const [code] = await withTimeout(sidecar.exit, `\`npm run ${script}\` to exit after SIGTERM`, 15_000);
        expect(code, `stderr:\n${sidecar.output().stderr}`).toBe(0);
        expect(await allGone([...family]), `processes \`npm run ${script}\` started that are still running`).toEqual(
          [],
        );
        expect(await refusesConnections(Number(port)), 'the sidecar still listens').toBe(true);
        expect(sidecar.output().stderr).toContain('sidecar: stopped');
      } finally {
        await upstream.close();
      }
    });
  }

  /**
   * A Node older than package.json's engines (24.9) with its own npm: the system's if it has them
   * (this machine's is 20), else this Node (and npm) told to report version 20.
   */
  function oldNode(): { path: string; env: Record<string, string> } {
    for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
      if (!existsSync(path.join(path.dirname(candidate), 'npm'))) continue;
      try {
        const version = execFileSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
        const [major = 0, minor = 0] = version.split('.').map(Number);
        if (major < 24 || (major === 24 && minor < 9)) return { path: `${path.dirname(candidate)}:/bin`, env: {} };
      } catch {
        // Not there: try the next.
      }
    }
    // NODE_OPTIONS takes double quotes as its own: the module uses single ones.
    return {
      path: process.env.PATH ?? '',
      env: {
        NODE_OPTIONS: `--import=data:text/javascript,Object.defineProperty(process.versions,'node',{value:'20.20.2'})`,
      },
    };
  }

  // package.json's engines, `npm start`'s and `npm test`'s line and the README name the same Node.
  const engines = (
    JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } }
  ).engines.node;
  const needed = engines.replace(/^>=/, '');

  it('package.json engines and the README name the same Node', () => {
    expect(engines).toMatch(/^>=\d+\.\d+$/);
    expect(readFileSync(path.join(repoRoot, 'README.md'), 'utf8')).toContain(`Node ${needed} or later`);
  });

  for (const script of ['start', 'test']) {
    it(`\`npm ${script}\` on a Node older than package.json's engines says in one stderr line which Node is needed, and exits 1`, async () => {
      const old = oldNode();
      const command = run('npm', [script], { PATH: old.path, ...old.env });
      try {
        const [code] = await withTimeout(command.exit, `\`npm ${script}\` on an old Node to exit`, 15_000);
        expect(code).toBe(1);
        const lines = command
          .output()
          .stderr.split('\n')
          .filter((line) => line.trim() !== '');
        expect(lines, 'stderr lines').toEqual([expect.stringContaining(`Node ${needed} or later is needed`)]);
        expect(command.output().stderr).not.toMatch(/ERR_UNKNOWN_FILE_EXTENSION|groupBy|\n\s+at /);
      } finally {
        // Whatever an unchecked `npm test` would have started (lint, vitest) goes with its group.
        if (command.child.exitCode === null && command.child.pid !== undefined)
          try {
            process.kill(-command.child.pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
      }
    });
  }
});
