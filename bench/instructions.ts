// `node bench/instructions.ts`: the instructions a sidecar executes per request, counted by
// Valgrind's cachegrind (Debian package valgrind). Time per request moves with whatever else the
// machine runs (on a shared 2-core VM, rounds of bench/ab.ts vary by 7-47 %); an instruction count
// does not, so it can tell apart changes of a few per cent that ab.ts cannot.
//
//   node bench/instructions.ts --variant 'm1=node /tmp/m1/runtimes/node.ts' \
//                              --variant 'head=node runtimes/node.ts' [--requests 2000] [--warmup 3000]
//
// Variants are written as for bench/ab.ts (bench/variants.ts). Each runs twice under cachegrind:
// warm-up then --requests GETs, and warm-up then twice that many. Start-up, warm-up and exit are the
// same in both, so the difference over --requests is the cost of one request once the JIT has
// settled: user-space instructions of the whole process (JavaScript, V8, libuv, llhttp, libc),
// kernel time excluded. Requests come over keep-alive connections (--connections, 8), in front of
// bench/upstream.ts. Under Valgrind everything runs ~30x slower: keep the counts modest.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, httpGet, spawnServer, spawnUpstream, stopServer, waitReady } from './proc.ts';
import type { Server } from './proc.ts';
import { option as optionOf, variantSpecs } from './variants.ts';
import type { VariantSpec } from './variants.ts';

const ROOT = resolve(import.meta.dirname, '..');
const option = (name: string, fallback: string): string => optionOf(process.argv, name, fallback);
const requests = Number(option('requests', '2000'));
const warmup = Number(option('warmup', '3000'));
const connections = Number(option('connections', '8'));
const variants = variantSpecs(process.argv);
if (variants.length === 0)
  throw new Error("usage: node bench/instructions.ts --variant 'name=node file' ... [--requests N] [--warmup N]");
try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  throw new Error('valgrind is not installed (Debian: apt-get install valgrind)');
}

/** `count` GETs of / over `connections` keep-alive connections; throws on anything but 200. */
async function drive(port: number, count: number): Promise<void> {
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

/** Total user-space instructions (cachegrind's "summary: Ir") of every process a run started. */
function instructionsIn(dir: string): number {
  let total = 0;
  for (const file of readdirSync(dir).filter((f) => f.startsWith('cachegrind.out.'))) {
    const summary = /^summary:\s+(\d+)/m.exec(readFileSync(join(dir, file), 'utf8'));
    if (!summary) throw new Error(`${file}: no summary line (did the process exit cleanly?)`);
    total += Number(summary[1]);
  }
  return total;
}

async function countRun(v: VariantSpec, upstreamPort: number, measured: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-icount-'));
  let server: Server | undefined;
  try {
    const port = await freePort();
    const env = {
      ...process.env,
      TARGET: `http://127.0.0.1:${upstreamPort}`,
      PORT: String(port),
      ADMIN_PORT: String(await freePort()),
      HOST: '127.0.0.1',
      LOG_FORMAT: 'json',
      ...v.env,
    };
    const valgrind = ['valgrind', '--tool=cachegrind', '--cache-sim=no', '--trace-children=yes'];
    server = spawnServer([...valgrind, `--cachegrind-out-file=${dir}/cachegrind.out.%p`, ...v.argv], env, ROOT, dir);
    await waitReady(server, [`http://127.0.0.1:${port}/`], 120_000);
    const hello = await httpGet(`http://127.0.0.1:${port}/`, 10_000);
    if (hello.body !== 'Hello you!') throw new Error(`GET / answered ${hello.status} ${hello.body.slice(0, 80)}`);
    await drive(port, warmup + measured);
    // A peer without a SIGTERM handler dies of it: Valgrind still writes its counts.
    await stopServer(server, 120_000);
    return instructionsIn(dir);
  } finally {
    if (server) await stopServer(server, 1000);
    rmSync(dir, { recursive: true, force: true });
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'sidecar-icount-up-'));
let upstream: Server | undefined;
try {
  const { port: upstreamPort } = await spawnUpstream(tmp, (s) => (upstream = s));
  const rows: { name: string; perRequest: number }[] = [];
  for (const v of variants) {
    const short = await countRun(v, upstreamPort, requests);
    const long = await countRun(v, upstreamPort, 2 * requests);
    const perRequest = (long - short) / requests;
    console.error(`[instructions] ${v.name}: ${short} / ${long} -> ${perRequest.toFixed(0)} per request`);
    rows.push({ name: v.name, perRequest });
  }
  const first = rows[0]?.perRequest ?? 1;
  console.log(`cachegrind, warm-up ${warmup} then ${requests} vs ${2 * requests} GETs, ${connections} connections`);
  console.log('| variant | instructions/request | × first |\n|---|--:|--:|');
  for (const r of rows)
    console.log(`| ${r.name} | ${r.perRequest.toFixed(0)} | ${(r.perRequest / first).toFixed(3)} |`);
} finally {
  if (upstream) await stopServer(upstream);
  rmSync(tmp, { recursive: true, force: true });
}
