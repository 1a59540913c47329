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
import type { OtlpTarget } from './otlp-exporter.ts';
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

/** One stderr line per failure spell, then at most one a minute while it lasts. */
const failureLogIntervalMs = 60_000;

export function createTracing(config: Config, deps: TracingDeps): Tracing | undefined {
  const settings = tracingSettings(config);
  if (!settings) return undefined;
  const exporter = createOtlpExporter(settings.target, { fetch: deps.fetch });
  const { url } = settings.target;
  let lastFailureLog = -Infinity;
  let reportedRecordError = false;
  let droppedSinceLog = 0;
  const envelope = { resource: settings.resource, scope };
  const queue =
    settings.target.protocol === 'http/json' ? new JsonSpanQueue(envelope) : new ProtobufSpanQueue(envelope);
  const processor = new BatchSpanProcessor(queue, exporter, settings.batch, (result, spans) => {
    droppedSinceLog += spans;
    const now = performance.now();
    if (now - lastFailureLog < failureLogIntervalMs) return;
    lastFailureLog = now;
    deps.say(
      `sidecar: trace export to ${url} failed (${result.reason}); ${droppedSinceLog} span(s) dropped (sidecar_spans_dropped_total)`,
    );
    droppedSinceLog = 0;
  });
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
    flush: (timeoutMs) => processor.flush(timeoutMs),
    get dropped() {
      return processor.dropped;
    },
  };
}
