// `node bench/ws-burst.ts ROW...`: the memory a burst of large WebSocket messages costs each sidecar
// (issue 23: 6 clients each sending one 40 MiB message at once). For each row of bench/targets.ts
// named, a fresh sidecar in front of a ws app that counts what it receives; the serving process's
// peak RSS (VmHWM, reset before the burst) minus its RSS before, once the app has every byte or a
// client was closed. One line of JSON per row on stdout.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import type { Run } from './context.ts';
import { freePort, httpGet } from './proc.ts';
import { TARGETS, denoServeCommand } from './targets.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CLIENTS = Number(process.env.WS_BURST_CLIENTS ?? 6);
const MESSAGE = Number(process.env.WS_BURST_MIB ?? 40) * 1024 * 1024;

const kib = (pid: number, field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

async function ready(url: string, child: ChildProcess) {
  for (let i = 0; i < 200 && child.exitCode === null; i++) {
    if ((await httpGet(url, 1000).catch(() => ({ status: 0 }))).status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never answered`);
}

async function burst(row: string) {
  const def = TARGETS.find((t) => t.name === row);
  if (!def) throw new Error(`no row ${row}`);
  let received = 0;
  const app = new WebSocketServer({ port: await freePort(), host: '127.0.0.1', maxPayload: 2 * MESSAGE });
  app.on('connection', (ws) => ws.on('message', (data: Buffer) => (received += data.length)));
  await once(app, 'listening');
  const port = await freePort();
  const admin = await freePort();
  // Deno's own process, not `deno task`'s runner: the process measured is the one spawned.
  const argv = row === 'deno' ? ['/bin/sh', '-c', denoServeCommand('runtimes/deno.ts')] : def.argv({} as Run);
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      TARGET: `http://127.0.0.1:${(app.address() as { port: number }).port}`,
      PORT: String(port),
      ADMIN_PORT: String(admin),
      HOST: '127.0.0.1',
    },
  });
  try {
    await ready(`http://127.0.0.1:${admin}/healthz`, child);
    const pid = child.pid!;
    const before = kib(pid, 'VmRSS');
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const payload = Buffer.alloc(MESSAGE, 7);
    const closes: number[] = [];
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
        await once(ws, 'open');
        ws.send(payload);
        // Bounded: a message the sidecar dropped would leave the others waiting for ever.
        const start = Date.now();
        const done = setInterval(
          () => (received >= CLIENTS * MESSAGE || Date.now() - start > 120_000) && ws.close(1000),
          50,
        );
        const [code] = (await once(ws, 'close')) as [number];
        clearInterval(done);
        closes.push(code);
      }),
    );
    const peak = kib(pid, 'VmHWM');
    return { row, clients: CLIENTS, mib: MESSAGE / 2 ** 20, growthMiB: (peak - before) / 1024, received, closes };
  } finally {
    child.kill('SIGKILL');
    app.close();
  }
}

for (const row of process.argv.slice(2)) process.stdout.write(`${JSON.stringify(await burst(row))}\n`);
