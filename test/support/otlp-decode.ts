/**
 * Test-only decoders for OTLP trace requests, written apart from src/ (no code shared with the
 * encoders under test): a generic proto3 wire-format reader, the field numbers of
 * open-telemetry/opentelemetry-proto's trace_service.proto, trace.proto, resource.proto and
 * common.proto, and the JSON mapping. Both produce the same plain tree, with proto3 defaults
 * filled in, so a protobuf and a JSON request (ours or the reference serializer's) compare equal
 * exactly when they carry the same data. test/unit/tracing/otlp-encoding.test.ts checks this decoder against
 * @opentelemetry/otlp-transformer's serializers.
 */

export type AttributeValue = string | number | boolean;

export interface DecodedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  flags: number;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, AttributeValue>;
  status: { code: number; message: string };
  events: number;
  links: number;
}

export interface DecodedResourceSpans {
  resource: Record<string, AttributeValue>;
  scopeSpans: { scope: { name: string; version: string }; spans: DecodedSpan[] }[];
}

export interface DecodedRequest {
  resourceSpans: DecodedResourceSpans[];
}

// ---------------------------------------------------------------- wire format

type Field = { wire: 0 | 1 | 5; value: bigint } | { wire: 2; value: Uint8Array };

function readVarint(bytes: Uint8Array, at: { pos: number }): bigint {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (at.pos >= bytes.length) throw new Error('truncated varint');
    const byte = bytes[at.pos++] as number;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return result;
    shift += 7n;
    if (shift > 63n) throw new Error('varint too long');
  }
}

/** Every field of one message, by number, in order. */
function fields(bytes: Uint8Array): Map<number, Field[]> {
  const out = new Map<number, Field[]>();
  const at = { pos: 0 };
  while (at.pos < bytes.length) {
    const key = Number(readVarint(bytes, at));
    const number = key >>> 3;
    const wire = key & 7;
    let field: Field;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (wire === 0) field = { wire, value: readVarint(bytes, at) };
    else if (wire === 1) {
      field = { wire, value: view.getBigUint64(at.pos, true) };
      at.pos += 8;
    } else if (wire === 5) {
      field = { wire, value: BigInt(view.getUint32(at.pos, true)) };
      at.pos += 4;
    } else if (wire === 2) {
      const length = Number(readVarint(bytes, at));
      if (at.pos + length > bytes.length) throw new Error(`field ${number}: length ${length} runs past the message`);
      field = { wire, value: bytes.subarray(at.pos, at.pos + length) };
      at.pos += length;
    } else throw new Error(`field ${number}: unsupported wire type ${wire}`);
    if (number === 0) throw new Error('field number 0');
    const list = out.get(number) ?? [];
    list.push(field);
    out.set(number, list);
  }
  if (at.pos !== bytes.length) throw new Error('message overruns its bytes');
  return out;
}

const text = new TextDecoder('utf-8', { fatal: true });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function last(map: Map<number, Field[]>, n: number, wire: Field['wire']): Field | undefined {
  const list = map.get(n);
  const field = list?.[list.length - 1];
  if (field && field.wire !== wire) throw new Error(`field ${n}: wire type ${field.wire}, expected ${wire}`);
  return field;
}
const str = (m: Map<number, Field[]>, n: number) => {
  const f = last(m, n, 2);
  return f ? text.decode(f.value as Uint8Array) : '';
};
const bytesHex = (m: Map<number, Field[]>, n: number) => {
  const f = last(m, n, 2);
  return f ? hex(f.value as Uint8Array) : '';
};
const uint = (m: Map<number, Field[]>, n: number, wire: 0 | 1 | 5 = 0) =>
  (last(m, n, wire)?.value as bigint | undefined) ?? 0n;
const sub = (m: Map<number, Field[]>, n: number) =>
  (m.get(n) ?? []).map((f) => {
    if (f.wire !== 2) throw new Error(`field ${n}: not a message`);
    return fields(f.value);
  });

// ---------------------------------------------------------------- OTLP, protobuf

/** common.proto AnyValue: string_value 1, bool_value 2, int_value 3 (int64), double_value 4. */
function anyValue(m: Map<number, Field[]>): AttributeValue {
  if (m.has(1)) return str(m, 1);
  if (m.has(2)) return uint(m, 2) !== 0n;
  if (m.has(3)) return Number(BigInt.asIntN(64, uint(m, 3)));
  if (m.has(4)) return new DataView(new BigUint64Array([uint(m, 4, 1)]).buffer).getFloat64(0, true);
  throw new Error(`AnyValue with fields ${[...m.keys()].join(',')} is not handled here`);
}

/** repeated KeyValue (key 1, value 2) as an object; a repeated key is an error (the spec forbids it). */
function attributes(list: Map<number, Field[]>[]): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list) {
    const key = str(kv, 1);
    if (key in out) throw new Error(`attribute ${key} repeated`);
    const value = sub(kv, 2)[0];
    if (!value) throw new Error(`attribute ${key} has no value`);
    out[key] = anyValue(value);
  }
  return out;
}

/** trace.proto Span. */
function span(m: Map<number, Field[]>): DecodedSpan {
  const status = sub(m, 15)[0];
  return {
    traceId: bytesHex(m, 1),
    spanId: bytesHex(m, 2),
    traceState: str(m, 3),
    parentSpanId: bytesHex(m, 4),
    name: str(m, 5),
    kind: Number(uint(m, 6)),
    startTimeUnixNano: uint(m, 7, 1),
    endTimeUnixNano: uint(m, 8, 1),
    attributes: attributes(sub(m, 9)),
    events: sub(m, 11).length,
    links: sub(m, 13).length,
    status: { code: status ? Number(uint(status, 3)) : 0, message: status ? str(status, 2) : '' },
    flags: Number(uint(m, 16, 5)),
  };
}

/** trace_service.proto ExportTraceServiceRequest: resource_spans 1 > (resource 1 > attributes 1, scope_spans 2 > (scope 1, spans 2)). */
export function decodeProtobufRequest(bytes: Uint8Array): DecodedRequest {
  return {
    resourceSpans: sub(fields(bytes), 1).map((rs) => ({
      resource: attributes(sub(sub(rs, 1)[0] ?? new Map(), 1)),
      scopeSpans: sub(rs, 2).map((ss) => {
        const scope = sub(ss, 1)[0] ?? new Map<number, Field[]>();
        return { scope: { name: str(scope, 1), version: str(scope, 2) }, spans: sub(ss, 2).map(span) };
      }),
    })),
  };
}

// ---------------------------------------------------------------- OTLP, JSON

type Json = Record<string, unknown>;

function jsonAny(v: Json): AttributeValue {
  if ('stringValue' in v) return String(v.stringValue);
  if ('boolValue' in v) return Boolean(v.boolValue);
  // proto3 JSON: int64 as a decimal string (numbers accepted too).
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  throw new Error(`AnyValue ${JSON.stringify(v)} is not handled here`);
}

function jsonAttributes(list: unknown): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of (list ?? []) as Json[]) {
    const key = String(kv.key);
    if (key in out) throw new Error(`attribute ${key} repeated`);
    out[key] = jsonAny(kv.value as Json);
  }
  return out;
}

/** OTLP/JSON ids are hex, case-insensitive (specification.md "JSON Protobuf Encoding"). */
const jsonId = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : '');

function jsonSpan(s: Json): DecodedSpan {
  const status = (s.status ?? {}) as Json;
  return {
    traceId: jsonId(s.traceId),
    spanId: jsonId(s.spanId),
    traceState: (s.traceState as string | undefined) ?? '',
    parentSpanId: jsonId(s.parentSpanId),
    name: (s.name as string | undefined) ?? '',
    kind: Number(s.kind ?? 0),
    startTimeUnixNano: BigInt((s.startTimeUnixNano as string | undefined) ?? 0),
    endTimeUnixNano: BigInt((s.endTimeUnixNano as string | undefined) ?? 0),
    attributes: jsonAttributes(s.attributes),
    events: ((s.events as unknown[] | undefined) ?? []).length,
    links: ((s.links as unknown[] | undefined) ?? []).length,
    status: { code: Number(status.code ?? 0), message: (status.message as string | undefined) ?? '' },
    flags: Number(s.flags ?? 0),
  };
}

export function decodeJsonRequest(body: string): DecodedRequest {
  const request = JSON.parse(body) as Json;
  return {
    resourceSpans: ((request.resourceSpans ?? []) as Json[]).map((rs) => ({
      resource: jsonAttributes(((rs.resource ?? {}) as Json).attributes),
      scopeSpans: ((rs.scopeSpans ?? []) as Json[]).map((ss) => {
        const scope = (ss.scope ?? {}) as Json;
        return {
          scope: {
            name: (scope.name as string | undefined) ?? '',
            version: (scope.version as string | undefined) ?? '',
          },
          spans: ((ss.spans ?? []) as Json[]).map(jsonSpan),
        };
      }),
    })),
  };
}

/** Every span of a request, with its resource and scope. */
export function spansOf(
  request: DecodedRequest,
): (DecodedSpan & { resource: Record<string, AttributeValue>; scope: { name: string; version: string } })[] {
  return request.resourceSpans.flatMap((rs) =>
    rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => ({ ...s, resource: rs.resource, scope: ss.scope }))),
  );
}
