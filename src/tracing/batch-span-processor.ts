/**
 * The batch span processor, shaped after open-telemetry/opentelemetry-js
 * packages/opentelemetry-sdk-trace-base/src/export/BatchSpanProcessorBase.ts and the defaults of
 * specification/configuration/sdk-environment-variables.md ("Batch Span Processor"): finished
 * spans wait in a bounded queue (OTEL_BSP_MAX_QUEUE_SIZE, 2048) and leave in batches of
 * OTEL_BSP_MAX_EXPORT_BATCH_SIZE (512), as soon as that many wait or OTEL_BSP_SCHEDULE_DELAY
 * (5000 ms) after the first one arrived; one export is in flight at a time, bounded by
 * OTEL_BSP_EXPORT_TIMEOUT (30000 ms). A full queue drops new spans, and a batch the collector did
 * not take is dropped: both are counted. Nothing here delays a response: onEnd runs when the
 * exchange is logged, after its response ended, and only encodes and queues (a microsecond or two).
 */
import type { ExportResult } from './otlp-exporter.ts';
import type { SpanQueue } from './otlp-protobuf.ts';
import type { SpanData } from './span.ts';

export interface BatchOptions {
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMs: number;
  /** 0 means no limit. */
  exportTimeoutMs: number;
}

/**
 * Sends one request body (a batch, encoded by the queue), giving up at `deadline` (performance.now()
 * time), and retrying no more once `noRetry` is aborted (flush).
 */
export type ExportBodyFn = (body: Uint8Array | string, deadline: number, noRetry: AbortSignal) => Promise<ExportResult>;

export class BatchSpanProcessor {
  readonly #export: ExportBodyFn;
  readonly #options: BatchOptions;
  readonly #onFailure: (result: ExportResult & { ok: false }, spans: number) => void;
  /** Spans are encoded as they are queued (otlp-protobuf.ts says why). */
  readonly #queue: SpanQueue;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<void> | undefined;
  /** Spans in the export in flight. */
  #inFlightSpans = 0;
  /** Aborted by flush(): the process is about to exit, so a failed export is not retried. */
  readonly #noRetry = new AbortController();
  #dropped = 0;
  #exported = 0;
  /** performance.now() time by which a flush must be done; exports started during it end by then too. */
  #flushDeadline = Infinity;

  constructor(
    queue: SpanQueue,
    exportBody: ExportBodyFn,
    options: BatchOptions,
    onFailure: (result: ExportResult & { ok: false }, spans: number) => void = () => {},
  ) {
    this.#queue = queue;
    this.#export = exportBody;
    this.#options = { ...options, maxExportBatchSize: Math.min(options.maxExportBatchSize, options.maxQueueSize) };
    this.#onFailure = onFailure;
  }

  /** Spans dropped: queue full, or the collector did not take them in time. */
  get dropped(): number {
    return this.#dropped;
  }

  get exported(): number {
    return this.#exported;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Spans not yet exported: queued, and in the export in flight. */
  get pending(): number {
    return this.#queue.length + this.#inFlightSpans;
  }

  onEnd(span: SpanData): void {
    if (this.#queue.length >= this.#options.maxQueueSize) {
      this.#dropped++;
      return;
    }
    this.#queue.push(span);
    if (this.#inFlight) return; // the export's end looks at the queue again
    if (this.#queue.length >= this.#options.maxExportBatchSize) {
      // Off the request's path: the request that filled the batch finishes first.
      this.#clearTimer();
      this.#timer = setTimeout(() => this.#exportNext(), 0);
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#exportNext(), this.#options.scheduledDelayMs);
    }
  }

  /**
   * Sends everything queued, one batch after another, within `timeoutMs`, one attempt each (an
   * export already retrying stops at its next backoff); what is still queued then is dropped and
   * counted. For drain: the process exits afterwards.
   */
  async flush(timeoutMs: number): Promise<void> {
    this.#flushDeadline = performance.now() + Math.max(0, timeoutMs);
    this.#noRetry.abort();
    this.#clearTimer();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, timeoutMs))));
    while (performance.now() < this.#flushDeadline) {
      // An export begun before the flush may have a later deadline of its own: stop waiting at ours.
      if (this.#inFlight) await Promise.race([this.#inFlight, timeUp]);
      else if (this.#queue.length > 0) this.#exportNext();
      else break;
    }
    clearTimeout(timer);
    this.#clearTimer();
    this.#dropped += this.#queue.length;
    this.#queue.clear();
  }

  #exportNext(): void {
    this.#clearTimer();
    if (this.#inFlight || this.#queue.length === 0) return;
    const count = Math.min(this.#queue.length, this.#options.maxExportBatchSize);
    const body = this.#queue.take(count);
    const limit = this.#options.exportTimeoutMs > 0 ? performance.now() + this.#options.exportTimeoutMs : Infinity;
    const deadline = Math.min(limit, this.#flushDeadline);
    this.#inFlightSpans = count;
    this.#inFlight = this.#export(body, deadline, this.#noRetry.signal)
      .catch((error: unknown): ExportResult => ({
        ok: false,
        attempts: 0,
        reason: `exporter failed: ${String(error)}`,
      }))
      .then((result) => {
        if (result.ok) this.#exported += count;
        else {
          this.#dropped += count;
          this.#onFailure(result, count);
        }
      })
      .finally(() => {
        this.#inFlight = undefined;
        this.#inFlightSpans = 0;
        this.#afterExport();
      });
  }

  #afterExport(): void {
    if (this.#flushDeadline !== Infinity) return; // flush() drives the rest
    if (this.#queue.length >= this.#options.maxExportBatchSize) this.#exportNext();
    else if (this.#queue.length > 0 && this.#timer === undefined)
      this.#timer = setTimeout(() => this.#exportNext(), this.#options.scheduledDelayMs);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
