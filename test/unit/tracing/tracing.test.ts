/** What the OTEL_* variables amount to (specification/protocol/exporter.md, sdk-environment-variables.md). */
import type { Context } from 'hono';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.ts';
import type { AccessRecord } from '../../../src/exchange.ts';
import { createTracing, tracingSettings } from '../../../src/tracing/tracing.ts';
import { decodeProtobufRequest, spansOf } from '../../support/otlp-decode.ts';
import { withTimeout } from '../../support/wait.ts';

const settings = (env: Record<string, string>) => tracingSettings(loadConfig(env));

describe('tracingSettings', () => {
  it('is off without an endpoint', () => {
    expect(settings({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' })).toBeUndefined();
  });

  it.each([
    ['http://collector:4318', 'http://collector:4318/v1/traces'],
    ['http://collector:4318/', 'http://collector:4318/v1/traces'],
    ['http://collector:4318/mycollector/', 'http://collector:4318/mycollector/v1/traces'],
    ['https://collector.example.com', 'https://collector.example.com/v1/traces'],
  ])('OTEL_EXPORTER_OTLP_ENDPOINT=%s sends to %s', (endpoint, url) => {
    expect(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint })?.target.url).toBe(url);
  });

  it('uses OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is (the root path when it has none), over the base one', () => {
    expect(
      settings({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://other:4318',
      })?.target.url,
    ).toBe('http://collector:4318/');
    expect(settings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c.example/v1/spans' })?.target.url).toBe(
      'https://c.example/v1/spans',
    );
  });

  it('has the specification defaults', () => {
    expect(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toEqual({
      target: { url: 'http://c:4318/v1/traces', protocol: 'http/protobuf', headers: [], timeoutMs: 10_000 },
      batch: { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMs: 5000, exportTimeoutMs: 30_000 },
      resource: [['service.name', 'app']],
    });
  });

  it('lets the per-signal protocol, timeout and headers win, merging headers by name', () => {
    const s = settings({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'HTTP/JSON',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_TIMEOUT: '5000',
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '0',
      OTEL_EXPORTER_OTLP_HEADERS: 'API-Key=one, x-a = b%20c ,',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'api-key=two%3D%2C',
    });
    expect(s?.target).toMatchObject({
      protocol: 'http/protobuf',
      timeoutMs: 0,
      headers: [
        ['api-key', 'two=,'],
        ['x-a', 'b c'],
      ],
    });
  });

  it('names the service OTEL_SERVICE_NAME, else service.name from OTEL_RESOURCE_ATTRIBUTES, else SRV_NAME', () => {
    const base = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      SRV_NAME: 'srv',
      OTEL_RESOURCE_ATTRIBUTES: 'service.name=res,k8s.pod.name=p%2D1',
    };
    expect(settings(base)?.resource).toEqual([
      ['service.name', 'res'],
      ['k8s.pod.name', 'p-1'],
    ]);
    expect(settings({ ...base, OTEL_SERVICE_NAME: 'otel' })?.resource).toEqual([
      ['service.name', 'otel'],
      ['k8s.pod.name', 'p-1'],
    ]);
    expect(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', SRV_NAME: 'srv' })?.resource).toEqual([
      ['service.name', 'srv'],
    ]);
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
    [{ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'thrift' }, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://c' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    [
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://user:hunter2@c.example/v1/traces' },
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    ],
    [{ OTEL_EXPORTER_OTLP_TIMEOUT: '-1' }, 'OTEL_EXPORTER_OTLP_TIMEOUT'],
    [{ OTEL_RESOURCE_ATTRIBUTES: 'novalue' }, 'OTEL_RESOURCE_ATTRIBUTES'],
    [{ OTEL_BSP_MAX_QUEUE_SIZE: '0' }, 'OTEL_BSP_MAX_QUEUE_SIZE'],
    [{ OTEL_TRACES_SAMPLER: 'jaeger_remote' }, 'OTEL_TRACES_SAMPLER'],
  ])('rejects %j naming %s', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(`^${name}:`));
  });

  it('an endpoint with credentials is refused without showing the password', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:hunter2@c.example' })).toThrow(
      /must not carry credentials/,
    );
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:hunter2@c.example' })).not.toThrow(/hunter2/);
  });

  it('never shows a header value in the error, even a broken one', () => {
    for (const value of ['authorization=Bearer%zz-top-secret', 'top-secret', 'x y=top-secret', 'a=top%0Asecret']) {
      let message = '';
      try {
        loadConfig({ OTEL_EXPORTER_OTLP_HEADERS: value });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^OTEL_EXPORTER_OTLP_HEADERS: /);
      expect(message).not.toMatch(/secret/);
    }
  });
});

describe('createTracing', () => {
  const config = (env: Record<string, string> = {}) =>
    loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', SRV_NAME: 'svc', ...env });
  const record = (overrides: Partial<AccessRecord> = {}): AccessRecord => ({
    startedAt: 1_764_000_000_000,
    service: 'svc',
    target: 'http://localhost:8080',
    method: 'GET',
    path: '/',
    status: 200,
    durationMs: 1,
    bytesIn: 0,
    bytesOut: 2,
    requestId: 'r',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    remoteAddr: '127.0.0.1',
    userAgent: null,
    error: undefined,
    traceFlags: '01',
    ...overrides,
  });

  it('is undefined without an endpoint: nothing to call on the log path', () => {
    expect(createTracing(loadConfig({}), { say: () => {} })).toBeUndefined();
  });

  it('posts the logged records as spans on flush, to the endpoint with /v1/traces', async () => {
    const posts: { url: string; body: Uint8Array }[] = [];
    const fakeFetch = (async (url: string, init: RequestInit) => {
      posts.push({ url, body: init.body as Uint8Array });
      return new Response(null, { status: 200 });
    }) as unknown as typeof fetch;
    const tracing = createTracing(config(), { say: () => {}, fetch: fakeFetch })!;
    tracing.record(record());
    tracing.record(record({ spanId: '1111111111111111', traceFlags: '00' }));
    await tracing.flush(1000);
    expect(posts.map((p) => p.url)).toEqual(['http://collector:4318/v1/traces']);
    const spans = spansOf(decodeProtobufRequest(posts[0]!.body));
    expect(spans.map((s) => [s.spanId, s.resource['service.name']])).toEqual([['00f067aa0ba902b7', 'svc']]);
    expect(tracing.dropped).toBe(0);
  });

  it('a record it cannot make a span of costs that span and one stderr line, never an exception on the log path', () => {
    const said: string[] = [];
    const tracing = createTracing(config(), { say: (m) => said.push(m) })!;
    const broken = {
      req: {
        get raw(): never {
          throw new Error('boom');
        },
      },
    } as unknown as Context;
    expect(() => tracing.record(record({ context: broken }))).not.toThrow();
    expect(() => tracing.record(record({ context: broken }))).not.toThrow();
    const complaints = said.filter((m) => /could not make a span/.test(m));
    expect(complaints).toHaveLength(1);
    expect(complaints[0]).toMatch(/could not make a span: Error: boom/);
  });

  /** A collector that cannot be reached, as each runtime's fetch reports it; the calls counted. */
  const refusingFetch = (error: () => unknown) => {
    const calls: number[] = [];
    const fakeFetch = (async () => {
      calls.push(performance.now());
      throw error();
    }) as unknown as typeof fetch;
    return { calls, fakeFetch };
  };
  /** A `say` whose lines the test can wait for (no sleeps: each line is an event). */
  const lines = () => {
    const said: string[] = [];
    const waiters: (() => void)[] = [];
    return {
      said,
      say: (m: string) => (said.push(m), waiters.splice(0).forEach((w) => w())),
      line: (match: RegExp): Promise<string> =>
        withTimeout(
          (async () => {
            for (;;) {
              const found = said.find((m) => match.test(m));
              if (found !== undefined) return found;
              await new Promise<void>((resolve) => waiters.push(resolve));
            }
          })(),
          `a stderr line matching ${match}`,
        ),
    };
  };
  const undiciRefused = () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.9:4318'), { code: 'ECONNREFUSED' });

  it('says at start-up where spans go: the endpoint and the protocol, in one stderr line', () => {
    const out = lines();
    createTracing(config({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), { say: out.say });
    expect(out.said).toEqual(['sidecar: exporting spans to http://collector:4318/v1/traces (OTLP http/json)']);
  });

  it.each([
    ['an undici request (Node)', undiciRefused, /ECONNREFUSED/],
    ["Node's fetch", () => new TypeError('fetch failed', { cause: undiciRefused() }), /ECONNREFUSED/],
    [
      "Bun's fetch",
      () => Object.assign(new Error('Unable to connect'), { code: 'ConnectionRefused' }),
      /ConnectionRefused/,
    ],
    [
      "Deno's fetch",
      () =>
        new TypeError(
          'error sending request for url: client error (Connect): tcp connect error: Connection refused (os error 111)',
        ),
      /Connection refused/,
    ],
  ])(
    'a refused export is said at its first failed POST, with its cause (%s), before any retry',
    async (_, error, cause) => {
      const out = lines();
      const collector = refusingFetch(error);
      const tracing = createTracing(config({ OTEL_BSP_SCHEDULE_DELAY: '1' }), {
        say: out.say,
        fetch: collector.fakeFetch,
      })!;
      tracing.record(record());
      const line = await out.line(/failing/);
      expect(line).toMatch(cause);
      expect(line).toMatch(/^sidecar: trace export to http:\/\/collector:4318\/v1\/traces failing: network error/);
      expect(collector.calls).toHaveLength(1);
      await tracing.flush(0);
    },
  );

  it('on flush says what the drain waits for, and a collector that refuses costs one attempt, not retries until the deadline', async () => {
    const out = lines();
    const collector = refusingFetch(undiciRefused);
    const tracing = createTracing(config({ OTEL_EXPORTER_OTLP_TIMEOUT: '4000' }), {
      say: out.say,
      fetch: collector.fakeFetch,
    })!;
    for (let i = 0; i < 3; i++) tracing.record(record({ spanId: `${i}`.padStart(16, '0') }));
    await tracing.flush(10_000);
    expect(out.said).toContain('sidecar: flushing 3 span(s) to http://collector:4318/v1/traces, up to 4000 ms');
    expect(collector.calls).toHaveLength(1);
    expect(tracing.dropped).toBe(3);
    expect(out.said.at(-1)).toMatch(/^sidecar: 3 span\(s\) not exported before exit \(network error \(ECONNREFUSED\)/);
  });

  it('an export waiting to retry when the drain flushes stops retrying: the flush does not wait out its backoff', async () => {
    const out = lines();
    const collector = refusingFetch(undiciRefused);
    const tracing = createTracing(config({ OTEL_BSP_SCHEDULE_DELAY: '1' }), {
      say: out.say,
      fetch: collector.fakeFetch,
    })!;
    tracing.record(record());
    // The first POST failed: the export now waits about a second before its next attempt.
    await out.line(/failing/);
    await tracing.flush(10_000);
    expect(out.said).toContain('sidecar: flushing 1 span(s) to http://collector:4318/v1/traces, up to 10000 ms');
    expect(collector.calls).toHaveLength(1);
    expect(tracing.dropped).toBe(1);
  });

  it('says nothing on flush when nothing waits', async () => {
    const out = lines();
    const tracing = createTracing(config(), { say: out.say })!;
    await tracing.flush(1000);
    expect(out.said.filter((m) => /flush|export/.test(m) && !/exporting spans to/.test(m))).toEqual([]);
  });
});
