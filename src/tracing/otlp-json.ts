/**
 * OTLP/HTTP JSON encoding (open-telemetry/opentelemetry-proto docs/specification.md, "JSON Protobuf
 * Encoding"): the proto3 JSON mapping with lowerCamelCase keys, except that trace and span ids are
 * hex strings and enums are integers; 64-bit integers (times, int_value) are decimal strings.
 * Fields at their default value are left out. Each span is encoded when it is queued, as for
 * protobuf (otlp-protobuf.ts): the queue holds one string per span.
 */
import { spanTimes } from './otlp-protobuf.ts';
import type { Envelope, ExportBatch, SpanQueue } from './otlp-protobuf.ts';
import type { AttributeValue, SpanData } from './span.ts';

export class JsonSpanQueue implements SpanQueue {
  #spans: string[] = [];
  readonly #head: string;

  constructor(envelope: Envelope) {
    const resource = JSON.stringify({ attributes: envelope.resource.map(([key, value]) => keyValue(key, value)) });
    const scope = JSON.stringify({ name: envelope.scope.name, version: envelope.scope.version });
    this.#head = `{"resourceSpans":[{"resource":${resource},"scopeSpans":[{"scope":${scope},"spans":[`;
  }

  get length(): number {
    return this.#spans.length;
  }

  push(span: SpanData): void {
    this.#spans.push(JSON.stringify(spanJson(span)));
  }

  take(n: number): string {
    return `${this.#head}${this.#spans.splice(0, n).join(',')}]}]}]}`;
  }

  clear(): void {
    this.#spans = [];
  }
}

export function encodeTraceRequestJson(batch: ExportBatch): string {
  const queue = new JsonSpanQueue(batch);
  for (const span of batch.spans) queue.push(span);
  return queue.take(batch.spans.length);
}

function spanJson(s: SpanData): Record<string, unknown> {
  const [start, end] = spanTimes(s);
  const attributes: ReturnType<typeof keyValue>[] = [];
  for (let i = 0; i < s.attributes.length; i += 2)
    attributes.push(keyValue(s.attributes[i] as string, s.attributes[i + 1] as AttributeValue));
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
    attributes,
    // STATUS_CODE_ERROR; an empty Status is UNSET.
    status: s.error ? { code: 2 } : {},
  };
}

function keyValue(key: string, value: AttributeValue): { key: string; value: Record<string, string> } {
  return { key, value: typeof value === 'string' ? { stringValue: value } : { intValue: String(value) } };
}
