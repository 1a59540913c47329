// `node bench/instructions.ts`: the instructions a sidecar executes per request, counted by
// Valgrind's cachegrind (Debian package valgrind). Time per request moves with whatever else the
// machine runs (on a shared 2-core VM, rounds of bench/ab.ts vary by 7-47 %); an instruction count
// does not, so it can tell apart changes of a few per cent that ab.ts cannot.
//
//   node bench/instructions.ts --variant 'm1=node /tmp/m1/runtimes/node.ts' \
//                              --variant 'head=node runtimes/node.ts' [--requests 2000] [--warmup 3000] \
//                              [--functions 25]
//
// Variants are written as for bench/ab.ts (bench/variants.ts). Each runs twice under cachegrind:
// warm-up then --requests GETs, and warm-up then twice that many. Start-up, warm-up and exit are the
// same in both, so the difference over --requests is the cost of one request once the JIT has
// settled: user-space instructions of the whole process (JavaScript, V8, libuv, llhttp, libc),
// kernel time excluded. Requests come over keep-alive connections (--connections, 8), in front of
// bench/upstream.ts. Under Valgrind everything runs ~30x slower: keep the counts modest.
// --functions N adds, per variant, the N functions whose instructions per request differ most
// from the first variant's (for the first: its N largest); V8's JIT-compiled code is one "???".
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countedGets } from './load.ts';
import { stopServer } from './proc.ts';
import type { Server } from './proc.ts';
import { printByFunction, requireValgrind, startUnder, withUpstream } from './valgrind-runs.ts';
import { option as optionOf, variantSpecs } from './variants.ts';
import type { VariantSpec } from './variants.ts';

const option = (name: string, fallback: string): string => optionOf(process.argv, name, fallback);
const requests = Number(option('requests', '2000'));
const warmup = Number(option('warmup', '3000'));
const connections = Number(option('connections', '8'));
const functions = Number(option('functions', '0'));
const variants = variantSpecs(process.argv);
if (variants.length === 0)
  throw new Error("usage: node bench/instructions.ts --variant 'name=node file' ... [--requests N] [--warmup N]");
requireValgrind();

interface Counts {
  /** User-space instructions (cachegrind's "summary: Ir") of every process a run started. */
  total: number;
  /** By function (`fn=` lines, with their object or file): JIT-compiled JavaScript is "???". */
  byFunction: Map<string, number>;
}

function instructionsIn(dir: string): Counts {
  const counts: Counts = { total: 0, byFunction: new Map() };
  for (const file of readdirSync(dir).filter((f) => f.startsWith('cachegrind.out.'))) {
    const text = readFileSync(join(dir, file), 'utf8');
    const summary = /^summary:\s+(\d+)/m.exec(text);
    if (!summary) throw new Error(`${file}: no summary line (did the process exit cleanly?)`);
    counts.total += Number(summary[1]);
    let where = '';
    let fn = '';
    for (const line of text.split('\n')) {
      if (line.startsWith('fl=')) where = line.slice(3).replace(/.*\//, '');
      else if (line.startsWith('fn=')) fn = `${line.slice(3)} (${where})`;
      else if (fn && /^\d/.test(line)) {
        const ir = Number(line.slice(line.indexOf(' ') + 1));
        counts.byFunction.set(fn, (counts.byFunction.get(fn) ?? 0) + ir);
      }
    }
  }
  return counts;
}

/**
 * V8's compilers (Maglev, TurboFan/Turboshaft, Sparkplug, the parser and bytecode generator):
 * functions that turn hot late are still being compiled between the short run's end and the
 * long one's, and under Valgrind (threads run one at a time) that work lands in the measured
 * window. It is a one-off per function, not a per-request cost (`--trace-opt` on a sidecar under
 * load at full speed: a handful of compilations a second after the first seconds, no deopt loop),
 * and it moved paired counts by several per cent: the second column leaves it out.
 */
const jitCompiler =
  /v8::internal::(compiler|maglev|turboshaft|baseline|interpreter|parsing)::|v8::internal::(Parser|Compiler|OptimizingCompileDispatcher|BytecodeGenerator|Scanner|PreParser)\b/;

/**
 * V8's major (mark-compact) collections: a few in a whole run, each tens of millions of
 * instructions, so whether one falls in the long run's extra requests moves a per-request count by
 * 10k-60k (a variant that made no spans at all once counted +62k, all of it marking and sweeping).
 * The third column leaves them out too; scavenges, which follow each request's allocations, stay in.
 */
const majorGc =
  /v8::internal::(MarkCompactCollector|ConcurrentMarking|IncrementalMarking|Sweeper|MarkingWorklists|MarkingBarrier|MarkingVisitorBase|MainMarkingVisitor|ConcurrentMarkingVisitor|FullMarkingVerifier|MarkingState|Evacuator|RecordMigratedSlotVisitor)\b/;

function matching(pattern: RegExp, byFunction: Map<string, number>): number {
  let total = 0;
  // The qualified name only: an argument's type (a compiler::Node* passed to the heap) does not count.
  for (const [fn, ir] of byFunction) if (pattern.test(fn.split('(')[0] ?? '')) total += ir;
  return total;
}

async function countRun(v: VariantSpec, upstreamPort: number, measured: number): Promise<Counts> {
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-icount-'));
  let server: Server | undefined;
  try {
    const valgrind = ['valgrind', '--tool=cachegrind', '--cache-sim=no', '--trace-children=yes'];
    const started = await startUnder(
      [...valgrind, `--cachegrind-out-file=${dir}/cachegrind.out.%p`],
      v,
      v.argv,
      upstreamPort,
      dir,
    );
    server = started.server;
    await countedGets(started.port, warmup + measured, connections);
    // A peer without a SIGTERM handler dies of it: Valgrind still writes its counts.
    await stopServer(server, 120_000);
    return instructionsIn(dir);
  } finally {
    if (server) await stopServer(server, 1000);
    rmSync(dir, { recursive: true, force: true });
  }
}

await withUpstream(async (upstreamPort) => {
  const rows: { name: string; perRequest: number; byFunction: Map<string, number> }[] = [];
  for (const v of variants) {
    const short = await countRun(v, upstreamPort, requests);
    const long = await countRun(v, upstreamPort, 2 * requests);
    const perRequest = (long.total - short.total) / requests;
    console.error(`[instructions] ${v.name}: ${short.total} / ${long.total} -> ${perRequest.toFixed(0)} per request`);
    const byFunction = new Map(
      [...long.byFunction].map(([fn, ir]) => [fn, (ir - (short.byFunction.get(fn) ?? 0)) / requests]),
    );
    rows.push({ name: v.name, perRequest, byFunction });
  }
  const first = rows[0];
  const steady = (r: (typeof rows)[number]) => r.perRequest - matching(jitCompiler, r.byFunction);
  const settled = (r: (typeof rows)[number]) => steady(r) - matching(majorGc, r.byFunction);
  const ratio = (r: (typeof rows)[number], of: (r: (typeof rows)[number]) => number) =>
    (of(r) / (first ? of(first) : 1)).toFixed(3);
  console.log(`cachegrind, warm-up ${warmup} then ${requests} vs ${2 * requests} GETs, ${connections} connections`);
  console.log(
    '| variant | instructions/request | × first | without JIT compilation | × first | nor major GC | × first |\n|---|--:|--:|--:|--:|--:|--:|',
  );
  for (const r of rows)
    console.log(
      `| ${r.name} | ${r.perRequest.toFixed(0)} | ${ratio(r, (x) => x.perRequest)} | ${steady(r).toFixed(0)} | ${ratio(r, steady)} | ${settled(r).toFixed(0)} | ${ratio(r, settled)} |`,
    );
  // The first variant: where its instructions go. Each other one: where it differs from the first.
  if (functions > 0) printByFunction(rows, functions);
});
