/**
 * Tier 1: refusals in-process. A request the runtime refused before the handler had it gets its
 * own access record and counts in the request histogram; one the runtime refused midway (its body)
 * ends as that refusal, not as a client that went away.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import { createProxy } from '../../../src/handler.ts';
import type { AccessRecord } from '../../../src/exchange.ts';
import { Metrics } from '../../../src/metrics.ts';
import { createRefusalLog } from '../../../src/proxy/refusal.ts';
import type { Refusal } from '../../../src/proxy/refusal.ts';
import type { UpstreamClient } from '../../../src/proxy/upstream.ts';

const config = loadConfig({ TARGET: 'http://app.test:8080', SRV_NAME: 'svc' });

describe('createRefusalLog', () => {
  it('writes one record with the status sent and the reason, and counts it without touching the active gauge', () => {
    const records: AccessRecord[] = [];
    const metrics = new Metrics();
    createRefusalLog(config, { log: (r) => records.push(r), metrics })({
      status: 431,
      reason: 'bad_request',
      method: 'GET',
      path: '/x?y=1',
      remoteAddress: '192.0.2.1',
    });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      service: 'svc',
      target: 'http://app.test:8080',
      method: 'GET',
      path: '/x?y=1',
      status: 431,
      error: 'bad_request',
      remoteAddr: '192.0.2.1',
      bytesIn: 0,
      bytesOut: 0,
    });
    expect(records[0]?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(records[0]?.traceId).toMatch(/^[0-9a-f]{32}$/);
    const text = metrics.render();
    expect(text).toContain(
      'http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="431"} 1',
    );
    expect(text).toContain('http_server_active_requests 0');
  });

  it('logs `-` for the method and path of a request line it could not read, counted as _OTHER', () => {
    const records: AccessRecord[] = [];
    const metrics = new Metrics();
    createRefusalLog(config, { log: (r) => records.push(r), metrics })({ status: 400, reason: 'bad_request' });
    expect(records[0]).toMatchObject({ method: '-', path: '-', status: 400 });
    expect(metrics.render()).toContain('http_request_method="_OTHER",http_response_status_code="400"');
  });
});

describe('a request the runtime refused midway', () => {
  it('is logged with the refusal the client was sent, not as 499 client_aborted', async () => {
    const records: AccessRecord[] = [];
    const runtime: { refusal?: Refusal } = {};
    // The upstream waits for the body, which the runtime's parser then refuses: the client's signal aborts.
    let called!: () => void;
    const upstreamCalled = new Promise<void>((resolve) => (called = resolve));
    const upstream: UpstreamClient = (r) =>
      new Promise((_, reject) => {
        r.signal.addEventListener('abort', () => reject(r.signal.reason), { once: true });
        called();
      });
    const proxy = createProxy(config, {
      upstream,
      remoteAddress: () => undefined,
      log: (r) => records.push(r),
      metrics: new Metrics(),
      refusal: () => runtime.refusal,
    });
    const client = new AbortController();
    const body = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
    const answered = proxy.request('/upload', {
      method: 'POST',
      body,
      headers: { host: 'sidecar.test' },
      signal: client.signal,
      duplex: 'half',
    } as RequestInit);
    await upstreamCalled;
    runtime.refusal = { status: 400, reason: 'bad_request' };
    client.abort();
    await Promise.resolve(answered).catch(() => undefined);
    expect(records.map((r) => [r.status, r.error])).toEqual([[400, 'bad_request']]);
  });
});
