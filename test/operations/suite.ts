/**
 * Operating the sidecar in a pod: holds docs/behaviour.md#admin-listener and
 * docs/behaviour.md#lifecycle, on each runtime over real sockets: probes, readiness following the
 * app down and up, metrics parsed and counted against the requests sent and the access log, and a
 * graceful drain on SIGTERM.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, readBody, send } from '../support/http-client.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus.ts';
import { closedPort, startSidecar } from '../support/sidecar.ts';
import type { Runtime, Sidecar } from '../support/sidecar.ts';
import { startUpstream } from '../support/upstream.ts';
import { connectWs } from '../support/ws-client.ts';
import { knownDifferences } from '../conformance/known-differences.ts';
import type { Upstream } from '../support/upstream.ts';
import { addStatusPageTests } from './status.ts';
import { eventually } from '../support/wait.ts';

const status = (url: string) =>
  fetch(url).then(
    async (r) => (await r.arrayBuffer(), r.status),
    () => 0,
  );

/** An app that can go down and come back on the same port. */
class FlakyApp {
  port = 0;
  #server: http.Server | undefined;
  async up(): Promise<void> {
    const server = http.createServer((_req, res) => res.end('Hello you!'));
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }
  async down(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function metrics(sidecar: Sidecar) {
  const response = await fetch(`${sidecar.adminUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await response.text());
}

export function addOperationsTests(runtime: Runtime): void {
  describe(`operating the sidecar on ${runtime}`, () => {
    let upstream: Upstream;
    let sidecar: Sidecar;
    beforeAll(async () => {
      upstream = await startUpstream();
      sidecar = await startSidecar(runtime, { TARGET: upstream.url, UPSTREAM_TIMEOUT_MS: '300' });
    });
    afterAll(async () => {
      await sidecar?.stop();
      await upstream?.close();
    });

    it('answers /healthz and /readyz on the admin port', async () => {
      expect(await status(`${sidecar.adminUrl}/healthz`)).toBe(200);
      await eventually(
        () => status(`${sidecar.adminUrl}/readyz`),
        (s) => s === 200,
        '/readyz 200',
      );
    });

    it('proxies /healthz, /readyz and /metrics on the proxied port to the app like any path', async () => {
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        const id = `admin-path-${path.slice(1)}`;
        const response = await send(sidecar.url, `${path}?id=${id}`);
        expect(response.status).toBe(200);
        expect(upstream.byId(id)).toHaveLength(1);
      }
    });

    it('keeps the admin port to itself: other paths are 404, never proxied', async () => {
      const before = upstream.requests.length;
      expect(await status(`${sidecar.adminUrl}/anything?id=admin-404`)).toBe(404);
      expect(upstream.requests.length).toBe(before);
    });

    it('exposes valid Prometheus metrics whose counts match the requests sent and the lines logged', async () => {
      const before = await metrics(sidecar);
      const count = (m: typeof before, method: string, code: string) =>
        sampleValue(m, 'http_server_request_duration_seconds_count', {
          http_request_method: method,
          http_response_status_code: code,
        }) ?? 0;
      const linesBefore = sidecar.stdoutLines.length;
      for (let i = 0; i < 5; i++) expect((await send(sidecar.url, `/m?id=metrics-get-${i}`)).status).toBe(200);
      for (let i = 0; i < 2; i++)
        expect((await send(sidecar.url, `/m?id=metrics-post-${i}`, { method: 'POST', body: 'x' })).status).toBe(200);
      expect((await send(sidecar.url, '/_/hang?id=metrics-timeout')).status).toBe(504);
      expect((await send(sidecar.url, '/m', { method: 'PROPFIND' })).status).toBe(200);
      await sidecar.waitForLogLines(linesBefore + 9);

      const after = await metrics(sidecar);
      expect(count(after, 'GET', '200') - count(before, 'GET', '200')).toBe(5);
      expect(count(after, 'POST', '200') - count(before, 'POST', '200')).toBe(2);
      expect(count(after, 'GET', '504') - count(before, 'GET', '504')).toBe(1);
      expect(count(after, '_OTHER', '200') - count(before, '_OTHER', '200')).toBe(1);
      expect(
        (sampleValue(after, 'sidecar_upstream_errors_total', { reason: 'upstream_timeout' }) ?? 0) -
          (sampleValue(before, 'sidecar_upstream_errors_total', { reason: 'upstream_timeout' }) ?? 0),
      ).toBe(1);
      expect(sampleValue(after, 'http_server_active_requests')).toBe(0);
      expect(sampleValue(after, 'process_resident_memory_bytes')).toBeGreaterThan(1_000_000);
      expect(sampleValue(after, 'process_cpu_seconds_total')).toBeGreaterThan(0);
      // Every request counted was logged, and the other way round.
      const histogram = after.get('http_server_request_duration_seconds');
      const counted = histogram?.samples.filter((s) => s.name.endsWith('_count')).reduce((sum, s) => sum + s.value, 0);
      // (Lines are batched for up to 20 ms, so wait for them; then there must be no more.)
      await sidecar.waitForLogLines(counted ?? 0);
      expect(sidecar.stdoutLines.length).toBe(counted);
      // Bounded labels: no path, no raw unknown method.
      const text = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
      expect(text).not.toContain('PROPFIND');
      expect(text).not.toContain('/m');
    });

    it('counts a request in flight in http_server_active_requests', async () => {
      const pending = await open(sidecar.url, '/_/slow?id=active-gauge');
      await eventually(
        async () => sampleValue(await metrics(sidecar), 'http_server_active_requests'),
        (v) => v === 1,
        'one active request',
      );
      upstream.release('active-gauge');
      await readBody(pending.res);
      await eventually(
        async () => sampleValue(await metrics(sidecar), 'http_server_active_requests'),
        (v) => v === 0,
        'no active request',
      );
    });
  });

  addStatusPageTests(runtime);

  describe(`readiness on ${runtime}`, () => {
    const app = new FlakyApp();
    let sidecar: Sidecar;
    beforeAll(async () => {
      await app.up();
      sidecar = await startSidecar(runtime, { TARGET: `http://127.0.0.1:${app.port}` });
    });
    afterAll(async () => {
      await sidecar?.stop();
      await app.down();
    });

    it('turns /readyz 503 while the app is down, keeps /healthz 200, and recovers by itself', async () => {
      await eventually(
        () => status(`${sidecar.adminUrl}/readyz`),
        (s) => s === 200,
        'ready with the app up',
      );
      await app.down();
      await eventually(
        () => status(`${sidecar.adminUrl}/readyz`),
        (s) => s === 503,
        'not ready with the app down',
      );
      expect(await status(`${sidecar.adminUrl}/healthz`)).toBe(200);
      expect((await send(sidecar.url, '/')).status).toBe(502);
      await app.up();
      await eventually(
        () => status(`${sidecar.adminUrl}/readyz`),
        (s) => s === 200,
        'ready again once the app is back',
      );
    });

    it('is not ready when started in front of an app that is down, and still serves /healthz', async () => {
      const down = await startSidecar(runtime, { TARGET: `http://127.0.0.1:${await closedPort()}` });
      try {
        expect(await status(`${down.adminUrl}/healthz`)).toBe(200);
        expect(await status(`${down.adminUrl}/readyz`)).toBe(503);
      } finally {
        await down.stop();
      }
    });
  });

  describe(`draining on ${runtime}`, () => {
    let upstream: Upstream;
    beforeAll(async () => {
      upstream = await startUpstream();
    });
    afterAll(async () => {
      await upstream?.close();
    });

    it('on SIGTERM: /readyz 503 at once, no new connections, idle keep-alive closed, the request in flight completes, exit 0', async () => {
      const sidecar = await startSidecar(runtime, { TARGET: upstream.url, DRAIN_TIMEOUT_MS: '20000' });
      await eventually(
        () => status(`${sidecar.adminUrl}/readyz`),
        (s) => s === 200,
        'ready',
      );
      // An idle keep-alive connection, and a slow request in flight on another.
      const idle = net.connect(sidecar.port, '127.0.0.1');
      await once(idle, 'connect');
      idle.write(`GET /idle HTTP/1.1\r\nHost: sidecar\r\n\r\n`);
      await once(idle, 'data');
      const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
      idle.resume();
      const slow = await open(sidecar.url, '/_/slow?id=drain-slow');
      await upstream.waitFor('drain-slow', () => true, 'the slow request at the app');

      const exited = new Promise<number | null>((resolve) => void sidecar.stop().then((e) => resolve(e.code)));
      await eventually(
        () => status(`${sidecar.adminUrl}/readyz`),
        (s) => s === 503,
        '/readyz 503 while draining',
      );
      await idleClosed;
      await eventually(
        () =>
          new Promise<string>((resolve) => {
            const probe = net.connect(sidecar.port, '127.0.0.1');
            probe.once('connect', () => (probe.destroy(), resolve('accepted')));
            probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
          }),
        (outcome) => outcome === 'ECONNREFUSED',
        'new connections refused',
      );
      expect(sidecar.exited()).toBeUndefined();

      upstream.release('drain-slow');
      const body = await readBody(slow.res);
      expect(slow.res.statusCode).toBe(200);
      expect(body.complete).toBe(true);
      expect(await exited).toBe(0);
      expect(sidecar.stderr()).toMatch(/draining/);
      const entry = sidecar.logs().find((e) => typeof e.path === 'string' && e.path.includes('drain-slow'));
      expect(entry?.status).toBe(200);
    });

    it('on SIGTERM answers a keep-alive client that keeps sending with Connection: close, so it leaves and the process exits long before DRAIN_TIMEOUT_MS', async () => {
      const sidecar = await startSidecar(runtime, { TARGET: upstream.url, DRAIN_TIMEOUT_MS: '20000' });
      // One keep-alive connection, busy when the signal comes with a request the app answers only
      // afterwards (abort-watch without headers: nothing until release), so the answer is made
      // during the drain; then the client sends again at once on the same agent, as under load.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = (path: string) =>
        new Promise<http.IncomingMessage>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port: sidecar.port, path, agent }, resolve).once('error', reject);
        });
      try {
        const held = get('/_/abort-watch?id=drain-keepalive&mode=none');
        await upstream.waitFor('drain-keepalive', () => true, 'the request at the app');
        sidecar.signal('SIGTERM');
        await eventually(
          async () => sidecar.stderr(),
          (s) => /draining 1 in-flight/.test(s),
          'the drain to start',
        );
        upstream.release('drain-keepalive');
        const first = await held;
        await readBody(first);
        expect(first.statusCode).toBe(200);
        // Then keep sending until the sidecar is gone: each answer says whether to stay. The app
        // sends these without a Content-Type, and adding Connection must not add one.
        const answered = [first.headers.connection];
        const typed = knownDifferences.untypedBytesLabelledOctetStream.has(runtime)
          ? 'application/octet-stream'
          : undefined;
        let last = '';
        for (let i = 0; answered.length < 1000; i++) {
          try {
            const res = await get(`/_/page?id=drain-keepalive-${i}&type=none&n=10`);
            await readBody(res);
            expect(res.statusCode).toBe(200);
            expect(res.headers['content-type']).toBe(typed);
            answered.push(res.headers.connection);
          } catch (error) {
            last = (error as NodeJS.ErrnoException).code ?? String(error);
            // Refused: the listener is closed and the client has nowhere left to send.
            if (last === 'ECONNREFUSED') break;
          }
        }
        // Every answer during the drain told the client to leave (RFC 9112 §9.6), and it did.
        expect(new Set(answered)).toEqual(new Set(['close']));
        expect(last).toBe('ECONNREFUSED');
        const exit = await eventually(
          async () => sidecar.exited(),
          (e) => e !== undefined,
          'the exit once nothing is in flight',
          30_000,
        );
        expect(exit?.code).toBe(0);
        expect(sidecar.stderr()).not.toMatch(/drain timeout reached/);
      } finally {
        agent.destroy();
        await sidecar.stop();
      }
    });

    it('on SIGTERM an upload still arriving reaches the app whole and is answered', async () => {
      const sidecar = await startSidecar(runtime, { TARGET: upstream.url, DRAIN_TIMEOUT_MS: '20000' });
      try {
        const upload = http.request({
          host: '127.0.0.1',
          port: sidecar.port,
          method: 'POST',
          path: '/_/upload?id=drain-upload',
          headers: { 'transfer-encoding': 'chunked' },
        });
        const answer = new Promise<http.IncomingMessage>((resolve, reject) => {
          upload.once('response', resolve).once('error', reject);
        });
        upload.write('the first part, ');
        await upstream.waitFor('drain-upload', (r) => r.bodyBytes > 0, 'the upload at the app');
        sidecar.signal('SIGTERM');
        await eventually(
          async () => sidecar.stderr(),
          (s) => /draining 1 in-flight/.test(s),
          'the drain to start',
        );
        upload.end('and the rest');
        const res = await answer;
        const body = await readBody(res);
        if (knownDifferences.uploadInFlightCutByDrain.has(runtime)) {
          expect(res.statusCode).toBe(502);
          expect(upstream.byId('drain-upload')[0]?.state).not.toBe('complete');
        } else {
          expect(res.statusCode).toBe(200);
          expect(JSON.parse(body.body.toString())).toMatchObject({ bytes: 28 });
        }
        const exit = await eventually(
          async () => sidecar.exited(),
          (e) => e !== undefined,
          'the exit once the upload was answered',
        );
        expect(exit?.code).toBe(0);
      } finally {
        await sidecar.stop();
      }
    });

    it('gives a request that never finishes DRAIN_TIMEOUT_MS, then cuts it and exits 0', async () => {
      const sidecar = await startSidecar(runtime, { TARGET: upstream.url, DRAIN_TIMEOUT_MS: '300' });
      const stuck = await open(sidecar.url, '/_/slow?id=drain-timeout');
      const body = readBody(stuck.res);
      await upstream.waitFor('drain-timeout', () => true, 'the stuck request at the app');
      // Never released: only the drain timeout can end it.
      const { code } = await sidecar.stop();
      expect(code).toBe(0);
      expect(sidecar.stderr()).toMatch(/drain timeout reached with 1 request/);
      expect((await body).complete).toBe(false);
      upstream.release('drain-timeout');
    });

    it('on SIGTERM an open WebSocket tunnel keeps working until it closes, then the process exits 0 at once', async () => {
      const sidecar = await startSidecar(runtime, { TARGET: upstream.url, DRAIN_TIMEOUT_MS: '60000' });
      const client = await connectWs(`${sidecar.url.replace(/^http/, 'ws')}/ws/echo?id=drain-tunnel`);
      await upstream.waitForTunnel('drain-tunnel', (a) => a.ws !== undefined, 'the app side');
      await eventually(
        async () => sampleValue(await metrics(sidecar), 'sidecar_tunnels_active'),
        (v) => v === 1,
        'the tunnel counted open',
      );
      sidecar.signal('SIGTERM');
      await eventually(
        async () => sidecar.stderr(),
        (s) => /draining 0 in-flight request\(s\) and 1 tunnel/.test(s),
        'the drain to start',
      );
      client.ws.send('during drain');
      expect((await client.message(0)).data.toString()).toBe('during drain');
      const probe = () =>
        new Promise<string>((resolve) => {
          const socket = net.connect(sidecar.port, '127.0.0.1');
          socket.once('connect', () => (socket.destroy(), resolve('accepted')));
          socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        });
      if (knownDifferences.listenerOpenWhileTunnelsDrain.has(runtime)) expect(await probe()).toBe('accepted');
      else
        await eventually(
          probe,
          (outcome) => outcome === 'ECONNREFUSED',
          'new connections refused while the tunnel drains',
        );
      expect(sidecar.exited()).toBeUndefined();
      client.ws.close(1000, 'done');
      // Long before the 60 s deadline: nothing is left open.
      const exit = await eventually(
        async () => sidecar.exited(),
        (e) => e !== undefined,
        'the exit once the tunnel closed',
        10_000,
      );
      expect(exit?.code).toBe(0);
      expect(sidecar.logs().find((e) => typeof e.path === 'string' && e.path.includes('drain-tunnel'))).toMatchObject({
        status: 101,
        upgrade: 'websocket',
      });
    });

    it('closes a WebSocket tunnel still open at DRAIN_TIMEOUT_MS (a relay with 1001 "going away"), logs it and exits 0', async () => {
      const sidecar = await startSidecar(runtime, { TARGET: upstream.url, DRAIN_TIMEOUT_MS: '300' });
      const client = await connectWs(`${sidecar.url.replace(/^http/, 'ws')}/ws/echo?id=drain-cut`);
      await upstream.waitForTunnel('drain-cut', (a) => a.ws !== undefined, 'the app side');
      await eventually(
        async () => sampleValue(await metrics(sidecar), 'sidecar_tunnels_active'),
        (v) => v === 1,
        'the tunnel counted open',
      );
      sidecar.signal('SIGTERM');
      const close = await client.closed(10_000);
      // Node tunnels bytes and can only end the connection; a relay closes it properly.
      const relayed = knownDifferences.webSocketRelayed.has(runtime);
      expect(close.code).toBe(relayed ? 1001 : 1006);
      const app = await upstream.waitForTunnel('drain-cut', (a) => a.closed, 'the app side to be closed too');
      if (relayed) expect(app.close?.code).toBe(1001);
      const exit = await eventually(
        async () => sidecar.exited(),
        (e) => e !== undefined,
        'the exit',
        10_000,
      );
      expect(exit?.code).toBe(0);
      expect(sidecar.stderr()).toMatch(/drain timeout reached with 0 request\(s\) and 1 tunnel/);
      expect(sidecar.logs().find((e) => typeof e.path === 'string' && e.path.includes('drain-cut'))).toMatchObject({
        status: 101,
        upgrade: 'websocket',
      });
    });

    it('exits at once on a second signal, even with a request in flight', async () => {
      const sidecar = await startSidecar(runtime, { TARGET: upstream.url, DRAIN_TIMEOUT_MS: '60000' });
      const slow = await open(sidecar.url, '/_/slow?id=drain-twice');
      slow.res.resume();
      await upstream.waitFor('drain-twice', () => true, 'the slow request at the app');
      sidecar.signal('SIGTERM');
      await eventually(
        async () => sidecar.stderr(),
        (s) => /draining/.test(s),
        'the drain to start',
      );
      sidecar.signal('SIGTERM');
      const { code } = await sidecar.stop();
      // It did not wait for the request in flight (never released) nor the 60 s drain timeout.
      expect(code).not.toBe(0);
      expect(sidecar.stderr()).toMatch(/again/);
      upstream.release('drain-twice');
    });
  });
}
