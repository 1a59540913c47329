/**
 * Tier 1: MAX_CONCURRENT_REQUESTS in the handler, in-process, with an upstream the test answers
 * by hand: when a slot is taken and given back, the 503s, the access record and the metrics.
 * test/protection/ proves the same over real sockets on every runtime.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import { createAdmission, releaseSlot } from '../../../src/overload/admission.ts';
import { createProxy } from '../../../src/handler.ts';
import type { AccessRecord } from '../../../src/exchange.ts';
import { Metrics } from '../../../src/metrics.ts';
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from '../../../src/proxy/upstream.ts';
import { parsePrometheusText, sampleValue } from '../../support/prometheus.ts';

interface Call {
  request: UpstreamRequest;
  answer(response: UpstreamResponse): void;
  fail(error: Error): void;
}

/** An upstream whose every call waits until the test answers it. */
function manualUpstream() {
  const calls: Call[] = [];
  const waiting: { n: number; resolve(call: Call): void }[] = [];
  const client: UpstreamClient = (request) =>
    new Promise<UpstreamResponse>((answer, fail) => {
      calls.push({ request, answer, fail });
      for (const w of waiting.filter((w) => calls[w.n])) w.resolve(calls[w.n] as Call);
    });
  /** The n-th call (from 0), once it has been made. */
  const call = (n: number) =>
    calls[n] ? Promise.resolve(calls[n]) : new Promise<Call>((resolve) => waiting.push({ n, resolve }));
  return { client, calls, call };
}

function setup(env: Record<string, string>) {
  const records: AccessRecord[] = [];
  const metrics = new Metrics();
  const upstream = manualUpstream();
  const config = loadConfig({ TARGET: 'http://app.test:8080', ...env });
  const proxy = createProxy(config, {
    upstream: upstream.client,
    remoteAddress: () => '192.0.2.7',
    log: (r) => records.push(r),
    metrics,
  });
  const request = (id: string, init: RequestInit = {}) =>
    proxy.request(`/work?id=${id}`, {
      ...init,
      headers: { host: 'sidecar.test', 'x-request-id': id },
    }) as Promise<Response>;
  const scrape = () => parsePrometheusText(metrics.render());
  return { records, metrics, upstream, request, scrape };
}

const ok = (body: BodyInit | null = 'ok'): UpstreamResponse => ({
  status: 200,
  statusText: 'OK',
  headers: new Headers(),
  body: typeof body === 'string' ? new TextEncoder().encode(body) : (body as ReadableStream<Uint8Array> | null),
});

/** True once `promise` has settled within a few macrotask turns; false if it is still pending. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 5 && !done; i++) await new Promise((r) => setImmediate(r));
  return done;
}

describe('MAX_CONCURRENT_REQUESTS in the handler', () => {
  it('by default has no limiter: every request goes straight to the app, and no queue_ms is logged', async () => {
    const { upstream, request, records, scrape } = setup({});
    const responses = Array.from({ length: 20 }, (_, i) => request(`free-${i}`));
    await upstream.call(19);
    for (const c of upstream.calls) c.answer(ok());
    for (const r of await Promise.all(responses)) expect(r.status).toBe(200);
    expect(records.every((r) => r.queueMs === undefined)).toBe(true);
    const m = scrape();
    expect(sampleValue(m, 'sidecar_queued_requests')).toBe(0);
    expect(sampleValue(m, 'sidecar_overload_rejections_total', { reason: 'queue_full' })).toBe(0);
    expect(sampleValue(m, 'sidecar_overload_rejections_total', { reason: 'queue_timeout' })).toBe(0);
  });

  it("holds the slot until the app's streamed body has ended, then hands it to the next request", async () => {
    const { upstream, request, records } = setup({ MAX_CONCURRENT_REQUESTS: '1' });
    let push!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
    const first = request('first');
    (await upstream.call(0)).answer(ok(body));
    push.enqueue(new TextEncoder().encode('part'));
    const response = await first;
    const reading = response.text();
    const second = request('second');
    expect(await settled(second)).toBe(false);
    expect(upstream.calls).toHaveLength(1);
    push.close();
    expect(await reading).toBe('part');
    (await upstream.call(1)).answer(ok());
    expect((await second).status).toBe(200);
    const queued = records.find((r) => r.requestId === 'second');
    expect(queued?.queueMs).toBeGreaterThan(0);
    expect(records.find((r) => r.requestId === 'first')?.queueMs).toBe(0);
  });

  it('gives the slot back when the app fails, when its body breaks, and when the client leaves mid-body', async () => {
    const { upstream, request } = setup({ MAX_CONCURRENT_REQUESTS: '1' });
    const refused = request('refused');
    (await upstream.call(0)).fail(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    expect((await refused).status).toBe(502);

    let push!: ReadableStreamDefaultController<Uint8Array>;
    const breaking = request('breaking');
    (await upstream.call(1)).answer(ok(new ReadableStream({ start: (c) => void (push = c) })));
    push.enqueue(new Uint8Array(3));
    const broken = (await breaking).arrayBuffer();
    push.error(new Error('app died'));
    await expect(broken).rejects.toThrow();

    const leaving = request('leaving');
    (await upstream.call(2)).answer(ok(new ReadableStream({ start: (c) => void c.enqueue(new Uint8Array(3)) })));
    await (await leaving).body?.cancel();

    const after = request('after');
    (await upstream.call(3)).answer(ok());
    expect((await after).status).toBe(200);
  });

  it('answers 503 with Retry-After: 1 when the queue is full, logs overloaded and counts queue_full', async () => {
    const { upstream, request, records, scrape } = setup({ MAX_CONCURRENT_REQUESTS: '1', MAX_QUEUED_REQUESTS: '1' });
    const held = request('held');
    await upstream.call(0);
    const queued = request('queued');
    const rejected = await request('rejected');
    expect(rejected.status).toBe(503);
    expect(rejected.headers.get('retry-after')).toBe('1');
    expect(rejected.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(rejected.headers.get('x-request-id')).toBe('rejected');
    expect(await rejected.text()).toMatch(/^overloaded: .+\n$/);
    const record = records.find((r) => r.requestId === 'rejected');
    expect(record).toMatchObject({ status: 503, error: 'overloaded', queueMs: 0 });
    expect(sampleValue(scrape(), 'sidecar_overload_rejections_total', { reason: 'queue_full' })).toBe(1);
    expect(sampleValue(scrape(), 'sidecar_queued_requests')).toBe(1);
    upstream.calls[0]?.answer(ok());
    await held;
    (await upstream.call(1)).answer(ok());
    expect((await queued).status).toBe(200);
    expect(upstream.calls.map((c) => new URL(c.request.url).searchParams.get('id'))).toEqual(['held', 'queued']);
  });

  it('with MAX_QUEUED_REQUESTS=0 answers 503 at once beyond the cap', async () => {
    const { upstream, request, scrape } = setup({ MAX_CONCURRENT_REQUESTS: '1', MAX_QUEUED_REQUESTS: '0' });
    void request('held');
    await upstream.call(0);
    expect((await request('no-queue')).status).toBe(503);
    expect(sampleValue(scrape(), 'sidecar_overload_rejections_total', { reason: 'queue_full' })).toBe(1);
    expect(upstream.calls).toHaveLength(1);
  });

  it('answers 503 after QUEUE_TIMEOUT_MS in the queue, logs the wait and counts queue_timeout', async () => {
    const { upstream, request, records, scrape } = setup({ MAX_CONCURRENT_REQUESTS: '1', QUEUE_TIMEOUT_MS: '30' });
    void request('held');
    await upstream.call(0);
    const late = await request('late');
    expect(late.status).toBe(503);
    expect(late.headers.get('retry-after')).toBe('1');
    const record = records.find((r) => r.requestId === 'late');
    expect(record?.error).toBe('overloaded');
    expect(record?.queueMs).toBeGreaterThanOrEqual(30);
    // The wait is part of the request's duration.
    expect(record?.durationMs).toBeGreaterThanOrEqual(record?.queueMs ?? Infinity);
    const m = scrape();
    expect(sampleValue(m, 'sidecar_overload_rejections_total', { reason: 'queue_timeout' })).toBe(1);
    expect(sampleValue(m, 'sidecar_overload_rejections_total', { reason: 'queue_full' })).toBe(0);
    expect(sampleValue(m, 'sidecar_queued_requests')).toBe(0);
    expect(upstream.calls).toHaveLength(1);
  });

  it('lets a client that leaves while queued leave the queue: never sent to the app, logged 499', async () => {
    const { upstream, request, records, scrape } = setup({ MAX_CONCURRENT_REQUESTS: '1' });
    void request('held');
    await upstream.call(0);
    const controller = new AbortController();
    const leaving = request('leaving', { signal: controller.signal });
    const next = request('next');
    expect(sampleValue(scrape(), 'sidecar_queued_requests')).toBe(2);
    controller.abort();
    await leaving.catch(() => undefined);
    expect(sampleValue(scrape(), 'sidecar_queued_requests')).toBe(1);
    expect(records.find((r) => r.requestId === 'leaving')).toMatchObject({ status: 499, error: 'client_aborted' });
    upstream.calls[0]?.answer(ok());
    (await upstream.call(1)).answer(ok());
    expect((await next).status).toBe(200);
    expect(upstream.calls.map((c) => new URL(c.request.url).searchParams.get('id'))).toEqual(['held', 'next']);
  });

  it("releaseSlot gives a slot back once however often it is called (a tunnel: at its handshake's answer, then at its end)", async () => {
    const admission = createAdmission(loadConfig({ MAX_CONCURRENT_REQUESTS: '1' }), new Metrics());
    if (!admission) throw new Error('a cap of 1 must create admission control');
    const signal = new AbortController().signal;
    const tunnel = { release: await admission.admit({}, signal) };
    const next = admission.admit({}, signal);
    expect(await settled(next)).toBe(false);
    // The app answered the handshake: the tunnel no longer counts.
    releaseSlot(tunnel);
    const request = { release: await next };
    // The tunnel's end finishes its exchange: releasing again must not free the request's slot.
    releaseSlot(tunnel);
    expect(await settled(admission.admit({}, signal))).toBe(false);
    releaseSlot(request);
  });
});
