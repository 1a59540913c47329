// `node bench/span-cost.ts [spans]`: what trace export adds per request on the sidecar's own
// thread, in nanoseconds per span, for the one part of it that runs per request: the span made
// from an access record (src/tracing/span.ts) and encoded into the queue's buffer
// (src/tracing/otlp-protobuf.ts, protobuf-writer.ts), with a batch taken every 512 spans as the
// batch processor does. The records look like a browser's GETs through the sidecar (a user agent,
// a path with a query, a client address). The batch's POST and the collector are not in it:
// bench/ab.ts and bench/instructions.ts measure the whole row. One process, CPU-bound: the best of
// five rounds, so a busy machine moves it less than it moves req/s.
import { startRecord } from '../src/exchange.ts';
import { loadConfig } from '../src/config.ts';
import { FlatHeaders } from '../src/proxy/flat-headers.ts';
import { ProtobufSpanQueue } from '../src/tracing/otlp-protobuf.ts';
import { spanFromRecord } from '../src/tracing/span.ts';
import type { SpanData } from '../src/tracing/span.ts';
import { startSpan } from '../src/tracing/trace-context.ts';

const config = loadConfig({ TARGET: 'http://127.0.0.1:3000', SRV_NAME: 'app' });
const userAgent = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';

/** An access record of a finished GET, as the handler leaves it (src/handler.ts). */
function record(i: number) {
  const headers = FlatHeaders.fromRaw(['Host', 'shop.example:8000', 'User-Agent', userAgent, 'Accept', '*/*']);
  const r = startRecord(config, {
    method: 'GET',
    path: `/items/${i}?page=${i % 7}`,
    requestId: 'b7c2a4f0-0000-4000-8000-000000000000',
    trace: startSpan(null),
    remoteAddr: '10.1.2.3',
    userAgent,
    request: { headers, url: `http://shop.example:8000/items/${i}` },
  });
  r.status = 200;
  r.durationMs = 0.5 + i / 1000;
  r.bytesOut = 1000 + i;
  return r;
}

const records = Array.from({ length: 1024 }, (_, i) => record(i));
const spans = records.map((r) => spanFromRecord(r) as SpanData);
const queue = new ProtobufSpanQueue({
  resource: [['service.name', 'app']],
  scope: { name: 'sidecar', version: '0.1.0' },
});
let bytes = 0;

function push(span: SpanData): void {
  queue.push(span);
  if (queue.length >= 512) bytes += queue.take(512).length;
}

/** The best of five rounds of `n` calls, in ns per call. */
function best(n: number, one: (i: number) => void): number {
  for (let i = 0; i < n; i++) one(i);
  let min = Infinity;
  for (let round = 0; round < 5; round++) {
    const started = performance.now();
    for (let i = 0; i < n; i++) one(i);
    min = Math.min(min, ((performance.now() - started) * 1e6) / n);
  }
  return min;
}

const n = Number(process.argv[2] ?? 200_000);
const encode = best(n, (i) => push(spans[i & 1023] as SpanData));
const made = best(n, (i) => spanFromRecord(records[i & 1023] as (typeof records)[number]));
const both = best(n, (i) => push(spanFromRecord(records[i & 1023] as (typeof records)[number]) as SpanData));
console.log(`bytes per span on the wire: ${Math.round(bytes / (n * 12))}`);
console.log(`| per span | ns |\n|---|--:|\n| made (spanFromRecord) | ${made.toFixed(0)} |`);
console.log(`| encoded and queued | ${encode.toFixed(0)} |\n| both | ${both.toFixed(0)} |`);
