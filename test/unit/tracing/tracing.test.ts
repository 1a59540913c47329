/** What the OTEL_* variables amount to (specification/protocol/exporter.md, sdk-environment-variables.md). */
import type { Context } from 'hono';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.ts';
import type { AccessRecord } from '../../../src/exchange.ts';
import { createTracing, tracingSettings } from '../../../src/tracing/tracing.ts';
import { decodeProtobufRequest, spansOf } from '../../support/otlp-decode.ts';

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
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/could not make a span: Error: boom/);
  });
});
