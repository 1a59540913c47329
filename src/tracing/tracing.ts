/**
 * Trace export, assembled from the configuration: each logged access record becomes a span
 * (span.ts), queued by the batch processor, encoded and posted by the OTLP exporter. Without an
 * endpoint there is no tracing object at all, and the request path is what it was.
 */
import { BatchSpanProcessor } from './batch-span-processor.ts';
import type { BatchOptions } from './batch-span-processor.ts';
import type { Config } from '../config.ts';
import type { AccessRecord } from '../exchange.ts';
import { createOtlpExporter } from './otlp-exporter.ts';
import type { AttemptOutcome, ExportResult, OtlpTarget } from './otlp-exporter.ts';
import { JsonSpanQueue } from './otlp-json.ts';
import { ProtobufSpanQueue } from './otlp-protobuf.ts';
import { spanFromRecord } from './span.ts';
import type { AttributeValue, HttpVersionOf } from './span.ts';

export interface Tracing {
  /** Where spans go (the URL only: headers are secrets). */
  readonly url: string;
  /** Makes the record's span, if sampled, and queues it. Never waits, never throws. */
  record(record: AccessRecord): void;
  /** Sends what is queued within `timeoutMs` (drain). */
  flush(timeoutMs: number): Promise<void>;
  readonly dropped: number;
}

export interface TracingSettings {
  target: OtlpTarget;
  batch: BatchOptions;
  resource: [string, AttributeValue][];
}

/** The instrumentation scope every span carries: the sidecar, at package.json's version. */
const scope = { name: 'sidecar', version: '0.1.0' };

/** What the OTEL_* variables amount to, or undefined when no endpoint is set (no export). */
export function tracingSettings(config: Config): TracingSettings | undefined {
  // exporter.md "Endpoint URLs for OTLP/HTTP": the per-signal URL as is, else the base URL + v1/traces.
  const url = config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    ? new URL(config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).href
    : config.OTEL_EXPORTER_OTLP_ENDPOINT
      ? `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/*$/, '')}/v1/traces`
      : undefined;
  if (url === undefined) return undefined;
  const headers = new Map(
    [...(config.OTEL_EXPORTER_OTLP_HEADERS ?? []), ...(config.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? [])].map(
      ([k, v]) => [k.toLowerCase(), v] as const,
    ),
  );
  const attributes = config.OTEL_RESOURCE_ATTRIBUTES ?? [];
  // sdk-environment-variables.md: OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES; SRV_NAME stands in for unknown_service.
  const serviceName =
    config.OTEL_SERVICE_NAME ?? attributes.find(([key]) => key === 'service.name')?.[1] ?? config.SRV_NAME;
  return {
    target: {
      url,
      protocol: config.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? config.OTEL_EXPORTER_OTLP_PROTOCOL,
      headers: [...headers],
      timeoutMs: config.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? config.OTEL_EXPORTER_OTLP_TIMEOUT,
    },
    batch: {
      maxQueueSize: config.OTEL_BSP_MAX_QUEUE_SIZE,
      maxExportBatchSize: config.OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
      scheduledDelayMs: config.OTEL_BSP_SCHEDULE_DELAY,
      exportTimeoutMs: config.OTEL_BSP_EXPORT_TIMEOUT,
    },
    resource: [['service.name', serviceName], ...attributes.filter(([key]) => key !== 'service.name')],
  };
}

export interface TracingDeps {
  say(message: string): void;
  httpVersion?: HttpVersionOf;
  fetch?: typeof fetch;
}

/** Lines about dropped spans: at most one a minute while a failure lasts. */
const failureLogIntervalMs = 60_000;

export function createTracing(config: Config, deps: TracingDeps): Tracing | undefined {
  const settings = tracingSettings(config);
  if (!settings) return undefined;
  const { url, protocol, timeoutMs: postTimeoutMs } = settings.target;
  const reports = failureReports(url, deps.say);
  const exporter = createOtlpExporter(settings.target, { fetch: deps.fetch, onAttempt: reports.attempt });
  let reportedRecordError = false;
  const envelope = { resource: settings.resource, scope };
  const queue = protocol === 'http/json' ? new JsonSpanQueue(envelope) : new ProtobufSpanQueue(envelope);
  const processor = new BatchSpanProcessor(queue, exporter, settings.batch, reports.dropped);
  deps.say(`sidecar: exporting spans to ${url} (OTLP ${protocol})`);
  return {
    url,
    record(record) {
      try {
        const span = spanFromRecord(record, deps.httpVersion);
        if (span) processor.onEnd(span);
      } catch (error) {
        // A bug here must cost a span, never the request that is being logged.
        if (!reportedRecordError)
          deps.say(
            `sidecar: could not make a span: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
          );
        reportedRecordError = true;
      }
    },
    async flush(timeoutMs) {
      const pending = processor.pending;
      if (pending === 0) return;
      // A collector that is down must not hold the exit: one attempt per batch (no retries), within
      // one POST's timeout (OTEL_EXPORTER_OTLP_TIMEOUT) or what is left of the drain, if shorter.
      const budget = Math.max(0, Math.round(postTimeoutMs > 0 ? Math.min(postTimeoutMs, timeoutMs) : timeoutMs));
      deps.say(`sidecar: flushing ${pending} span(s) to ${url}, up to ${budget} ms`);
      const before = processor.dropped;
      reports.flushing();
      await processor.flush(budget);
      const lost = processor.dropped - before;
      if (lost > 0) deps.say(`sidecar: ${lost} span(s) not exported before exit (${reports.lastReason()})`);
    },
    get dropped() {
      return processor.dropped;
    },
  };
}

/**
 * The stderr lines of a failing export: the first failed POST at once, with its cause; then spans
 * dropped, at most once a minute; then one line when an export succeeds again. During the drain's
 * flush these stay quiet: flush() says in one line what did not go out.
 */
function failureReports(url: string, say: (message: string) => void) {
  let failing = false;
  let quiet = false;
  let last = '';
  let lastLog = -Infinity;
  let droppedSinceLog = 0;
  return {
    attempt(outcome: AttemptOutcome): void {
      if (outcome.ok) {
        if (failing && !quiet)
          say(`sidecar: trace export to ${url} works again; ${droppedSinceLog} span(s) dropped meanwhile`);
        failing = false;
        droppedSinceLog = 0;
        last = '';
        return;
      }
      last = outcome.reason;
      const first = !failing;
      failing = true;
      // Not retried (a 4xx): the batch is dropped at once, and dropped() says so.
      if (!first || quiet || !outcome.retry) return;
      lastLog = performance.now();
      say(
        `sidecar: trace export to ${url} failing: ${outcome.reason}; retrying with backoff, spans that cannot wait are dropped (sidecar_spans_dropped_total)`,
      );
    },
    dropped(result: ExportResult & { ok: false }, spans: number): void {
      droppedSinceLog += spans;
      last = result.reason;
      const now = performance.now();
      if (quiet || now - lastLog < failureLogIntervalMs) return;
      lastLog = now;
      say(
        `sidecar: trace export to ${url} failed (${result.reason}); ${droppedSinceLog} span(s) dropped (sidecar_spans_dropped_total)`,
      );
      droppedSinceLog = 0;
    },
    flushing(): void {
      quiet = true;
    },
    lastReason: () => last || 'no time left',
  };
}
