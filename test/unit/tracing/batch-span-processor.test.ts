import { describe, expect, it } from 'vitest';
import { BatchSpanProcessor } from '../../../src/tracing/batch-span-processor.ts';
import type { ExportBodyFn } from '../../../src/tracing/batch-span-processor.ts';
import type { ExportResult } from '../../../src/tracing/otlp-exporter.ts';
import type { SpanQueue } from '../../../src/tracing/otlp-protobuf.ts';
import type { SpanData } from '../../../src/tracing/span.ts';

const span = (i: number): SpanData => ({
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: (i + 1).toString(16).padStart(16, '0'),
  parentSpanId: undefined,
  traceState: undefined,
  flags: 0x101,
  name: 'GET',
  startMs: 0,
  durationMs: 1,
  attributes: [],
  error: false,
});

/** A queue whose "encoding" is the span ids as JSON, so the test can read what each export carried. */
class IdQueue implements SpanQueue {
  spans: SpanData[] = [];
  get length() {
    return this.spans.length;
  }
  push(span: SpanData) {
    this.spans.push(span);
  }
  take(n: number) {
    return JSON.stringify(this.spans.splice(0, n).map((s) => s.spanId));
  }
  clear() {
    this.spans = [];
  }
}
const ids = (body: Uint8Array | string) => JSON.parse(String(body)) as string[];

/** An exporter whose calls the test sees and settles. */
function controlledExporter() {
  const calls: { spans: string[]; deadline: number; settle: (r: ExportResult) => void }[] = [];
  let notify: () => void = () => {};
  const exportBatch: ExportBodyFn = (body, deadline) =>
    new Promise((resolve) => {
      calls.push({ spans: ids(body), deadline, settle: resolve });
      notify();
    });
  const nextCall = async (n: number) => {
    while (calls.length < n) await new Promise<void>((resolve) => (notify = resolve));
    return calls[n - 1]!;
  };
  return { calls, exportBatch, nextCall };
}

const options = { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMs: 5000, exportTimeoutMs: 30_000 };

describe('BatchSpanProcessor', () => {
  it('exports a full batch of 512 at once, without waiting for the schedule delay', async () => {
    const e = controlledExporter();
    const p = new BatchSpanProcessor(new IdQueue(), e.exportBatch, { ...options, scheduledDelayMs: 3_600_000 });
    for (let i = 0; i < 512; i++) p.onEnd(span(i));
    const call = await e.nextCall(1);
    expect(call.spans).toHaveLength(512);
    call.settle({ ok: true, attempts: 1 });
  });

  it('exports fewer spans once the schedule delay has passed since the first', async () => {
    const e = controlledExporter();
    const p = new BatchSpanProcessor(new IdQueue(), e.exportBatch, { ...options, scheduledDelayMs: 20 });
    p.onEnd(span(1));
    p.onEnd(span(2));
    const call = await e.nextCall(1);
    expect(call.spans).toEqual([span(1).spanId, span(2).spanId]);
    call.settle({ ok: true, attempts: 1 });
  });

  it('keeps one export in flight: the next batch leaves only when the first is settled', async () => {
    const e = controlledExporter();
    const p = new BatchSpanProcessor(new IdQueue(), e.exportBatch, { ...options, scheduledDelayMs: 3_600_000 });
    for (let i = 0; i < 1024 + 10; i++) p.onEnd(span(i));
    const first = await e.nextCall(1);
    // Two full batches wait, yet the second goes only once the first is settled.
    expect(p.queued).toBe(512 + 10);
    p.onEnd(span(9999));
    expect(e.calls).toHaveLength(1);
    first.settle({ ok: true, attempts: 1 });
    const second = await e.nextCall(2);
    expect(second.spans).toHaveLength(512);
    expect(e.calls).toHaveLength(2);
    second.settle({ ok: true, attempts: 1 });
    // The 11 left are less than a batch: they wait for the schedule delay (or a flush).
    const flushed = p.flush(5000);
    const third = await e.nextCall(3);
    expect(third.spans).toHaveLength(11);
    third.settle({ ok: true, attempts: 1 });
    await flushed;
    expect(p.exported).toBe(1024 + 11);
  });

  it('bounds the queue: beyond OTEL_BSP_MAX_QUEUE_SIZE spans are dropped and counted', async () => {
    const e = controlledExporter();
    const p = new BatchSpanProcessor(new IdQueue(), e.exportBatch, {
      ...options,
      maxQueueSize: 10,
      maxExportBatchSize: 512,
      scheduledDelayMs: 3_600_000,
    });
    for (let i = 0; i < 25; i++) p.onEnd(span(i));
    expect(p.queued).toBe(10);
    expect(p.dropped).toBe(15);
    // The batch size was clamped to the queue size, so the full queue is one export.
    expect((await e.nextCall(1)).spans).toHaveLength(10);
  });

  it('counts a batch the collector did not take as dropped, and reports why', async () => {
    const e = controlledExporter();
    const failures: [string, number][] = [];
    const p = new BatchSpanProcessor(new IdQueue(), e.exportBatch, { ...options, scheduledDelayMs: 10 }, (result, n) =>
      failures.push([result.reason, n]),
    );
    for (let i = 0; i < 3; i++) p.onEnd(span(i));
    (await e.nextCall(1)).settle({ ok: false, attempts: 1, reason: 'HTTP 400' });
    await p.flush(1000);
    expect(p.dropped).toBe(3);
    expect(p.exported).toBe(0);
    expect(failures).toEqual([['HTTP 400', 3]]);
  });

  it('passes each export a deadline OTEL_BSP_EXPORT_TIMEOUT ahead', async () => {
    const e = controlledExporter();
    const p = new BatchSpanProcessor(new IdQueue(), e.exportBatch, {
      ...options,
      scheduledDelayMs: 1,
      exportTimeoutMs: 30_000,
    });
    const before = performance.now();
    p.onEnd(span(1));
    const call = await e.nextCall(1);
    expect(call.deadline - before).toBeGreaterThanOrEqual(30_000);
    expect(call.deadline - performance.now()).toBeLessThanOrEqual(30_000);
    call.settle({ ok: true, attempts: 1 });
  });

  it('flush sends everything queued, batch after batch, then resolves', async () => {
    const sent: number[] = [];
    const p = new BatchSpanProcessor(
      new IdQueue(),
      async (body) => (sent.push(ids(body).length), { ok: true, attempts: 1 }),
      { ...options, maxExportBatchSize: 100, scheduledDelayMs: 3_600_000 },
    );
    for (let i = 0; i < 250; i++) p.onEnd(span(i));
    await p.flush(5000);
    expect(sent).toEqual([100, 100, 50]);
    expect(p.exported).toBe(250);
    expect(p.queued).toBe(0);
  });

  it('flush gives up at its timeout when the collector hangs, counting what was not sent', async () => {
    const e = controlledExporter();
    const p = new BatchSpanProcessor(new IdQueue(), e.exportBatch, {
      ...options,
      maxExportBatchSize: 100,
      scheduledDelayMs: 3_600_000,
    });
    for (let i = 0; i < 150; i++) p.onEnd(span(i));
    const flushed = p.flush(50);
    const call = await e.nextCall(1);
    // The export started by the flush must end by the flush's deadline too.
    expect(call.deadline - performance.now()).toBeLessThanOrEqual(50);
    await flushed;
    expect(p.dropped).toBe(50);
  });
});
