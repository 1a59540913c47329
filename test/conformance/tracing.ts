/**
 * Holds docs/behaviour.md#trace-export: with an OTLP endpoint set, each proxied request becomes
 * one SERVER span, exported over OTLP/HTTP to a real receiver (../support/otlp-receiver.ts,
 * decoding both encodings), batched, sampled, retried, bounded, flushed on SIGTERM. One receiver
 * serves every sidecar here; each sidecar posts to its own path, so the receiver can answer each
 * as its test needs.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../support/http-client.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver } from '../support/otlp-receiver.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus.ts';
import { closedPort, startSidecar } from '../support/sidecar.ts';
import type { Sidecar } from '../support/sidecar.ts';
import type { Conformance } from './context.ts';
import { headers, one, traceparentFormat } from './context.ts';
import { knownDifferences } from './known-differences.ts';
import { connectWs } from '../support/ws-client.ts';

type Spans = ReturnType<OtlpReceiver['spans']>;

export function tracingTests(t: Conformance): void {
  describe('trace export', () => {
    let receiver: OtlpReceiver;
    const sidecars: Promise<Sidecar>[] = [];
    const started: Record<string, () => Promise<Sidecar>> = {};
    const path = (name: string) => `/${name}/v1/traces`;
    const of = (name: string) => (spans: Spans) => spans.filter((s) => s.resource['service.name'] === name);

    beforeAll(async () => {
      receiver = await startOtlpReceiver();
      receiver.answer((n, at) => {
        // main: its first export meets a throttling collector (specification.md "OTLP/HTTP Throttling").
        if (at === '/main/v1/traces' && n === 1) return { status: 503, headers: { 'retry-after': '1' } };
        if (at === path('json')) return { status: 400 };
        if (at === path('hang')) return 'hang';
        return { status: 200 };
      });
      const deadPort = await closedPort();
      const start = (name: string, env: Record<string, string>) => {
        const promise = startSidecar(t.runtime, {
          TARGET: t.upstream.url,
          SRV_NAME: name,
          LOG_FORMAT: 'json',
          OTEL_BSP_SCHEDULE_DELAY: '100',
          ...env,
        });
        promise.catch(() => undefined);
        sidecars.push(promise);
        started[name] = async () => {
          const s = await promise;
          const exit = s.exited();
          if (exit)
            throw new Error(`the ${name} sidecar exited (code ${exit.code}); stderr:\n${s.stderr().slice(-3000)}`);
          return s;
        };
      };
      // The base URL form (`/v1/traces` appended), headers, resource attributes; Deno's own tracing
      // switched on in the environment must not add spans or a second traceparent.
      start('main', {
        OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/main`,
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20s3cret-token,x-tenant=acme',
        OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=pod%2C1,deployment.environment.name=test',
        OTEL_DENO: 'true',
      });
      start('json', {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}${path('json')}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      });
      start('batching', {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}${path('batching')}`,
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '100',
        OTEL_BSP_SCHEDULE_DELAY: '600000',
      });
      start('off', {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}${path('off')}`,
        OTEL_TRACES_SAMPLER: 'always_off',
      });
      start('ratio', {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}${path('ratio')}`,
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.5',
      });
      start('down', {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${deadPort}/v1/traces`,
        OTEL_BSP_MAX_QUEUE_SIZE: '20',
      });
      start('hang', {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}${path('hang')}`,
        OTEL_BSP_MAX_QUEUE_SIZE: '20',
        OTEL_EXPORTER_OTLP_TIMEOUT: '0',
      });
    });

    afterAll(async () => {
      await Promise.allSettled(sidecars.map((p) => p.then((s) => s.stop())));
      await receiver?.close();
    });

    const metric = async (s: Sidecar, name: string) =>
      sampleValue(parsePrometheusText((await send(s.adminUrl, '/metrics')).body.toString()), name);
    /** Polls /metrics until `name` reaches `atLeast` (bounded): counters move off the request path. */
    const waitForMetric = async (s: Sidecar, name: string, atLeast: number) => {
      const until = Date.now() + 15_000;
      for (;;) {
        const value = (await metric(s, name)) ?? 0;
        if (value >= atLeast || Date.now() > until) return value;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    it('exports one SERVER span per request, with the log line ids, the incoming parent, and the app as its child', async () => {
      const s = await started.main!();
      const rid = t.id('span');
      const traceId = randomBytes(16).toString('hex');
      const parentId = randomBytes(8).toString('hex');
      const { res, echo } = await t.echo(s, `/_/echo?id=${rid}&q=1`, {
        headers: headers(
          ['traceparent', `00-${traceId}-${parentId}-01`],
          ['tracestate', 'vendor=x'],
          ['X-Request-Id', rid],
          ['User-Agent', 'conformance/1'],
          ['X-Forwarded-For', '203.0.113.9'],
        ),
      });
      const log = await s.waitForLog((e) => e.request_id === rid, rid);
      const [span, ...more] = of('main')(
        await receiver.waitForSpans((spans) => spans.some((x) => x.spanId === log.span_id), `the span of ${rid}`),
      ).filter((x) => x.traceId === traceId);
      expect(more, 'spans of this trace besides ours (Deno built-in tracing must stay off)').toEqual([]);

      // The app received exactly one traceparent, naming our span, sampled.
      expect(
        echo.rawHeaders.filter((_, i) => i % 2 === 0 && echo.rawHeaders[i]!.toLowerCase() === 'traceparent'),
      ).toHaveLength(1);
      expect(one(echo.headers.traceparent)).toBe(`00-${traceId}-${span!.spanId}-01`);
      expect(span).toMatchObject({
        traceId,
        spanId: log.span_id,
        parentSpanId: parentId,
        traceState: 'vendor=x',
        name: 'GET',
        kind: 2,
        status: { code: 0 },
      });
      expect(log.trace_id).toBe(traceId);
      expect(span!.flags & 0x3ff).toBe(0x301);
      expect(span!.attributes).toMatchObject({
        'http.request.method': 'GET',
        'url.path': '/_/echo',
        'url.query': `id=${rid}&q=1`,
        'url.scheme': 'http',
        'server.address': '127.0.0.1',
        'server.port': s.port,
        // No TRUSTED_PROXIES: the X-Forwarded-For above is the client's own word, and the client
        // is the connection's peer (docs/behaviour.md#edge-limits).
        'client.address': '127.0.0.1',
        'network.peer.address': '127.0.0.1',
        'user_agent.original': 'conformance/1',
        'http.response.status_code': 200,
        'http.request.body.size': 0,
        'http.response.body.size': res.body.length,
      });
      expect(span!.attributes['error.type']).toBeUndefined();
      // The span lasts as long as the logged exchange, to the microsecond.
      const durationMs = Number(span!.endTimeUnixNano - span!.startTimeUnixNano) / 1e6;
      expect(Math.abs(durationMs - Number(log.duration_ms))).toBeLessThan(0.01);
      expect(Number(span!.startTimeUnixNano / 1_000_000n)).toBe(Date.parse(String(log.time)));
      expect(span!.resource).toEqual({
        'service.name': 'main',
        'k8s.pod.name': 'pod,1',
        'deployment.environment.name': 'test',
      });
      expect(span!.scope).toEqual({ name: 'sidecar', version: '0.1.0' });
    });

    it("exports a WebSocket tunnel as one SERVER span covering the whole tunnel, status 101, with its log line ids; the app's handshake names it as parent", async () => {
      const s = await started.main!();
      const rid = t.id('tunnel-span');
      const traceId = randomBytes(16).toString('hex');
      const client = await connectWs(`${s.url.replace(/^http/, 'ws')}/ws/echo?id=${rid}`, {
        headers: { 'X-Request-Id': rid, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      });
      const app = await t.upstream.waitForTunnel(rid, (a) => a.ws !== undefined, 'the app side to open');
      client.ws.send('across');
      await client.waitFor(() => client.messages[0], 'the echo');
      client.ws.close(1000);
      await client.waitFor(() => client.close, 'the close');
      const log = await s.waitForLog((e) => e.request_id === rid && e.upgrade === 'websocket', 'the tunnel line');
      const spans = of('main')(
        await receiver.waitForSpans((all) => all.some((x) => x.spanId === log.span_id), 'the tunnel span'),
      ).filter((x) => x.traceId === traceId);
      expect(spans).toHaveLength(1);
      const [span] = spans;
      expect(span).toMatchObject({ traceId, spanId: log.span_id, name: 'GET', kind: 2, status: { code: 0 } });
      expect(span!.attributes).toMatchObject({
        'http.request.method': 'GET',
        'url.path': '/ws/echo',
        'url.scheme': 'http',
        'server.address': '127.0.0.1',
        'server.port': s.port,
        'http.response.status_code': 101,
      });
      expect(one(app.headers.traceparent)).toBe(`00-${traceId}-${log.span_id}-01`);
      // The span is the tunnel's whole life, as its log line's duration_ms is.
      const durationMs = Number(span!.endTimeUnixNano - span!.startTimeUnixNano) / 1e6;
      expect(Math.abs(durationMs - Number(log.duration_ms))).toBeLessThan(0.01);
    });

    it('network.protocol.version is the HTTP version the runtime read (only Node exposes it)', async () => {
      const s = await started.main!();
      const rid = t.id('version');
      await send(s.url, `/_/echo?id=${rid}`, { headers: headers(['X-Request-Id', rid]) });
      const log = await s.waitForLog((e) => e.request_id === rid, rid);
      const [span] = of('main')(
        await receiver.waitForSpans((spans) => spans.some((x) => x.spanId === log.span_id), 'the span'),
      ).filter((x) => x.spanId === log.span_id);
      if (knownDifferences.httpVersionNotExposed.has(t.runtime))
        expect(span!.attributes['network.protocol.version']).toBeUndefined();
      else expect(span!.attributes['network.protocol.version']).toBe('1.1');
    });

    it('posts to the base URL plus /v1/traces, as protobuf, with the configured headers; a 503 with Retry-After is retried', async () => {
      const s = await started.main!();
      await send(s.url, `/_/echo?id=${t.id('headers')}`);
      await receiver.waitForSpans((spans) => of('main')(spans).length > 0, 'a span from main');
      const posts = receiver.exports.filter((e) => e.path === '/main/v1/traces');
      expect(posts[0]?.status).toBe(503);
      expect(posts[1]?.status).toBe(200);
      const ids = (i: number) =>
        (posts[i]?.request?.resourceSpans ?? []).flatMap((rs) =>
          rs.scopeSpans.flatMap((ss) => ss.spans.map((x) => x.spanId)),
        );
      // The batch the 503 refused came again, after Retry-After.
      expect(ids(1)).toEqual(expect.arrayContaining(ids(0)));
      for (const post of posts) {
        expect(post.contentType).toBe('application/x-protobuf');
        expect(post.headers.authorization).toBe('Bearer s3cret-token');
        expect(post.headers['x-tenant']).toBe('acme');
        expect(post.error).toBeUndefined();
      }
      expect(s.stderr()).not.toContain('s3cret-token');
    });

    it('a new trace: a root span, and the app gets it as the parent with the sampled flag', async () => {
      const s = await started.main!();
      const { echo } = await t.echo(s, `/_/echo?id=${t.id('root')}`);
      const [, traceId, parent, flags] = traceparentFormat.exec(one(echo.headers.traceparent) ?? '') ?? [];
      expect(flags).toBe('01');
      const [span] = of('main')(
        await receiver.waitForSpans((spans) => spans.some((x) => x.spanId === parent), 'the root span'),
      ).filter((x) => x.spanId === parent);
      expect(span).toMatchObject({ traceId, parentSpanId: '' });
      expect(span!.flags & 0x3ff).toBe(0x101);
    });

    it('a 502 of the sidecar is an ERROR span with error.type; a 3xx leaves the status unset', async () => {
      const s = await started.main!();
      const reset = await send(s.url, `/_/reset?id=${t.id('reset')}`);
      expect(reset.status).toBe(502);
      const redirect = await send(s.url, `/_/redirect?id=${t.id('redirect')}&to=/elsewhere`);
      expect(redirect.status).toBe(302);
      const ids = await Promise.all(
        [reset, redirect].map(
          async (r) => (await s.waitForLog((e) => e.request_id === r.headers['x-request-id'], 'its log line')).span_id,
        ),
      );
      const spans = of('main')(
        await receiver.waitForSpans(
          (all) => ids.every((id) => all.some((x) => x.spanId === id)),
          'the 502 and 302 spans',
        ),
      );
      const [failed, moved] = ids.map((id) => spans.find((x) => x.spanId === id)!);
      expect(failed).toMatchObject({
        status: { code: 2 },
        attributes: { 'error.type': 'upstream_reset', 'http.response.status_code': 502 },
      });
      expect(moved).toMatchObject({ status: { code: 0 }, attributes: { 'http.response.status_code': 302 } });
      expect(moved!.attributes['error.type']).toBeUndefined();
    });

    it('an unknown method is a span named HTTP, with http.request.method _OTHER', async () => {
      const s = await started.main!();
      const res = await send(s.url, `/_/echo?id=${t.id('purge')}`, { method: 'PURGE' });
      const id = (await s.waitForLog((e) => e.request_id === res.headers['x-request-id'], 'the PURGE log line'))
        .span_id;
      const [span] = of('main')(
        await receiver.waitForSpans((all) => all.some((x) => x.spanId === id), 'the PURGE span'),
      ).filter((x) => x.spanId === id);
      expect(span).toMatchObject({
        name: 'HTTP',
        attributes: { 'http.request.method': '_OTHER', 'http.request.method_original': 'PURGE' },
      });
    });

    it('http/json to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is; a 400 is not retried, and its spans are counted as dropped', async () => {
      const s = await started.json!();
      const rids = [t.id('json'), t.id('json'), t.id('json')];
      for (const rid of rids) await t.echo(s, `/_/echo?id=${rid}`, { headers: headers(['X-Request-Id', rid]) });
      expect(await waitForMetric(s, 'sidecar_spans_dropped_total', 3)).toBe(3);
      // Dropped means given up on: no retry can follow.
      const posts = receiver.exports.filter((e) => e.path === path('json'));
      expect(posts.map((p) => p.status)).toEqual(posts.map(() => 400));
      const logged = await Promise.all(
        rids.map(async (rid) => (await s.waitForLog((e) => e.request_id === rid, rid)).span_id),
      );
      const sent = posts.flatMap((p) =>
        (p.request?.resourceSpans ?? []).flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((x) => x.spanId))),
      );
      expect(sent.sort()).toEqual([...logged].sort());
      expect(posts.every((p) => p.contentType === 'application/json' && p.error === undefined)).toBe(true);
      expect(s.stderr()).toMatch(/trace export to .* failed \(HTTP 400\)/);
    });

    it('batches: 300 requests reach the collector in 3 exports of 100 (OTEL_BSP_MAX_EXPORT_BATCH_SIZE), not 300', async () => {
      const s = await started.batching!();
      for (let i = 0; i < 300; i += 30)
        await Promise.all(Array.from({ length: 30 }, () => send(s.url, `/_/echo?id=${t.id('batch')}`)));
      await receiver.waitForSpans((spans) => of('batching')(spans).length >= 300, '300 spans');
      const posts = receiver.exports.filter((e) => e.path === path('batching'));
      expect(posts.map((p) => p.request?.resourceSpans[0]?.scopeSpans[0]?.spans.length)).toEqual([100, 100, 100]);
      expect(new Set(of('batching')(receiver.spans()).map((x) => x.spanId)).size).toBe(300);
    });

    it('on SIGTERM, what is queued is flushed before the process exits', async () => {
      const s = await started.batching!();
      const before = of('batching')(receiver.spans()).length;
      const rids = Array.from({ length: 5 }, () => t.id('flush'));
      for (const rid of rids) await send(s.url, `/_/echo?id=${rid}`, { headers: headers(['X-Request-Id', rid]) });
      // Five spans wait for a batch of 100 or ten minutes; only the drain sends them.
      expect(of('batching')(receiver.spans())).toHaveLength(before);
      const exit = await s.stop();
      expect(exit.code, s.stderr()).toBe(0);
      const ids = await Promise.all(
        rids.map(async (rid) => (await s.waitForLog((e) => e.request_id === rid, rid)).span_id),
      );
      expect(of('batching')(receiver.spans()).map((x) => x.spanId)).toEqual(expect.arrayContaining(ids));
    });

    it('always_off: the app gets the sampled flag 00 and nothing is exported', async () => {
      const s = await started.off!();
      for (const flags of ['none', '01']) {
        const tp =
          flags === 'none'
            ? []
            : ([['traceparent', `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`]] as [
                string,
                string,
              ][]);
        const { echo } = await t.echo(s, `/_/echo?id=${t.id('off')}`, { headers: tp });
        expect(traceparentFormat.exec(one(echo.headers.traceparent) ?? '')?.[3]).toBe('00');
      }
      // SIGTERM flushes whatever there is: after the exit, nothing more can come.
      expect((await s.stop()).code).toBe(0);
      expect(receiver.exports.filter((e) => e.path === path('off'))).toEqual([]);
    });

    it('parentbased_traceidratio 0.5: about half the new traces, within binomial bounds, every sampled one exported; a parent decides for its child', async () => {
      const s = await started.ratio!();
      const n = 200;
      const flags: string[] = [];
      for (let i = 0; i < n; i += 20) {
        const batch = await Promise.all(Array.from({ length: 20 }, () => t.echo(s, `/_/echo?id=${t.id('ratio')}`)));
        for (const { echo } of batch)
          flags.push(traceparentFormat.exec(one(echo.headers.traceparent) ?? '')?.[3] ?? '?');
      }
      const sampled = flags.filter((f) => f === '01').length;
      // Mean 100, standard deviation 7.1: six of them either way.
      expect(Math.abs(sampled - n / 2)).toBeLessThan(6 * Math.sqrt(n / 4));
      expect(flags.filter((f) => f !== '01' && f !== '00')).toEqual([]);
      for (const parentFlag of ['01', '00']) {
        const { echo } = await t.echo(s, `/_/echo?id=${t.id('ratio-parent')}`, {
          headers: headers([
            'traceparent',
            `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-${parentFlag}`,
          ]),
        });
        expect(traceparentFormat.exec(one(echo.headers.traceparent) ?? '')?.[3]).toBe(parentFlag);
      }
      expect((await s.stop()).code).toBe(0);
      expect(of('ratio')(receiver.spans())).toHaveLength(sampled + 1);
    });

    for (const name of ['down', 'hang'] as const) {
      it(`a collector that is ${name === 'down' ? 'down' : 'hanging'}: requests are answered as without export, spans beyond the queue dropped and counted`, async () => {
        const [s, plain] = await Promise.all([started[name]!(), t.main()]);
        const run = async (target: Sidecar) => {
          const begin = performance.now();
          for (let i = 0; i < 100; i += 10) {
            const answers = await Promise.all(
              Array.from({ length: 10 }, () => send(target.url, `/_/echo?id=${t.id(name)}`)),
            );
            expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
          }
          return performance.now() - begin;
        };
        const withoutExport = await run(plain);
        const withStuckExport = await run(s);
        // A generous bound, relative to the same requests through a sidecar without export: a
        // request that waited on the collector would take its timeout (10 s or more) instead.
        expect(withStuckExport).toBeLessThan(5 * withoutExport + 2000);
        // 20 queued, at most 20 in the export that hangs or retries: the other 60 or more are dropped.
        expect(await waitForMetric(s, 'sidecar_spans_dropped_total', 60)).toBeGreaterThanOrEqual(60);
        expect(s.exited()).toBeUndefined();
      });
    }

    it('without an endpoint nothing is exported, and sidecar_spans_dropped_total is 0', async () => {
      expect(await metric(await t.main(), 'sidecar_spans_dropped_total')).toBe(0);
    });
  });
}
