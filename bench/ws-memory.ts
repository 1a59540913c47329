/**
 * What a burst of large WebSocket messages costs each runtime's sidecar (issue 23: 6 clients each
 * sending one 40 MiB message grew Bun by 625 MiB and Deno by 727 MiB; the bound is 160 MiB).
 * Not part of `npm test` or `npm run bench`: run it alone, `node bench/ws-memory.ts [runtime...]`.
 *
 * For each runtime and each WS_MAX_MESSAGE_BYTES (the default 16 MiB, where the relays close the
 * 40 MiB messages with 1009, and 64 MiB, where they pass and the budget is what bounds them): a
 * real sidecar in front of a `ws` app that reads every message; 6 clients connect, then send their
 * message at once; it waits until every message reached the app or its tunnel closed. Growth is
 * the sidecar's peak RSS during the load (VmHWM, reset just before it through
 * /proc/PID/clear_refs) minus its RSS just before.
 */
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { startSidecar } from '../test/support/sidecar.ts';
import type { Runtime } from '../test/support/sidecar.ts';
import { readMem, servingPids, sleep } from './proc.ts';

const MIB = 1024 * 1024;
const CLIENTS = 6;
const MESSAGE_BYTES = 40 * MIB;
const LIMITS = [16 * MIB, 64 * MIB];
/** Longest the load may take before the run is reported as unfinished. */
const LOAD_TIMEOUT_MS = 120_000;

interface Outcome {
  runtime: Runtime;
  limitMiB: number;
  baseMiB: number;
  peakMiB: number;
  delivered: number;
  closeCodes: number[];
  seconds: number;
}

/** The app: reads every message, counts what arrives whole. */
async function startApp(): Promise<{ url: string; received: () => number; close: () => Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 128 * MIB, perMessageDeflate: false });
  await once(server, 'listening');
  let received = 0;
  server.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      if (data.length === MESSAGE_BYTES) received++;
    });
    ws.on('error', () => undefined);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received: () => received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function connect(url: string): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 128 * MIB });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('error', () => undefined);
  await once(ws, 'open');
  return { ws, closed };
}

function resetPeak(pid: number): void {
  // "5" resets the peak resident set size (proc(5), /proc/pid/clear_refs, Linux >= 4.0).
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

async function measure(runtime: Runtime, limit: number): Promise<Outcome> {
  const app = await startApp();
  const sidecar = await startSidecar(runtime, {
    TARGET: app.url,
    LOG_FORMAT: 'json',
    WS_MAX_MESSAGE_BYTES: String(limit),
  });
  try {
    const pid = servingPids(sidecar.pid ?? 0, sidecar.port)[0] ?? 0;
    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, () => connect(`ws://${sidecar.host}:${sidecar.port}/ws`)),
    );
    await sleep(1000);
    const base = readMem(pid)?.rssKiB ?? 0;
    resetPeak(pid);
    const started = performance.now();
    let peakKiB = base;
    const sampler = setInterval(() => (peakKiB = Math.max(peakKiB, readMem(pid)?.rssKiB ?? 0)), 20);
    for (const c of clients) c.ws.send(Buffer.alloc(MESSAGE_BYTES, 7));
    const closeCodes: number[] = [];
    const deadline = Date.now() + LOAD_TIMEOUT_MS;
    // Done when every message arrived, or every tunnel that did not deliver has closed.
    for (const c of clients) void c.closed.then((code) => closeCodes.push(code));
    while (app.received() + closeCodes.length < CLIENTS && Date.now() < deadline) await sleep(50);
    const seconds = (performance.now() - started) / 1000;
    await sleep(500);
    clearInterval(sampler);
    peakKiB = Math.max(peakKiB, readMem(pid)?.hwmKiB ?? 0);
    // The codes the sidecar closed with, before the bench ends the tunnels itself.
    const codes = [...closeCodes].sort();
    for (const c of clients) c.ws.terminate();
    return {
      runtime,
      limitMiB: limit / MIB,
      baseMiB: base / 1024,
      peakMiB: peakKiB / 1024,
      delivered: app.received(),
      closeCodes: codes,
      seconds,
    };
  } finally {
    await sidecar.stop();
    await app.close();
  }
}

const chosen = process.argv.slice(2) as Runtime[];
// Any runtime test/support/sidecar.ts starts: node, bun, deno, bun-native, deno-native.
const runtimes: Runtime[] = chosen.length > 0 ? chosen : ['node', 'bun', 'deno'];
console.log(`${CLIENTS} clients x one ${MESSAGE_BYTES / MIB} MiB message each, at once; target: growth <= 160 MiB`);
console.log('runtime  WS_MAX_MESSAGE_BYTES  base MiB  peak MiB  growth MiB  delivered  close codes   seconds');
for (const runtime of runtimes) {
  for (const limit of LIMITS) {
    const o = await measure(runtime, limit);
    console.log(
      [
        o.runtime.padEnd(7),
        `${o.limitMiB} MiB`.padStart(20),
        o.baseMiB.toFixed(0).padStart(8),
        o.peakMiB.toFixed(0).padStart(9),
        (o.peakMiB - o.baseMiB).toFixed(0).padStart(11),
        `${o.delivered}/${CLIENTS}`.padStart(10),
        (o.closeCodes.join(',') || '-').padStart(12),
        o.seconds.toFixed(1).padStart(9),
      ].join(' '),
    );
  }
}
