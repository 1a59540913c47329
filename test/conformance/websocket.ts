/**
 * Holds docs/behaviour.md#upgrade-and-websocket, and docs/behaviour.md#proxying on other Upgrade
 * tokens: the handshake, the tunnel's records, and Upgrades that are not WebSocket handshakes
 * (messages, backpressure and frames: websocket-messages.ts). A `ws` client through the real
 * sidecar to a `ws` app (../support/ws-app.ts), and raw frames where bytes matter. Where a runtime
 * relays messages instead of bytes, the test asserts what it does (known-differences.ts) and still
 * the promise that no message is altered, merged, split or lost.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { headerValues, send } from '../support/http-client.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus.ts';
import type { Sidecar } from '../support/sidecar.ts';
import { refusalBody, wsSetCookies } from '../support/ws-app.ts';
import { RawWsClient, WsClient, connectWs } from '../support/ws-client.ts';
import type { Conformance, Echo } from './context.ts';
import { headers, one, traceparentFormat } from './context.ts';
import { knownDifferences } from './known-differences.ts';

/** The spec allows a second; this bound only turns "never" into a failure. */
export const END_WAIT_MS = 5_000;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const wsUrl = (s: Sidecar, path: string) => `${s.url.replace(/^http/, 'ws')}${path}`;

async function metricsOf(s: Sidecar) {
  return parsePrometheusText(await (await fetch(`${s.adminUrl}/metrics`)).text());
}

/** What both WebSocket test files share: the runtime's relay status and an echo tunnel. */
export function webSocketHelpers(t: Conformance) {
  const relayed = () => knownDifferences.webSocketRelayed.has(t.runtime);

  /** A tunnel to the echo route, and the app's side of it. */
  async function echoTunnel(s: Sidecar, options: ConstructorParameters<typeof WsClient>[1] = {}, query = '') {
    const id = t.id('ws');
    const client = await connectWs(wsUrl(s, `/ws/echo?id=${id}${query}`), options);
    const app = await t.upstream.waitForTunnel(id, (a) => a.ws !== undefined, 'the app side to open');
    return { id, client, app };
  }

  return { relayed, echoTunnel };
}

export function webSocketTests(t: Conformance): void {
  const { relayed, echoTunnel } = webSocketHelpers(t);

  describe('WebSocket handshake', () => {
    it("reaches the app under the request's header rules, with Connection: Upgrade, Upgrade: websocket and Sec-WebSocket-* end to end", async () => {
      const s = await t.main();
      const rid = t.id('ws-rid');
      const incoming = `00-${'4bf92f3577b34da6a3ce929d0e0e4736'}-00f067aa0ba902b7-01`;
      const { client, app } = await echoTunnel(s, {
        protocols: ['chat.v1', 'chat.v2'],
        perMessageDeflate: true,
        headers: {
          Host: 'chat.example:8443',
          'X-Request-Id': rid,
          traceparent: incoming,
          'X-Forwarded-For': '203.0.113.9',
          'User-Agent': 'ws-conformance',
        },
      });
      const h = app.headers;
      expect(h.host).toBe('chat.example:8443');
      expect(h['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
      expect(h['x-forwarded-proto']).toBe('http');
      expect(h['x-forwarded-host']).toBe('chat.example:8443');
      expect(h['x-request-id']).toBe(rid);
      const [, traceId, parentId] = traceparentFormat.exec(one(h.traceparent) ?? '') ?? [];
      expect(traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(parentId).not.toBe('00f067aa0ba902b7');
      expect(one(h.connection)).toMatch(/^upgrade$/i);
      expect(h.upgrade).toBe('websocket');
      expect(h['sec-websocket-version']).toBe('13');
      expect(one(h['sec-websocket-protocol'])?.split(/\s*,\s*/)).toEqual(['chat.v1', 'chat.v2']);
      expect(h['user-agent']).toBe('ws-conformance');
      const accept = client.upgrade?.headers['sec-websocket-accept'];
      const appAccept = createHash('sha1')
        .update(`${String(h['sec-websocket-key'])}${GUID}`)
        .digest('base64');
      if (relayed()) {
        // Each leg has its own handshake: the app answers the relay's key, and is offered no extension.
        expect(accept).not.toBe(appAccept);
        expect(h['sec-websocket-extensions']).toBeUndefined();
        expect(client.upgrade?.headers['sec-websocket-extensions']).toBeUndefined();
      } else {
        // The app answered the client's own key, and saw the client's own extension offer.
        expect(accept).toBe(appAccept);
        expect(h['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
        expect(client.upgrade?.headers['sec-websocket-extensions']).toBe('permessage-deflate');
      }
      client.ws.close();
    });

    it('drops hop-by-hop headers before adding its own: a client naming X-Forwarded-For in Connection cannot remove it', async () => {
      const s = await t.main();
      const id = t.id('ws-hop');
      const { client } = await RawWsClient.open(s.host, s.port, `/ws/raw?id=${id}`, [
        'Connection: X-Client-Hop, X-Forwarded-For, Keep-Alive',
        'X-Client-Hop: secret',
        'Keep-Alive: timeout=5',
        'X-Forwarded-For: 203.0.113.9',
      ]);
      const app = await t.upstream.waitForTunnel(id, (a) => a.raw !== undefined, 'the app side');
      expect(app.headers['x-client-hop']).toBeUndefined();
      expect(app.headers['keep-alive']).toBeUndefined();
      expect(app.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(one(app.headers.connection)).toMatch(/^upgrade$/i);
      expect(app.headers.upgrade).toBe('websocket');
      client.socket.destroy();
    });

    it("gives the client the app's 101: both Set-Cookie headers, X-Request-Id, and the subprotocol the app chose (the second of two)", async () => {
      const s = await t.main();
      const rid = t.id('ws-101');
      const { client } = await echoTunnel(s, { protocols: ['first', 'second'], headers: { 'X-Request-Id': rid } });
      expect(client.upgrade?.statusCode).toBe(101);
      expect(headerValues(client.upgrade?.rawHeaders ?? [], 'set-cookie')).toEqual([...wsSetCookies]);
      expect(headerValues(client.upgrade?.rawHeaders ?? [], 'x-request-id')).toEqual([rid]);
      expect(client.ws.protocol).toBe('second');
      client.ws.close();
    });

    it('tells the client no subprotocol when the app chose none', async () => {
      const s = await t.main();
      const client = new WsClient(wsUrl(s, `/ws/echo?id=${t.id('ws-none')}&pick=none`), { protocols: ['only'] });
      if (knownDifferences.webSocketNoSubprotocolRefused.has(t.runtime)) {
        expect((await client.refused()).status).toBe(502);
        return;
      }
      // ws refuses a 101 without one of its offers, exactly as it would from the app directly.
      await client.waitFor(() => client.error, 'the client to reject the 101');
      expect(client.error?.message).toMatch(/no subprotocol/);
      expect(client.upgrade?.statusCode).toBe(101);
      expect(client.upgrade?.headers['sec-websocket-protocol']).toBeUndefined();
    });

    for (const status of [401, 403, 404]) {
      it(`relays the app's refusal ${status} as sent: status, headers and body; no tunnel is counted`, async () => {
        const s = await t.main();
        const rid = t.id(`ws-${status}`);
        const client = new WsClient(wsUrl(s, `/ws/refuse?id=${rid}&status=${status}`), {
          headers: { 'X-Request-Id': rid },
        });
        const refusal = await client.refused();
        expect(refusal.status).toBe(status);
        expect(headerValues(refusal.rawHeaders, 'x-refused')).toEqual(['yes']);
        expect(headerValues(refusal.rawHeaders, 'x-request-id')).toEqual([rid]);
        expect(refusal.body.toString()).toBe(refusalBody);
        const entry = await s.waitForLog((e) => e.request_id === rid, 'the refusal logged');
        expect(entry.status).toBe(status);
        expect(entry.upgrade).toBeUndefined();
        expect(entry.bytes_out).toBe(refusalBody.length);
      });
    }

    it('answers 502 when the app is unreachable, logged as upstream_refused', async () => {
      const s = await t.refused();
      const rid = t.id('ws-502');
      const refusal = await new WsClient(wsUrl(s, '/ws/echo'), { headers: { 'X-Request-Id': rid } }).refused();
      expect(refusal.status).toBe(502);
      expect(headerValues(refusal.rawHeaders, 'x-request-id')).toEqual([rid]);
      expect((await s.waitForLog((e) => e.request_id === rid, 'the 502 logged')).error).toBe('upstream_refused');
    });

    it('answers 502 when the app resets the connection instead of answering, logged as upstream_reset', async () => {
      const s = await t.main();
      const rid = t.id('ws-reset');
      const refusal = await new WsClient(wsUrl(s, `/ws/reset?id=${rid}`), {
        headers: { 'X-Request-Id': rid },
      }).refused();
      expect(refusal.status).toBe(502);
      expect((await s.waitForLog((e) => e.request_id === rid, 'the 502 logged')).error).toBe('upstream_reset');
      await t.expectServes(s);
    });

    it('a client that leaves during the handshake lets the app go, logged as 499 client_aborted', async () => {
      const s = await t.main();
      const id = t.id('ws-leave');
      const client = new WsClient(wsUrl(s, `/ws/hang?id=${id}`), { headers: { 'X-Request-Id': id } });
      await t.upstream.waitForTunnel(id, () => true, 'the handshake at the app');
      client.ws.terminate();
      await t.upstream.waitForTunnel(id, (a) => a.closed, "the app's handshake to be closed", END_WAIT_MS);
      const entry = await s.waitForLog((e) => e.request_id === id, 'the abandoned handshake logged');
      expect([entry.status, entry.error]).toEqual([499, 'client_aborted']);
    });

    it('answers 504 when the app does not answer the handshake within UPSTREAM_TIMEOUT_MS, and lets the app go', async () => {
      const s = await t.impatient();
      const id = t.id('ws-504');
      const refusal = await new WsClient(wsUrl(s, `/ws/hang?id=${id}`), { headers: { 'X-Request-Id': id } }).refused();
      expect(refusal.status).toBe(504);
      expect((await s.waitForLog((e) => e.request_id === id, 'the 504 logged')).error).toBe('upstream_timeout');
      await t.upstream.waitForTunnel(
        id,
        (a) => a.closed,
        'the sidecar to close the handshake it gave up on',
        END_WAIT_MS,
      );
    });
  });

  describe('WebSocket records', () => {
    it('one access-log line per tunnel, when it closes: status 101, the whole duration, bytes both ways, upgrade websocket', async () => {
      const s = await t.main();
      const rid = t.id('ws-log');
      const { client, app } = await echoTunnel(s, { headers: { 'X-Request-Id': rid } });
      const opened = performance.now();
      client.ws.send('0123456789');
      await client.message(0);
      expect(
        s.logs().filter((e) => e.request_id === rid),
        'no line while the tunnel is open',
      ).toEqual([]);
      // The record spans the whole tunnel: at least from the client's open to its close.
      const openFor = performance.now() - opened;
      client.ws.close(1000);
      await client.closed();
      const entry = await s.waitForLog((e) => e.request_id === rid, 'the tunnel logged');
      expect(entry).toMatchObject({ status: 101, upgrade: 'websocket', method: 'GET', request_id: rid });
      expect(entry.path).toMatch(/^\/ws\/echo\?id=/);
      // The same trace and span as the traceparent the app received (a span exporter reads these).
      const [, traceId, parentId] = traceparentFormat.exec(one(app.headers.traceparent) ?? '') ?? [];
      expect([entry.trace_id, entry.span_id]).toEqual([traceId, parentId]);
      expect(entry.duration_ms as number).toBeGreaterThanOrEqual(Math.floor(openFor));
      expect(entry.error).toBeUndefined();
      if (relayed()) {
        // Message payload: the 10 bytes each way.
        expect([entry.bytes_in, entry.bytes_out]).toEqual([10, 10]);
      } else {
        // Frame bytes: a masked 10-byte frame (16) and a close frame (8) in; the echo (12) and a close (4) out.
        expect([entry.bytes_in, entry.bytes_out]).toEqual([16 + 8, 12 + 4]);
      }
      await s.waitForLogLines(s.stdoutLines.length);
      expect(s.logs().filter((e) => e.request_id === rid)).toHaveLength(1);
    });

    it('counts the handshake as a 101 request, and the open tunnel in sidecar_tunnels_* only', async () => {
      const s = await t.main();
      const before = await metricsOf(s);
      const handshakes = (m: typeof before) =>
        sampleValue(m, 'http_server_request_duration_seconds_count', {
          http_request_method: 'GET',
          http_response_status_code: '101',
        }) ?? 0;
      const { id, client } = await echoTunnel(s);
      const during = await metricsOf(s);
      expect(sampleValue(during, 'sidecar_tunnels_active')).toBe(
        (sampleValue(before, 'sidecar_tunnels_active') ?? 0) + 1,
      );
      expect(sampleValue(during, 'sidecar_tunnels_total')).toBe(
        (sampleValue(before, 'sidecar_tunnels_total') ?? 0) + 1,
      );
      expect(handshakes(during)).toBe(handshakes(before) + 1);
      // The handshake is over: the open tunnel is not a request in flight.
      expect(sampleValue(during, 'http_server_active_requests')).toBe(0);
      client.ws.close();
      await client.closed();
      await t.upstream.waitForTunnel(id, (a) => a.closed, 'the app side closed');
      await s.waitForLog(
        (e) => e.upgrade === 'websocket' && typeof e.path === 'string' && e.path.includes(id),
        'the tunnel logged',
      );
      const after = await metricsOf(s);
      expect(sampleValue(after, 'sidecar_tunnels_active')).toBe(sampleValue(before, 'sidecar_tunnels_active'));
      expect(sampleValue(after, 'sidecar_tunnels_total')).toBe((sampleValue(before, 'sidecar_tunnels_total') ?? 0) + 1);
      expect(sampleValue(after, 'http_server_active_requests')).toBe(0);
    });
  });

  describe('other Upgrade requests', () => {
    it('an h2c Upgrade is dropped as hop-by-hop and the request proxied as plain HTTP/1.1', async () => {
      const s = await t.main();
      const { echo } = await t.echo(s, `/_/echo?id=${t.id('h2c')}`, {
        headers: headers(
          ['Connection', 'Upgrade, HTTP2-Settings'],
          ['Upgrade', 'h2c'],
          ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA'],
        ),
      });
      expectNoUpgrade(echo);
    });

    it('a custom Upgrade token, and a POST asking for websocket, are proxied as plain HTTP', async () => {
      const s = await t.main();
      const custom = await t.echo(s, `/_/echo?id=${t.id('custom-up')}`, {
        headers: headers(['Connection', 'upgrade'], ['Upgrade', 'foo/2']),
      });
      expectNoUpgrade(custom.echo);
      const postId = t.id('post-up');
      const postHeaders = headers(['Connection', 'upgrade'], ['Upgrade', 'websocket']);
      if (knownDifferences.upgradeWithBodyRefusedByServer.has(t.runtime)) {
        expect(
          (await send(s.url, `/_/echo?id=${postId}`, { method: 'POST', body: 'x', headers: postHeaders })).status,
        ).toBe(400);
        expect(t.upstream.byId(postId)).toEqual([]);
        return;
      }
      const post = await t.echo(s, `/_/echo?id=${postId}`, { method: 'POST', body: 'x', headers: postHeaders });
      expectNoUpgrade(post.echo);
      expect(post.echo.bodyBytes).toBe(1);
    });

    it('an Upgrade: websocket that Connection does not name is proxied as plain HTTP', async () => {
      const s = await t.main();
      const { echo } = await t.echo(s, `/_/echo?id=${t.id('unnamed-up')}`, {
        headers: headers(['Connection', 'keep-alive'], ['Upgrade', 'websocket']),
      });
      expectNoUpgrade(echo);
    });
  });
}

function expectNoUpgrade(echo: Echo): void {
  expect(echo.headers.upgrade).toBeUndefined();
  expect(echo.headers['http2-settings']).toBeUndefined();
  if (echo.headers.connection !== undefined) expect(one(echo.headers.connection)).not.toMatch(/upgrade/i);
  expect((echo as Echo & { httpVersion?: string }).httpVersion).toBe('1.1');
}
