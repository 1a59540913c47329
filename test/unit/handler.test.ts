/**
 * Tier 1: the handler in-process, the upstream mocked with msw. Fast checks of the rules the
 * conformance suite then proves over real sockets on every runtime.
 */
import { http, HttpResponse, delay } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createProxy } from '../../src/handler.ts';
import type { AccessRecord } from '../../src/exchange.ts';
import { Metrics } from '../../src/metrics.ts';
import type { UpstreamClient } from '../../src/proxy/upstream.ts';

const upstreamOrigin = 'http://app.test:8080';
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

/** The in-process upstream: the platform fetch, which msw intercepts (its headers copied, as the contract asks). */
const fetchUpstream: UpstreamClient = async (r) => {
  const response = await fetch(r.url, {
    method: r.method,
    headers: r.headers,
    body: r.body,
    signal: r.signal,
    redirect: 'manual',
    duplex: 'half',
  } as RequestInit);
  return {
    status: response.status,
    statusText: response.statusText,
    headers: new Headers(response.headers),
    body: response.body,
  };
};

function setup(env: Record<string, string> = {}, upstream: UpstreamClient = fetchUpstream) {
  const records: AccessRecord[] = [];
  /** Headers exactly as the sidecar hands them to its upstream client (a platform fetch adds its own on the wire). */
  const sent: Headers[] = [];
  const metrics = new Metrics();
  const config = loadConfig({ TARGET: upstreamOrigin, ...env });
  const recording: UpstreamClient = (r) => (sent.push(new Headers(r.headers)), upstream(r));
  const proxy = createProxy(config, {
    upstream: recording,
    remoteAddress: () => '192.0.2.7',
    log: (r) => records.push(r),
    metrics,
  });
  // Every real HTTP/1.1 request carries Host; Hono's app.request does not add one.
  const app = {
    request(path: string, init: RequestInit = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has('host')) headers.set('host', 'sidecar.test');
      return proxy.request(path, { ...init, headers });
    },
  };
  return { app, proxy, records, metrics, sent };
}

/** Reads the body to its end, so the access record (written when the body ends) exists. */
async function complete(response: Response) {
  return { response, text: await response.text() };
}

describe('forwarding', () => {
  it('sends method, path and query to TARGET, with its path prefix joined in front', async () => {
    let seen = '';
    server.use(
      http.all(
        `${upstreamOrigin}/*`,
        ({ request }) => ((seen = `${request.method} ${request.url}`), new HttpResponse('ok')),
      ),
    );
    const { app } = setup({ TARGET: `${upstreamOrigin}/base/` });
    await complete(await app.request('/x/y?a=1&b=%20', { method: 'DELETE' }));
    expect(seen).toBe(`DELETE ${upstreamOrigin}/base/x/y?a=1&b=%20`);
  });

  it('keeps a path that starts with // on TARGET instead of treating it as a host', async () => {
    let seen = '';
    server.use(http.all(`${upstreamOrigin}/*`, ({ request }) => ((seen = request.url), new HttpResponse('ok'))));
    const { app } = setup();
    await complete(await app.request('http://sidecar.test//evil.test/x'));
    expect(new URL(seen).host).toBe('app.test:8080');
    expect(seen).toBe(`${upstreamOrigin}//evil.test/x`);
  });

  it('drops hop-by-hop headers, including those named in Connection, before adding its own', async () => {
    server.use(http.all(`${upstreamOrigin}/*`, () => new HttpResponse('ok')));
    const { app, sent } = setup();
    await complete(
      await app.request('/', {
        headers: {
          connection: 'x-custom, x-forwarded-for, x-request-id, traceparent',
          'x-custom': 'hop',
          'keep-alive': 'timeout=5',
          'proxy-connection': 'keep-alive',
          te: 'trailers',
          trailer: 'x-t',
          'x-request-id': 'keep-me',
          'x-end-to-end': 'stays',
        },
      }),
    );
    const headers = sent[0] as Headers;
    for (const name of ['connection', 'x-custom', 'keep-alive', 'proxy-connection', 'te', 'trailer'])
      expect(headers.has(name)).toBe(false);
    expect(headers.get('x-end-to-end')).toBe('stays');
    // Named in Connection, yet the sidecar's own values are there.
    expect(headers.get('x-forwarded-for')).toBe('192.0.2.7');
    expect(headers.get('x-request-id')).toBe('keep-me');
    expect(headers.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('appends the client address to an incoming X-Forwarded-For and sets X-Forwarded-Proto and -Host', async () => {
    server.use(http.all(`${upstreamOrigin}/*`, () => new HttpResponse('ok')));
    const { app, sent } = setup();
    await complete(
      await app.request('/', {
        headers: {
          host: 'shop.example',
          'x-forwarded-for': '203.0.113.1',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'spoofed',
        },
      }),
    );
    const headers = sent[0] as Headers;
    expect(headers.get('host')).toBe('shop.example');
    expect(headers.get('x-forwarded-for')).toBe('203.0.113.1, 192.0.2.7');
    expect(headers.get('x-forwarded-proto')).toBe('http');
    expect(headers.get('x-forwarded-host')).toBe('shop.example');
  });

  it('keeps a valid X-Request-Id and replaces an invalid one with a UUID, both ways', async () => {
    const seen: (string | null)[] = [];
    server.use(
      http.all(
        `${upstreamOrigin}/*`,
        ({ request }) => (seen.push(request.headers.get('x-request-id')), new HttpResponse('ok')),
      ),
    );
    const { app, records } = setup();
    const kept = await app.request('/', { headers: { 'x-request-id': 'abc-123_~!' } });
    await kept.text();
    const replaced = await app.request('/', { headers: { 'x-request-id': 'has space' } });
    await replaced.text();
    const tooLong = await app.request('/', { headers: { 'x-request-id': 'a'.repeat(201) } });
    await tooLong.text();
    expect(seen[0]).toBe('abc-123_~!');
    expect(kept.headers.get('x-request-id')).toBe('abc-123_~!');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(seen[1]).toMatch(uuid);
    expect(replaced.headers.get('x-request-id')).toBe(seen[1]);
    expect(seen[2]).toMatch(uuid);
    expect(records.map((r) => r.requestId)).toEqual(seen);
  });

  it('continues a valid traceparent with a new parent id and passes tracestate; restarts an invalid one', async () => {
    const seen: Headers[] = [];
    server.use(http.all(`${upstreamOrigin}/*`, ({ request }) => (seen.push(request.headers), new HttpResponse('ok'))));
    const { app, records } = setup();
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await complete(await app.request('/', { headers: { traceparent: incoming, tracestate: 'vendor=1' } }));
    await complete(
      await app.request('/', {
        headers: { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01', tracestate: 'vendor=1' },
      }),
    );
    const [continued, restarted] = seen as [Headers, Headers];
    const parts = continued.get('traceparent')?.split('-') ?? [];
    expect(parts[1]).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(parts[2]).toMatch(/^[0-9a-f]{16}$/);
    expect(parts[2]).not.toBe('00f067aa0ba902b7');
    expect(continued.get('tracestate')).toBe('vendor=1');
    expect(records[0]?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(restarted.get('traceparent')).toMatch(/^00-(?!0{32})[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(restarted.has('tracestate')).toBe(false);
  });
});

describe('responses', () => {
  it('keeps several Set-Cookie headers apart and drops hop-by-hop response headers', async () => {
    server.use(
      http.get(`${upstreamOrigin}/*`, () => {
        const headers = new Headers({
          connection: 'x-secret',
          'x-secret': '1',
          'keep-alive': 'timeout=5',
          'x-app': 'yes',
        });
        for (const c of ['a=1; Path=/', 'b=2; HttpOnly', 'c=3, with comma']) headers.append('set-cookie', c);
        return new HttpResponse('ok', { headers });
      }),
    );
    const { app } = setup();
    const { response } = await complete(await app.request('/'));
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; HttpOnly', 'c=3, with comma']);
    expect(response.headers.has('x-secret')).toBe(false);
    expect(response.headers.has('keep-alive')).toBe(false);
    expect(response.headers.get('x-app')).toBe('yes');
  });

  it('passes a redirect through with its Location untouched, without following it', async () => {
    server.use(
      http.get(
        `${upstreamOrigin}/*`,
        () => new HttpResponse(null, { status: 302, headers: { location: 'http://elsewhere.test/next' } }),
      ),
    );
    const { app } = setup();
    const { response } = await complete(await app.request('/old'));
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('http://elsewhere.test/next');
  });
});

describe('failures', () => {
  it('answers 502 with a request id when the upstream fails before responding, and logs the reason', async () => {
    server.use(http.get(`${upstreamOrigin}/*`, () => HttpResponse.error()));
    const { app, records, metrics } = setup();
    const { response, text } = await complete(await app.request('/', { headers: { 'x-request-id': 'r1' } }));
    expect(response.status).toBe(502);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(response.headers.get('x-request-id')).toBe('r1');
    expect(text.length).toBeGreaterThan(0);
    expect(records[0]).toMatchObject({ status: 502, error: 'upstream_reset' });
    expect(metrics.render()).toContain('sidecar_upstream_errors_total{reason="upstream_reset"} 1');
  });

  it('classifies a refused connection as upstream_refused', async () => {
    const refused: UpstreamClient = () =>
      Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }));
    const { app, records } = setup({}, refused);
    const { response } = await complete(await app.request('/'));
    expect(response.status).toBe(502);
    expect(records[0]?.error).toBe('upstream_refused');
  });

  it('answers 504 when no response headers arrive within UPSTREAM_TIMEOUT_MS, and aborts the upstream request', async () => {
    let upstreamSignal: AbortSignal | undefined;
    const hanging: UpstreamClient = (r) =>
      new Promise((_, reject) => {
        upstreamSignal = r.signal;
        r.signal.addEventListener('abort', () => reject(r.signal.reason));
      });
    const { app, records } = setup({ UPSTREAM_TIMEOUT_MS: '50' }, hanging);
    const { response } = await complete(await app.request('/'));
    expect(response.status).toBe(504);
    expect(upstreamSignal?.aborted).toBe(true);
    expect(records[0]).toMatchObject({ status: 504, error: 'upstream_timeout' });
  });

  it('retries an idempotent bodiless request once when the upstream resets before responding', async () => {
    let calls = 0;
    const flaky: UpstreamClient = async () => {
      calls++;
      if (calls === 1) throw Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
      return { status: 200, headers: new Headers(), body: new Response('second time lucky').body };
    };
    const { app } = setup({}, flaky);
    const { response, text } = await complete(await app.request('/'));
    expect(response.status).toBe(200);
    expect(text).toBe('second time lucky');
    expect(calls).toBe(2);
  });

  it('does not retry a POST, whose body may already have reached the app', async () => {
    let calls = 0;
    const flaky: UpstreamClient = async () => {
      calls++;
      throw Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    };
    const { app } = setup({}, flaky);
    const { response } = await complete(await app.request('/', { method: 'POST', body: 'x' }));
    expect(response.status).toBe(502);
    expect(calls).toBe(1);
  });

  it('forwards an Upgrade it does not tunnel (h2c, a custom token) as plain HTTP, Upgrade and Connection dropped', async () => {
    server.use(http.all(`${upstreamOrigin}/*`, () => new HttpResponse('plain')));
    const { app, records, sent } = setup();
    for (const upgrade of ['h2c', 'foo/1, bar']) {
      const { response } = await complete(
        await app.request('/up', {
          headers: { connection: 'Upgrade, HTTP2-Settings', upgrade, 'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA' },
        }),
      );
      expect(response.status).toBe(200);
    }
    for (const headers of sent) {
      for (const name of ['upgrade', 'connection', 'http2-settings']) expect(headers.has(name), name).toBe(false);
    }
    expect(records.map((r) => [r.status, r.error, r.upgrade])).toEqual([
      [200, undefined, undefined],
      [200, undefined, undefined],
    ]);
  });

  it('hands a WebSocket handshake to the tunnel when the runtime provides one, and nothing else', async () => {
    const seen: string[] = [];
    const config = loadConfig({ TARGET: upstreamOrigin });
    const proxy = createProxy(config, {
      upstream: fetchUpstream,
      remoteAddress: () => undefined,
      log: () => {},
      metrics: new Metrics(),
      tunnel: async (c) => (seen.push(`${c.req.method} ${c.req.path}`), new Response(null, { status: 200 })),
    });
    server.use(http.all(`${upstreamOrigin}/*`, () => new HttpResponse('plain')));
    const ask = (method: string, headers: Record<string, string>) =>
      proxy.request('/chat', { method, headers: { host: 'h', ...headers } });
    await ask('GET', { connection: 'keep-alive, Upgrade', upgrade: 'WebSocket' });
    await complete(await ask('POST', { connection: 'upgrade', upgrade: 'websocket' }));
    await complete(await ask('GET', { upgrade: 'websocket' }));
    await complete(await ask('GET', { connection: 'upgrade', upgrade: 'h2c' }));
    expect(seen).toEqual(['GET /chat']);
  });

  it('answers 502 upstream_broken when the body breaks before anything was sent to the client', async () => {
    const broken: UpstreamClient = async () => ({
      status: 200,
      headers: new Headers(),
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('partial'));
          c.error(new Error('upstream reset mid-body'));
        },
      }),
    });
    const { app, records } = setup({}, broken);
    const response = await app.request('/');
    expect(response.status).toBe(502);
    await response.text();
    expect(records[0]).toMatchObject({ status: 502, error: 'upstream_broken' });
  });

  it('errors the client body when the upstream breaks once streaming has begun, and logs upstream_broken', async () => {
    let breakIt: (error: Error) => void = () => {};
    const broken: UpstreamClient = async () => ({
      status: 200,
      headers: new Headers(),
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('partial'));
          breakIt = (e) => c.error(e);
        },
      }),
    });
    const { app, records } = setup({}, broken);
    const response = await app.request('/');
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('partial');
    breakIt(new Error('upstream reset mid-body'));
    await expect(reader.read()).rejects.toThrow();
    expect(records[0]).toMatchObject({ status: 200, error: 'upstream_broken' });
  });
});

describe('access records and metrics', () => {
  it('counts bytes both ways and writes one record when the body ends', async () => {
    server.use(
      http.post(
        `${upstreamOrigin}/*`,
        async ({ request }) => new HttpResponse(`got ${(await request.arrayBuffer()).byteLength}`),
      ),
    );
    const { app, records, metrics } = setup();
    const response = await app.request('/upload?x=1', {
      method: 'POST',
      body: 'a'.repeat(1000),
      headers: { 'user-agent': 'ua/1', authorization: 'Bearer secret' },
    });
    expect(records).toHaveLength(0);
    expect(await response.text()).toBe('got 1000');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      method: 'POST',
      path: '/upload?x=1',
      status: 200,
      bytesIn: 1000,
      bytesOut: 8,
      userAgent: 'ua/1',
      remoteAddr: '192.0.2.7',
      service: 'app',
    });
    expect(JSON.stringify(records[0])).not.toContain('secret');
    expect(metrics.render()).toContain(
      'http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="200"} 1',
    );
    expect(metrics.activeRequests).toBe(0);
  });

  it('logs 499 client_aborted when the client stops reading the body', async () => {
    server.use(
      http.get(
        `${upstreamOrigin}/*`,
        () => new HttpResponse(new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(1024)) })),
      ),
    );
    const { app, records } = setup();
    const response = await app.request('/stream');
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(records[0]).toMatchObject({ status: 499, error: 'client_aborted' });
  });

  it('logs 499 and aborts the upstream request when the client leaves before the response', async () => {
    let upstreamSignal: AbortSignal | undefined;
    server.use(
      http.get(
        `${upstreamOrigin}/*`,
        async ({ request }) => ((upstreamSignal = request.signal), await delay('infinite'), new HttpResponse('late')),
      ),
    );
    const { app, records } = setup();
    const client = new AbortController();
    const pending = app.request('/slow', { signal: client.signal });
    await expect.poll(() => upstreamSignal).toBeDefined();
    client.abort();
    await pending;
    expect(upstreamSignal?.aborted).toBe(true);
    expect(records[0]).toMatchObject({ status: 499, error: 'client_aborted' });
  });

  it('labels unknown methods _OTHER so clients cannot mint metric series', async () => {
    server.use(http.all(`${upstreamOrigin}/*`, () => new HttpResponse('ok')));
    const { app, metrics } = setup();
    await complete(await app.request('/', { method: 'BREW' }));
    expect(metrics.render()).toContain('http_request_method="_OTHER"');
    expect(metrics.render()).not.toContain('BREW');
  });
});

describe('what a lenient runtime parser lets through', () => {
  it('refuses a request without Host with 400 and closes the connection', async () => {
    const { proxy, records, sent } = setup();
    const response = await proxy.request('/');
    expect(response.status).toBe(400);
    expect(response.headers.get('connection')).toBe('close');
    expect(sent).toHaveLength(0);
    expect(records[0]?.error).toBe('bad_request');
  });

  it('refuses a request line and headers over 16 KiB with 431', async () => {
    const { app, sent } = setup();
    const response = await app.request('/', { headers: { host: 'h', 'x-big': 'a'.repeat(16 * 1024) } });
    expect(response.status).toBe(431);
    expect(sent).toHaveLength(0);
  });
});

describe('GET and HEAD', () => {
  it('never promise the app a body they cannot carry: Content-Length is not forwarded', async () => {
    server.use(http.get(`${upstreamOrigin}/*`, () => new HttpResponse('ok')));
    const { app, sent } = setup();
    const response = await app.request('/', { headers: { 'content-length': '5' } });
    expect(response.status).toBe(200);
    expect(sent[0]?.has('content-length')).toBe(false);
  });
});

describe("the sidecar's own failures", () => {
  it('answer 500 with a request id, are logged as internal, and the next request is served', async () => {
    server.use(http.get(`${upstreamOrigin}/*`, () => new HttpResponse('ok')));
    let calls = 0;
    const flaky: UpstreamClient = async (r) => {
      calls++;
      // A bug of the sidecar's own (not a network failure): a client returning garbage.
      if (calls === 1) return { status: 200, headers: null as unknown as Headers, body: null };
      return fetchUpstream(r);
    };
    const { app, records } = setup({}, flaky);
    const failed = await app.request('/', { headers: { 'x-request-id': 'bug-1' } });
    expect(failed.status).toBe(500);
    expect(failed.headers.get('x-request-id')).toBe('bug-1');
    expect(records[0]).toMatchObject({ status: 500, error: 'internal' });
    const next = await app.request('/');
    expect(next.status).toBe(200);
    await next.text();
  });
});
