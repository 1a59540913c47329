/** The span made from an access record: HTTP server semantic conventions (semantic-conventions docs/http/http-spans.md). */
import type { Context } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AccessRecord } from '../../../src/exchange.ts';
import { spanFromRecord } from '../../../src/tracing/span.ts';

const contextFor = (url: string, headers: Record<string, string>) =>
  ({ req: { raw: new Request(url, { headers }) } }) as unknown as Context;

const record = (overrides: Partial<AccessRecord> = {}): AccessRecord => ({
  startedAt: 1_764_000_000_123,
  service: 'app',
  target: 'http://localhost:8080',
  method: 'GET',
  path: '/a/b?q=1&sig=abc',
  status: 200,
  durationMs: 3.5,
  bytesIn: 0,
  bytesOut: 42,
  requestId: 'r-1',
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  remoteAddr: '10.0.0.9',
  userAgent: 'curl/8',
  error: undefined,
  parentSpanId: 'a3ce929d0e0e4736',
  traceFlags: '01',
  context: contextFor('http://shop.example:8000/a/b?q=1&sig=abc', {
    host: 'shop.example:8000',
    tracestate: 'v=1',
    'x-forwarded-for': '203.0.113.7, 10.0.0.1',
  }),
  ...overrides,
});

const pairs = (flat: (string | number)[] = []) =>
  Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]] as const);
const attributes = (r: AccessRecord) => Object.fromEntries(pairs(spanFromRecord(r, () => '1.1')?.attributes));

describe('spanFromRecord', () => {
  it('is a SERVER span named by the method, with the log line ids, the incoming parent and its tracestate', () => {
    const span = spanFromRecord(record());
    expect(span).toMatchObject({
      name: 'GET',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      parentSpanId: 'a3ce929d0e0e4736',
      traceState: 'v=1',
      startMs: 1_764_000_000_123,
      durationMs: 3.5,
      error: false,
    });
    // Sampled, parent known to be remote (trace.proto SpanFlags).
    expect(span?.flags).toBe(0x301);
  });

  it('takes client.address from the record (the client the sidecar decided), never from a forgeable X-Forwarded-For', () => {
    // Behind a trusted proxy the record holds the client from X-Forwarded-For and the peer apart.
    expect(attributes(record({ remoteAddr: '203.0.113.7', peerAddr: '10.0.0.9' }))).toMatchObject({
      'client.address': '203.0.113.7',
      'network.peer.address': '10.0.0.9',
    });
    // Without one the header above (203.0.113.7, first in X-Forwarded-For) is anyone's to write.
    expect(attributes(record())).toMatchObject({ 'client.address': '10.0.0.9', 'network.peer.address': '10.0.0.9' });
  });

  it('carries the HTTP server semantic-convention attributes, the query with signatures redacted', () => {
    expect(attributes(record({ remoteAddr: '203.0.113.7', peerAddr: '10.0.0.9' }))).toEqual({
      'http.request.method': 'GET',
      'url.path': '/a/b',
      'url.query': 'q=1&sig=REDACTED',
      'url.scheme': 'http',
      'server.address': 'shop.example',
      'server.port': 8000,
      'client.address': '203.0.113.7',
      'network.peer.address': '10.0.0.9',
      'user_agent.original': 'curl/8',
      'network.protocol.version': '1.1',
      'http.response.status_code': 200,
      'http.request.body.size': 0,
      'http.response.body.size': 42,
    });
  });

  it('names an unknown method HTTP, with _OTHER and the original method', () => {
    const span = spanFromRecord(record({ method: 'PURGE' }));
    expect(span?.name).toBe('HTTP');
    expect(Object.fromEntries(pairs(span?.attributes))).toMatchObject({
      'http.request.method': '_OTHER',
      'http.request.method_original': 'PURGE',
    });
  });

  it('sets ERROR and error.type for a 5xx: the sidecar reason, else the status code', () => {
    expect(spanFromRecord(record({ status: 502, error: 'upstream_refused' }))?.error).toBe(true);
    expect(attributes(record({ status: 502, error: 'upstream_refused' }))['error.type']).toBe('upstream_refused');
    expect(attributes(record({ status: 503 }))['error.type']).toBe('503');
  });

  it('leaves the status unset for 4xx on a SERVER span', () => {
    expect(spanFromRecord(record({ status: 404 }))?.error).toBe(false);
    expect(attributes(record({ status: 404 }))['error.type']).toBeUndefined();
  });

  it('sends no status code for a client that left, and says why', () => {
    const a = attributes(record({ status: 499, error: 'client_aborted' }));
    expect(a['http.response.status_code']).toBeUndefined();
    expect(a['error.type']).toBe('client_aborted');
  });

  it('makes no span when the sampler said no (flag 00), and a root span has no parent', () => {
    expect(spanFromRecord(record({ traceFlags: '00' }))).toBeUndefined();
    const root = spanFromRecord(record({ parentSpanId: undefined }));
    expect(root?.parentSpanId).toBeUndefined();
    expect(root?.traceState).toBeUndefined();
    expect(root?.flags).toBe(0x101);
  });

  it('reads an IPv6 Host, an https URL, and leaves out what is unknown', () => {
    const a = attributes(
      record({ userAgent: null, context: contextFor('https://[::1]:8443/x', { host: '[::1]:8443' }) }),
    );
    expect(a).toMatchObject({
      'server.address': '::1',
      'server.port': 8443,
      'url.scheme': 'https',
      'client.address': '10.0.0.9',
    });
    expect(a['user_agent.original']).toBeUndefined();
    expect(Object.fromEntries(pairs(spanFromRecord(record())?.attributes))['network.protocol.version']).toBeUndefined();
  });
});
