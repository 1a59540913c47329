// `node bench/js-instructions.ts`: what bench/instructions.ts counts as one "???", by name. V8's
// JIT-compiled code has no symbols, so cachegrind lumps all of it together, and that is where a
// change to the sidecar's JavaScript shows. Here each variant runs once under Valgrind's callgrind
// with per-instruction addresses (`--dump-instr=yes`), Node started with `--perf-basic-prof`, with
// which V8 writes /tmp/perf-PID.map (start, size and name of each piece of code it makes); the
// counts are zeroed after the warm-up (`callgrind_control --zero`) and dumped after --requests
// more GETs, and every address without a symbol is looked up in that map.
//
//   node bench/js-instructions.ts --variant 'off=node dist/sidecar.mjs' \
//     --variant 'on=OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 node dist/sidecar.mjs' \
//     [--requests 3000] [--warmup 4000] [--top 30]
//
// Prints, per variant, instructions per request by function: JavaScript by name and source
// module (one line for all of a function's tiers: interpreted, Sparkplug, Maglev, TurboFan, and
// for the sidecar's own code "(app)" whatever the bundle's path, so two builds compare),
// V8's builtins and C++ by symbol; for the first variant its --top largest, for each other where
// it differs most from the first. One run per variant, so a major GC in a window shows (its
// functions are named); for totals and ratios use bench/instructions.ts. Variants as in ab.ts
// (bench/variants.ts); a variant whose command is not `node ...` gets no names for its JIT code.
// Under callgrind everything runs ~50x slower: a few thousand requests take minutes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { countedGets } from './load.ts';
import { stopServer } from './proc.ts';
import type { Server } from './proc.ts';
import { printByFunction, requireValgrind, startUnder, withUpstream } from './valgrind-runs.ts';
import { option as optionOf, variantSpecs } from './variants.ts';
import type { VariantSpec } from './variants.ts';

const option = (name: string, fallback: string): string => optionOf(process.argv, name, fallback);
const requests = Number(option('requests', '3000'));
const warmup = Number(option('warmup', '4000'));
const connections = Number(option('connections', '8'));
const top = Number(option('top', '30'));
const variants = variantSpecs(process.argv);
if (variants.length === 0)
  throw new Error("usage: node bench/js-instructions.ts --variant 'name=node file' ... [--requests N] [--warmup N]");
requireValgrind(['valgrind', 'callgrind_control']);

interface CodeRange {
  start: number;
  end: number;
  name: string;
}

/** V8's perf map, sorted by address; a function's tiers (`*` TurboFan, `+` Maglev, `^` Sparkplug, `~` bytecode) under one name. */
function perfMap(pid: number): CodeRange[] {
  const file = `/tmp/perf-${pid}.map`;
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  } finally {
    rmSync(file, { force: true });
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [start = '0', size = '0', ...name] = line.split(' ');
      const address = parseInt(start, 16);
      // Where in the bundle is left out, so that two builds of one function (an A/B) share a line.
      const where = (text: string) => text.replace(/ file:\/\/\S+/, ' (app)').replace(/(node:\S+?):\d+:\d+$/, '$1');
      return {
        start: address,
        end: address + parseInt(size, 16),
        name: where(name.join(' ').replace(/^JS:[*+^~']*/, 'JS ')),
      };
    })
    .sort((a, b) => a.start - b.start);
}

/** The code at `address`: the last range starting at or below it that also covers it (code moves leave stale ranges below). */
function nameAt(map: CodeRange[], address: number): string {
  let lo = 0;
  let hi = map.length - 1;
  let at = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((map[mid] as CodeRange).start <= address) {
      at = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  for (let i = at; i >= 0 && i > at - 64; i--) {
    const range = map[i] as CodeRange;
    if (address < range.end) return range.name;
  }
  return 'JIT code not in the perf map';
}

/** Self instructions by function from a callgrind dump (positions `instr line`, uncompressed names). */
function byFunction(text: string, map: CodeRange[]): Map<string, number> {
  const counts = new Map<string, number>();
  let fn = '';
  let unnamed = false;
  let callCost = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('fn=')) {
      fn = line.slice(3);
      unnamed = /^0x[0-9a-f]+$/.test(fn);
    } else if (line.startsWith('calls=')) callCost = true;
    else if (line.startsWith('0x')) {
      // The line after calls= is the call's inclusive cost, counted where the callee's own lines are.
      if (callCost) {
        callCost = false;
        continue;
      }
      const fields = line.split(' ');
      const ir = Number(fields[fields.length - 1]);
      // callgrind marks recursion depth with 'N: one name for all of them.
      const name = unnamed ? nameAt(map, parseInt(fields[0] as string, 16)) : fn.replace(/'\d+$/, '');
      counts.set(name, (counts.get(name) ?? 0) + ir);
    }
  }
  return counts;
}

async function profile(v: VariantSpec, upstreamPort: number): Promise<Map<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-jscount-'));
  const prefix = join(dir, 'vgdb');
  let server: Server | undefined;
  try {
    const [command = '', ...args] = v.argv;
    const argv = basename(command) === 'node' ? [command, '--perf-basic-prof', ...args] : v.argv;
    const valgrind = [
      'valgrind',
      '--tool=callgrind',
      '--dump-instr=yes',
      '--compress-pos=no',
      '--compress-strings=no',
      '--vgdb=yes',
      `--vgdb-prefix=${prefix}`,
      `--callgrind-out-file=${dir}/callgrind.out`,
    ];
    const started = await startUnder(valgrind, v, argv, upstreamPort, dir);
    const { port, env } = started;
    server = started.server;
    await countedGets(port, warmup, connections);
    const pid = server.pid;
    // vgdb finds the process by files named after its user and host, which Valgrind takes from USER and
    // HOST: the sidecar's HOST (its listen address) is in that name, so the control runs with the same.
    const control = (command: string) =>
      execFileSync('callgrind_control', [`--vgdb-prefix=${prefix}`, command, String(pid)], { env, stdio: 'ignore' });
    control('--zero');
    await countedGets(port, requests, connections);
    control('--dump=measured');
    await stopServer(server, 120_000);
    // The dump on demand is callgrind.out.1 (.2 ...); the one at exit, callgrind.out itself.
    const dump = readdirSync(dir).find((f) => /^callgrind\.out\.\d+$/.test(f));
    if (!dump) throw new Error(`${v.name}: callgrind wrote no dump after the measured requests`);
    const counts = byFunction(readFileSync(join(dir, dump), 'utf8'), perfMap(pid));
    for (const [fn, ir] of counts) counts.set(fn, ir / requests);
    return counts;
  } finally {
    if (server) await stopServer(server, 1000);
    rmSync(dir, { recursive: true, force: true });
  }
}

await withUpstream(async (upstreamPort) => {
  const rows: { name: string; byFunction: Map<string, number> }[] = [];
  for (const v of variants) {
    const counts = await profile(v, upstreamPort);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const js = [...counts].filter(([fn]) => fn.startsWith('JS ')).reduce((a, [, ir]) => a + ir, 0);
    console.error(`[js-instructions] ${v.name}: ${total.toFixed(0)} per request, ${js.toFixed(0)} of them in JS code`);
    rows.push({ name: v.name, byFunction: counts });
  }
  console.log(`callgrind, warm-up ${warmup} then ${requests} GETs, ${connections} connections`);
  printByFunction(rows, top);
});
