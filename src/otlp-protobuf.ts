/**
 * OTLP/HTTP binary encoding: an ExportTraceServiceRequest in proto3 wire format
 * (https://protobuf.dev/programming-guides/encoding/), one small function per message. Field
 * numbers are those of open-telemetry/opentelemetry-proto (commit ac2c4b5, 2026-08-18):
 * collector/trace/v1/trace_service.proto, trace/v1/trace.proto, resource/v1/resource.proto,
 * common/v1/common.proto. Fields at their default value are left out, as proto3 does.
 * test/otlp-encoding.test.ts proves the bytes against @opentelemetry/otlp-transformer.
 */
import type { AttributeValue, SpanData } from './span.ts';

/** What every batch shares: the resource's attributes and the instrumentation scope. */
export interface ExportBatch {
  resource: [string, AttributeValue][];
  scope: { name: string; version: string };
  spans: SpanData[];
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

const utf8 = new TextEncoder();

/**
 * A growable buffer. A nested message is written in place and then shifted right by the size of
 * its length prefix, which is known only once it is written: no buffer per message.
 */
class Writer {
  buf = new Uint8Array(1024);
  pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  varint(value: number): void {
    this.room(10);
    // Values here are lengths, enums and integers below 2^53: split so bit operations stay in 32 bits.
    while (value > 0x7f) {
      this.buf[this.pos++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buf[this.pos++] = value;
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  fixed32(field: number, value: number): void {
    this.tag(field, I32);
    this.room(4);
    new DataView(this.buf.buffer).setUint32(this.pos, value >>> 0, true);
    this.pos += 4;
  }

  fixed64(field: number, value: bigint): void {
    this.tag(field, I64);
    this.room(8);
    new DataView(this.buf.buffer).setBigUint64(this.pos, value, true);
    this.pos += 8;
  }

  string(field: number, value: string): void {
    this.tag(field, LEN);
    this.room(10 + value.length * 3);
    const start = this.pos;
    // Reserve a 1-byte length, the common case; nested() fixes it up when longer.
    this.pos += 1;
    const { written } = utf8.encodeInto(value, this.buf.subarray(this.pos));
    this.pos += written;
    this.fixLength(start);
  }

  hexBytes(field: number, hex: string): void {
    this.tag(field, LEN);
    this.varint(hex.length / 2);
    this.room(hex.length / 2);
    for (let i = 0; i < hex.length; i += 2) this.buf[this.pos++] = parseInt(hex.slice(i, i + 2), 16);
  }

  /** A length-delimited sub-message written by `body`. */
  nested(field: number, body: () => void): void {
    this.tag(field, LEN);
    this.room(1);
    const start = this.pos;
    this.pos += 1;
    body();
    this.fixLength(start);
  }

  /** The bytes from start+1 to pos are a message whose length goes at start (one byte was reserved). */
  private fixLength(start: number): void {
    const length = this.pos - start - 1;
    let size = 1;
    while (length >= 2 ** (7 * size)) size++;
    if (size > 1) {
      this.room(size - 1);
      this.buf.copyWithin(start + size, start + 1, this.pos);
      this.pos += size - 1;
    }
    const end = this.pos;
    this.pos = start;
    this.varint(length);
    this.pos = end;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** ExportTraceServiceRequest: repeated ResourceSpans resource_spans = 1. */
export function encodeTraceRequest(batch: ExportBatch): Uint8Array {
  const w = new Writer();
  w.nested(1, () => resourceSpans(w, batch));
  return w.finish();
}

/** ResourceSpans: Resource resource = 1; repeated ScopeSpans scope_spans = 2. */
function resourceSpans(w: Writer, batch: ExportBatch): void {
  w.nested(1, () => resource(w, batch.resource));
  w.nested(2, () => scopeSpans(w, batch));
}

/** Resource: repeated KeyValue attributes = 1. */
function resource(w: Writer, attributes: [string, AttributeValue][]): void {
  for (const [key, value] of attributes) w.nested(1, () => keyValue(w, key, value));
}

/** ScopeSpans: InstrumentationScope scope = 1; repeated Span spans = 2. */
function scopeSpans(w: Writer, batch: ExportBatch): void {
  w.nested(1, () => instrumentationScope(w, batch.scope));
  for (const span of batch.spans) w.nested(2, () => spanMessage(w, span));
}

/** InstrumentationScope: string name = 1; string version = 2. */
function instrumentationScope(w: Writer, scope: ExportBatch['scope']): void {
  w.string(1, scope.name);
  w.string(2, scope.version);
}

/**
 * Span: bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4;
 * string name = 5; SpanKind kind = 6 (SPAN_KIND_SERVER = 2); fixed64 start_time_unix_nano = 7;
 * fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; Status status = 15;
 * fixed32 flags = 16.
 */
function spanMessage(w: Writer, span: SpanData): void {
  w.hexBytes(1, span.traceId);
  w.hexBytes(2, span.spanId);
  if (span.traceState) w.string(3, span.traceState);
  if (span.parentSpanId !== undefined) w.hexBytes(4, span.parentSpanId);
  w.string(5, span.name);
  w.tag(6, VARINT);
  w.varint(2);
  const [start, end] = spanTimes(span);
  w.fixed64(7, start);
  w.fixed64(8, end);
  for (const [key, value] of span.attributes) w.nested(9, () => keyValue(w, key, value));
  if (span.error) w.nested(15, () => status(w, 2));
  w.fixed32(16, span.flags);
}

/** Status: StatusCode code = 3 (STATUS_CODE_ERROR = 2). */
function status(w: Writer, code: number): void {
  w.tag(3, VARINT);
  w.varint(code);
}

/** KeyValue: string key = 1; AnyValue value = 2. */
function keyValue(w: Writer, key: string, value: AttributeValue): void {
  w.string(1, key);
  w.nested(2, () => anyValue(w, value));
}

/** AnyValue: oneof { string string_value = 1; int64 int_value = 3 }; the values here are never negative. */
function anyValue(w: Writer, value: AttributeValue): void {
  if (typeof value === 'string') {
    w.string(1, value);
  } else {
    w.tag(3, VARINT);
    w.varint(value);
  }
}

/** Start and end in Unix nanoseconds: the record's start (ms) and its duration, to the nanosecond. */
export function spanTimes(span: SpanData): [bigint, bigint] {
  const start = BigInt(Math.floor(span.startMs)) * 1_000_000n;
  return [start, start + BigInt(Math.max(0, Math.round(span.durationMs * 1e6)))];
}
