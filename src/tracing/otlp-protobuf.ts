/**
 * OTLP/HTTP binary encoding of an ExportTraceServiceRequest, one small function per message, field
 * numbers as in open-telemetry/opentelemetry-proto (commit ac2c4b5, 2026-08-18):
 * collector/trace/v1/trace_service.proto, trace/v1/trace.proto, resource/v1/resource.proto,
 * common/v1/common.proto. Fields at their default value are left out, as proto3 does.
 * test/unit/tracing/otlp-encoding.test.ts proves the bytes against @opentelemetry/otlp-transformer.
 *
 * A span is encoded when it is queued (ProtobufSpanQueue), into one buffer shared by the whole
 * queue: up to 2048 waiting spans are a few hundred KiB of bytes rather than tens of thousands of
 * small objects, which V8 would promote to the old generation and collect late (measured: 80 MiB
 * more peak RSS under load when the queue held span objects).
 */
import { LEN, ProtoWriter, VARINT, encodedString } from './protobuf-writer.ts';
import type { AttributeValue, SpanData } from './span.ts';

/** What every batch shares: the resource's attributes and the instrumentation scope. */
export interface Envelope {
  resource: [string, AttributeValue][];
  scope: { name: string; version: string };
}

export interface ExportBatch extends Envelope {
  spans: SpanData[];
}

/** Encoded spans waiting to be sent, and the request that carries the first n of them. */
export interface SpanQueue {
  readonly length: number;
  push(span: SpanData): void;
  /** Removes the first `n` spans; returns the request body carrying them, valid until the next take(). */
  take(n: number): Uint8Array | string;
  clear(): void;
}

/** Spans as `ScopeSpans.spans` fields (tag, length, Span), back to back in one buffer. */
export class ProtobufSpanQueue implements SpanQueue {
  /** The queue's bytes are its writer's buffer, from 0 to the last span's end. */
  readonly #w = new ProtoWriter(new Uint8Array(64 * 1024));
  /** Where each queued span's bytes end. */
  #ends: number[] = [];
  #out: Uint8Array = new Uint8Array(64 * 1024);
  readonly #resource: Uint8Array;
  readonly #scope: Uint8Array;

  constructor(envelope: Envelope) {
    // ResourceSpans.resource = 1 and ScopeSpans.scope = 1, encoded once.
    let w = new ProtoWriter();
    let m = w.begin(1);
    resource(w, envelope.resource);
    w.end(m);
    this.#resource = w.finish();
    w = new ProtoWriter();
    m = w.begin(1);
    instrumentationScope(w, envelope.scope);
    w.end(m);
    this.#scope = w.finish();
  }

  get length(): number {
    return this.#ends.length;
  }

  push(span: SpanData): void {
    const w = this.#w;
    w.pos = this.#ends.length === 0 ? 0 : (this.#ends[this.#ends.length - 1] as number);
    const m = w.begin(2);
    spanMessage(w, span);
    w.end(m);
    this.#ends.push(w.pos);
  }

  take(n: number): Uint8Array {
    const count = Math.min(n, this.#ends.length);
    const size = count === 0 ? 0 : (this.#ends[count - 1] as number);
    const queued = this.#w.buf;
    const spans = queued.subarray(0, size);
    // ExportTraceServiceRequest.resource_spans = 1 > ResourceSpans { resource = 1, scope_spans = 2 > ScopeSpans { scope = 1, spans = 2 } }
    const scopeSpansLength = this.#scope.length + size;
    const resourceSpansLength = this.#resource.length + 1 + varintSize(scopeSpansLength) + scopeSpansLength;
    const w = new ProtoWriter(this.#out);
    w.tag(1, LEN);
    w.varint(resourceSpansLength);
    w.raw(this.#resource);
    w.tag(2, LEN);
    w.varint(scopeSpansLength);
    w.raw(this.#scope);
    w.raw(spans);
    this.#out = w.buf;
    // The rest moves to the front; new spans keep arriving at the end while this batch is sent.
    const end = this.#ends.length === 0 ? 0 : (this.#ends[this.#ends.length - 1] as number);
    queued.copyWithin(0, size, end);
    this.#ends = this.#ends.slice(count).map((e) => e - size);
    return w.buf.subarray(0, w.pos);
  }

  clear(): void {
    this.#ends = [];
  }
}

/** The whole request for a batch, in bytes of its own (tests, and one-off use). */
export function encodeTraceRequest(batch: ExportBatch): Uint8Array {
  const queue = new ProtobufSpanQueue(batch);
  for (const span of batch.spans) queue.push(span);
  return queue.take(batch.spans.length).slice();
}

/** Resource: repeated KeyValue attributes = 1. */
function resource(w: ProtoWriter, attributes: [string, AttributeValue][]): void {
  for (const [key, value] of attributes) keyValue(w, 1, key, value);
}

/** InstrumentationScope: string name = 1; string version = 2. */
function instrumentationScope(w: ProtoWriter, scope: Envelope['scope']): void {
  w.string(1, scope.name);
  w.string(2, scope.version);
}

/**
 * Span: bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4;
 * string name = 5; SpanKind kind = 6 (SPAN_KIND_SERVER = 2); fixed64 start_time_unix_nano = 7;
 * fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; Status status = 15;
 * fixed32 flags = 16.
 */
function spanMessage(w: ProtoWriter, span: SpanData): void {
  w.hexBytes(1, span.traceId);
  w.hexBytes(2, span.spanId);
  if (span.traceState) w.string(3, span.traceState);
  if (span.parentSpanId !== undefined) w.hexBytes(4, span.parentSpanId);
  w.constant(5, span.name);
  w.tag(6, VARINT);
  w.varint(2);
  const ms = Math.floor(span.startMs);
  w.fixed64Nanos(7, ms, 0);
  w.fixed64Nanos(8, ms, durationNanos(span));
  const a = span.attributes;
  for (let i = 0; i < a.length; i += 2) keyValue(w, 9, a[i] as string, a[i + 1] as AttributeValue);
  if (span.error) {
    const m = w.begin(15);
    status(w, 2);
    w.end(m);
  }
  w.fixed32(16, span.flags);
}

/** Status: StatusCode code = 3 (STATUS_CODE_ERROR = 2). */
function status(w: ProtoWriter, code: number): void {
  w.tag(3, VARINT);
  w.varint(code);
}

/** KeyValue (as field `field` of its parent): string key = 1; AnyValue value = 2 (protobuf-writer.ts). */
function keyValue(w: ProtoWriter, field: number, key: string, value: AttributeValue): void {
  w.keyValue(field, encodedString(1, key), value);
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 2 ** (7 * size)) size++;
  return size;
}

/** The span's duration in whole nanoseconds, never negative. */
export function durationNanos(span: SpanData): number {
  return Math.max(0, Math.round(span.durationMs * 1e6));
}

/** Start and end in Unix nanoseconds, for the JSON encoding's decimal strings. */
export function spanTimes(span: SpanData): [bigint, bigint] {
  const start = BigInt(Math.floor(span.startMs)) * 1_000_000n;
  return [start, start + BigInt(durationNanos(span))];
}
