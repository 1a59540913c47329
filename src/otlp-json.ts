/**
 * OTLP/HTTP JSON encoding (open-telemetry/opentelemetry-proto docs/specification.md, "JSON Protobuf
 * Encoding"): the proto3 JSON mapping with lowerCamelCase keys, except that trace and span ids are
 * hex strings and enums are integers; 64-bit integers (times, int_value) are decimal strings.
 * Fields at their default value are left out.
 */
import type { ExportBatch } from './otlp-protobuf.ts';
import { spanTimes } from './otlp-protobuf.ts';
import type { AttributeValue, SpanData } from './span.ts';

export function encodeTraceRequestJson(batch: ExportBatch): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: batch.resource.map(keyValue) },
        scopeSpans: [{ scope: { name: batch.scope.name, version: batch.scope.version }, spans: batch.spans.map(span) }],
      },
    ],
  });
}

function span(s: SpanData): Record<string, unknown> {
  const [start, end] = spanTimes(s);
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    ...(s.traceState ? { traceState: s.traceState } : {}),
    ...(s.parentSpanId === undefined ? {} : { parentSpanId: s.parentSpanId }),
    flags: s.flags,
    name: s.name,
    // SPAN_KIND_SERVER
    kind: 2,
    startTimeUnixNano: start.toString(),
    endTimeUnixNano: end.toString(),
    attributes: s.attributes.map(keyValue),
    // STATUS_CODE_ERROR; an empty Status is UNSET.
    status: s.error ? { code: 2 } : {},
  };
}

function keyValue([key, value]: [string, AttributeValue]): { key: string; value: Record<string, string> } {
  return { key, value: typeof value === 'string' ? { stringValue: value } : { intValue: String(value) } };
}
