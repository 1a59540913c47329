/**
 * The OTLP encoders (src/tracing/otlp-protobuf.ts, src/tracing/otlp-json.ts) against the reference implementation,
 * @opentelemetry/otlp-transformer (dev dependency only): the same spans, serialized by both, carry
 * the same data once decoded, in both encodings. The test decoder (support/otlp-decode.ts) is
 * itself held to the reference: what it reads from the reference's bytes is what was given.
 */
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { describe, expect, it } from 'vitest';
import { encodeTraceRequestJson, JsonSpanQueue } from '../../../src/tracing/otlp-json.ts';
import { encodeTraceRequest, ProtobufSpanQueue } from '../../../src/tracing/otlp-protobuf.ts';
import type { ExportBatch } from '../../../src/tracing/otlp-protobuf.ts';
import type { SpanData } from '../../../src/tracing/span.ts';
import { decodeJsonRequest, decodeProtobufRequest, spansOf } from '../../support/otlp-decode.ts';

type ReferenceSpans = Parameters<typeof ProtobufTraceSerializer.serializeRequest>[0];

const nanos = (s: SpanData): [bigint, bigint] => {
  const start = BigInt(s.startMs) * 1_000_000n;
  return [start, start + BigInt(Math.round(s.durationMs * 1e6))];
};
const pairs = (flat: (string | number)[]) =>
  Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]] as [string, string | number]);
const hr = (ns: bigint): [number, number] => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];

/** The same spans as the SDK's ReadableSpan objects, for the reference serializer. */
function asReadableSpans(batch: ExportBatch): ReferenceSpans {
  const resource = { attributes: Object.fromEntries(batch.resource), schemaUrl: undefined };
  const scope = { name: batch.scope.name, version: batch.scope.version };
  return batch.spans.map((s) => {
    const [start, end] = nanos(s);
    const traceFlags = s.flags & 0xff;
    return {
      name: s.name,
      kind: 1, // @opentelemetry/api SpanKind.SERVER; OTLP's SPAN_KIND_SERVER is 2
      spanContext: () => ({
        traceId: s.traceId,
        spanId: s.spanId,
        traceFlags,
        traceState: s.traceState ? { serialize: () => s.traceState } : undefined,
      }),
      parentSpanContext: s.parentSpanId
        ? { traceId: s.traceId, spanId: s.parentSpanId, traceFlags, isRemote: true }
        : undefined,
      startTime: hr(start),
      endTime: hr(end),
      duration: hr(end - start),
      status: { code: s.error ? 2 : 0 },
      attributes: Object.fromEntries(pairs(s.attributes)),
      links: [],
      events: [],
      ended: true,
      resource,
      instrumentationScope: scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  }) as unknown as ReferenceSpans;
}

const span = (overrides: Partial<SpanData> = {}): SpanData => ({
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  parentSpanId: 'a3ce929d0e0e4736',
  traceState: undefined,
  flags: 0x301,
  name: 'GET',
  startMs: 1_764_000_000_123,
  durationMs: 12.345678,
  attributes: [
    'http.request.method',
    'GET',
    'url.path',
    '/a/b',
    'url.scheme',
    'http',
    'http.response.status_code',
    200,
    'http.request.body.size',
    0,
    'http.response.body.size',
    1_234_567_890_123,
  ],
  error: false,
  ...overrides,
});

const batches: [string, ExportBatch][] = [
  [
    'one span with a parent',
    { resource: [['service.name', 'app']], scope: { name: 'sidecar', version: '0.1.0' }, spans: [span()] },
  ],
  [
    'a root span, an ERROR span with tracestate, non-ASCII and long strings',
    {
      resource: [
        ['service.name', 'légacy-app'],
        ['k8s.pod.name', 'p-1'],
      ],
      scope: { name: 'sidecar', version: '0.1.0' },
      spans: [
        span({ parentSpanId: undefined, flags: 0x101, spanId: '1111111111111111' }),
        span({
          name: 'HTTP',
          error: true,
          traceState: 'vendor=a,other=b',
          attributes: [
            'error.type',
            'upstream_refused',
            'http.request.method',
            '_OTHER',
            'url.path',
            `/${'x'.repeat(300)}é😀`,
          ],
        }),
        span({ durationMs: 0, attributes: [] }),
      ],
    },
  ],
  [
    // protobuf-writer.ts writes a KeyValue in one pass while every length fits one byte and the
    // value is ASCII; these sit on either side of that, and its bail-out midway through a value.
    'attributes at the edges of the one-pass KeyValue writer, uppercase hex ids',
    {
      resource: [['service.name', 'app']],
      scope: { name: 'sidecar', version: '0.1.0' },
      spans: [
        span({
          traceId: '4BF92F3577B34DA6A3CE929D0E0E4736',
          spanId: '00F067AA0BA902B7',
          attributes: [
            'url.path',
            `/${'a'.repeat(109)}`,
            'url.pat2',
            `/${'b'.repeat(110)}`,
            'url.pat3',
            `/${'c'.repeat(111)}`,
            'user_agent.original',
            'curl/8 ünïcode at the end é',
            'url.query',
            'é',
            'http.response.status_code',
            127,
            'http.request.body.size',
            128,
            'http.response.body.size',
            2 ** 53 - 1,
          ],
        }),
      ],
    },
  ],
  [
    '512 spans (lengths past two varint bytes)',
    {
      resource: [['service.name', 'app']],
      scope: { name: 'sidecar', version: '0.1.0' },
      spans: Array.from({ length: 512 }, (_, i) => span({ spanId: (i + 1).toString(16).padStart(16, '0') })),
    },
  ],
];

const envelope = {
  resource: [['service.name', 'app']] as [string, string][],
  scope: { name: 'sidecar', version: '0.1.0' },
};

describe('OTLP encoders, against @opentelemetry/otlp-transformer', () => {
  it('protobuf times are exact nanoseconds across 32-bit boundaries, from 1970 to 2100, for durations up to days', () => {
    const spans = [0, 1, 65_535, 65_536, 4_294_967_295, 4_294_967_296, 1_764_000_000_123, 4_102_444_800_000].flatMap(
      (startMs, i) =>
        [0, 0.000001, 0.5, 12.345678, 3_600_000, 86_400_000 * 3].map((durationMs, j) =>
          span({ startMs, durationMs, spanId: (i * 16 + j + 1).toString(16).padStart(16, '0') }),
        ),
    );
    const decoded = spansOf(decodeProtobufRequest(encodeTraceRequest({ ...envelope, spans })));
    expect(decoded.map((d) => [d.startTimeUnixNano, d.endTimeUnixNano])).toEqual(spans.map(nanos));
  });

  it('a queue taken in parts sends each part as its own complete request, while new spans arrive', () => {
    const queue = new ProtobufSpanQueue(envelope);
    const json = new JsonSpanQueue(envelope);
    const all = Array.from({ length: 30 }, (_, i) =>
      span({ spanId: (i + 1).toString(16).padStart(16, '0'), attributes: ['url.path', `/${'p'.repeat(i * 10)}`] }),
    );
    for (const s of all.slice(0, 20)) {
      queue.push(s);
      json.push(s);
    }
    const first = decodeProtobufRequest(queue.take(12).slice());
    expect(decodeJsonRequest(json.take(12))).toEqual(first);
    for (const s of all.slice(20)) {
      queue.push(s);
      json.push(s);
    }
    expect(queue.length).toBe(18);
    const second = decodeProtobufRequest(queue.take(100));
    expect(decodeJsonRequest(json.take(100))).toEqual(second);
    expect(first).toEqual(
      decodeProtobufRequest(
        ProtobufTraceSerializer.serializeRequest(
          asReadableSpans({ ...envelope, spans: all.slice(0, 12) }),
        ) as Uint8Array,
      ),
    );
    expect(second).toEqual(
      decodeProtobufRequest(
        ProtobufTraceSerializer.serializeRequest(asReadableSpans({ ...envelope, spans: all.slice(12) })) as Uint8Array,
      ),
    );
    expect(queue.length).toBe(0);
  });

  it.each(batches)('protobuf: %s decodes to the same request as the reference serializer', (_, batch) => {
    const reference = ProtobufTraceSerializer.serializeRequest(asReadableSpans(batch));
    expect(reference).toBeDefined();
    expect(decodeProtobufRequest(encodeTraceRequest(batch))).toEqual(decodeProtobufRequest(reference as Uint8Array));
  });

  it.each(batches)('JSON: %s decodes to the same request as the reference serializer', (_, batch) => {
    const reference = new TextDecoder().decode(JsonTraceSerializer.serializeRequest(asReadableSpans(batch)));
    expect(decodeJsonRequest(encodeTraceRequestJson(batch))).toEqual(decodeJsonRequest(reference));
  });

  it.each(batches)('protobuf and JSON of %s carry the same data', (_, batch) => {
    expect(decodeJsonRequest(encodeTraceRequestJson(batch))).toEqual(decodeProtobufRequest(encodeTraceRequest(batch)));
  });

  it("the test decoder reads back from the reference's bytes exactly what was given", () => {
    const batch = batches[1]![1];
    const decoded = spansOf(
      decodeProtobufRequest(ProtobufTraceSerializer.serializeRequest(asReadableSpans(batch)) as Uint8Array),
    );
    expect(
      decoded.map((s) => [s.traceId, s.spanId, s.parentSpanId, s.name, s.kind, s.flags, s.status.code, s.traceState]),
    ).toEqual(
      batch.spans.map((s) => [
        s.traceId,
        s.spanId,
        s.parentSpanId ?? '',
        s.name,
        2,
        s.flags,
        s.error ? 2 : 0,
        s.traceState ?? '',
      ]),
    );
    expect(decoded[1]?.attributes).toEqual(Object.fromEntries(pairs(batch.spans[1]!.attributes)));
    expect(decoded[0]?.resource).toEqual({ 'service.name': 'légacy-app', 'k8s.pod.name': 'p-1' });
    expect(decoded[0]?.endTimeUnixNano).toBe(1_764_000_000_123_000_000n + 12_345_678n);
  });

  it('JSON follows the OTLP deviations from proto3 JSON: hex ids, integer enums, int64 as decimal strings', () => {
    const json = JSON.parse(encodeTraceRequestJson(batches[0]![1])) as {
      resourceSpans: [{ scopeSpans: [{ spans: [Record<string, unknown>] }] }];
    };
    const s = json.resourceSpans[0].scopeSpans[0].spans[0];
    expect(s.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(s.parentSpanId).toBe('a3ce929d0e0e4736');
    expect(s.kind).toBe(2);
    expect(s.startTimeUnixNano).toBe('1764000000123000000');
    expect(s.attributes).toContainEqual({ key: 'http.response.body.size', value: { intValue: '1234567890123' } });
  });
});
