/**
 * The OTLP/HTTP sender against a real receiver on 127.0.0.1: what it posts, and the retry rules of
 * opentelemetry-proto docs/specification.md (429/502/503/504 and network errors retried, Retry-After
 * honoured, other 4xx never retried).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createOtlpExporter, retryAfter } from '../../../src/tracing/otlp-exporter.ts';
import type { OtlpTarget } from '../../../src/tracing/otlp-exporter.ts';
import { encodeTraceRequestJson } from '../../../src/tracing/otlp-json.ts';
import { encodeTraceRequest } from '../../../src/tracing/otlp-protobuf.ts';
import type { ExportBatch } from '../../../src/tracing/otlp-protobuf.ts';
import { closedPort } from '../../support/sidecar.ts';
import { startOtlpReceiver } from '../../support/otlp-receiver.ts';
import type { OtlpReceiver } from '../../support/otlp-receiver.ts';

const batch: ExportBatch = {
  resource: [['service.name', 'svc']],
  scope: { name: 'sidecar', version: '0.1.0' },
  spans: [
    {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      parentSpanId: undefined,
      traceState: undefined,
      flags: 0x101,
      name: 'GET',
      startMs: 1_764_000_000_000,
      durationMs: 2,
      attributes: ['url.path', '/x'],
      error: false,
    },
  ],
};

let receiver: OtlpReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

const target = (url: string, overrides: Partial<OtlpTarget> = {}): OtlpTarget => ({
  url,
  protocol: 'http/protobuf',
  headers: [],
  timeoutMs: 10_000,
  ...overrides,
});
const body = encodeTraceRequest(batch);
const soon = (ms: number) => performance.now() + ms;
// Jitter fixed at its lowest, so backoffs are known.
const fixed = { random: () => 0 };

describe('OTLP/HTTP exporter', () => {
  for (const protocol of ['http/protobuf', 'http/json'] as const) {
    it(`posts ${protocol} to the URL with its content type and the configured headers`, async () => {
      receiver = await startOtlpReceiver();
      const send = createOtlpExporter(
        target(`${receiver.url}/v1/traces`, {
          protocol,
          headers: [
            ['api-key', 's3cret'],
            ['x-tenant', 'a b'],
          ],
        }),
      );
      expect(
        await send(protocol === 'http/json' ? encodeTraceRequestJson(batch) : encodeTraceRequest(batch), soon(10_000)),
      ).toEqual({ ok: true, attempts: 1 });
      const [received] = receiver.exports;
      expect(received?.path).toBe('/v1/traces');
      expect(received?.contentType).toBe(protocol === 'http/json' ? 'application/json' : 'application/x-protobuf');
      expect(received?.headers['api-key']).toBe('s3cret');
      expect(received?.headers['x-tenant']).toBe('a b');
      expect(received?.headers['user-agent']).toMatch(/^sidecar-otlp-exporter\//);
      expect(received?.error).toBeUndefined();
      expect(receiver.spans().map((s) => [s.spanId, s.resource['service.name']])).toEqual([
        ['00f067aa0ba902b7', 'svc'],
      ]);
    });
  }

  it('retries a 503 after its Retry-After, then succeeds', async () => {
    receiver = await startOtlpReceiver();
    const times: number[] = [];
    receiver.answer(
      (n) => (
        times.push(performance.now()),
        n === 1 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 }
      ),
    );
    const send = createOtlpExporter(target(receiver.url), fixed);
    expect(await send(body, soon(10_000))).toEqual({ ok: true, attempts: 2 });
    // Not before the server said (Node may fire a timer a millisecond early).
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(990);
  });

  it.each([429, 502, 504])('retries %i with backoff', async (status) => {
    receiver = await startOtlpReceiver();
    receiver.answer((n) => (n === 1 ? { status } : { status: 200 }));
    expect(await createOtlpExporter(target(receiver.url), fixed)(body, soon(10_000))).toEqual({
      ok: true,
      attempts: 2,
    });
  });

  it.each([400, 401, 403, 404, 413, 500])('never retries %i, and reports it', async (status) => {
    receiver = await startOtlpReceiver();
    receiver.answer(() => ({ status }));
    const result = await createOtlpExporter(target(receiver.url), fixed)(body, soon(10_000));
    expect(result).toEqual({ ok: false, attempts: 1, reason: `HTTP ${status}` });
    expect(receiver.exports).toHaveLength(1);
  });

  it('retries a refused connection until the deadline, then gives up', async () => {
    const port = await closedPort();
    const result = await createOtlpExporter(target(`http://127.0.0.1:${port}/v1/traces`), fixed)(body, soon(1500));
    expect(result.ok).toBe(false);
    expect(result.attempts).toBe(2);
    expect(result.ok === false && result.reason).toMatch(/network error.*no time left to retry/);
  });

  it('tells each failed POST as it happens, and stops retrying once told to (the drain): no attempt after the backoff', async () => {
    const port = await closedPort();
    const stop = new AbortController();
    const told: unknown[] = [];
    const send = createOtlpExporter(target(`http://127.0.0.1:${port}/v1/traces`), {
      ...fixed,
      onAttempt: (outcome) => (told.push(outcome), stop.abort()),
    });
    const result = await send(body, soon(10_000), stop.signal);
    expect(told).toEqual([
      { ok: false, retry: true, reason: expect.stringMatching(/^network error \(ECONNREFUSED\)$/) },
    ]);
    expect(result).toEqual({
      ok: false,
      attempts: 1,
      reason: expect.stringMatching(/not retried: the process is exiting/),
    });
  });

  it('bounds each POST by the exporter timeout, and retries a collector that does not answer', async () => {
    receiver = await startOtlpReceiver();
    receiver.answer((n) => (n === 1 ? 'hang' : { status: 200 }));
    const result = await createOtlpExporter(target(receiver.url, { timeoutMs: 200 }), fixed)(body, soon(10_000));
    expect(result).toEqual({ ok: true, attempts: 2 });
  });

  it('stops at the deadline even while the collector hangs', async () => {
    receiver = await startOtlpReceiver();
    receiver.answer(() => 'hang');
    const result = await createOtlpExporter(target(receiver.url, { timeoutMs: 0 }), fixed)(body, soon(300));
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.reason).toMatch(/no answer within/);
  });

  it('reads Retry-After as seconds or an HTTP-date (RFC 9110 §10.2.3)', () => {
    expect(retryAfter('3')).toBe(3000);
    expect(retryAfter('Wed, 21 Oct 2037 07:28:10 GMT', Date.parse('Wed, 21 Oct 2037 07:28:00 GMT'))).toBe(10_000);
    expect(retryAfter('soon')).toBeUndefined();
    expect(retryAfter(null)).toBeUndefined();
  });
});
