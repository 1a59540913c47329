/**
 * SPEC, "Upgrade and WebSocket" and the Proxying bullet on other Upgrade tokens: a `ws` client
 * through the real sidecar to a `ws` app (../support/ws-app.ts), and raw frames where bytes
 * matter. Where a runtime relays messages instead of bytes, the test asserts what it does
 * (known-differences.ts) and still the promise that no message is altered, merged, split or lost.
 */
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { headerValues, send } from '../support/http-client.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus.ts';
import type { Sidecar } from '../support/sidecar.ts';
import { refusalBody, wsSetCookies } from '../support/ws-app.ts';
import { RawWsClient, WsClient, clientFrame, connectWs, parseFrames } from '../support/ws-client.ts';
import type { Conformance, Echo } from './context.ts';
import { UPSTREAM_TIMEOUT_MS, headers, one, traceparentFormat } from './context.ts';
import { knownDifferences } from './known-differences.ts';

/** The spec allows a second; this bound only turns "never" into a failure. */
const END_WAIT_MS = 5_000;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const wsUrl = (s: Sidecar, path: string) => `${s.url.replace(/^http/, 'ws')}${path}`;

async function metricsOf(s: Sidecar) {
  return parsePrometheusText(await (await fetch(`${s.adminUrl}/metrics`)).text());
}

export function webSocketTests(t: Conformance): void {
  const relayed = () => knownDifferences.webSocketRelayed.has(t.runtime);

  /** A tunnel to the echo route, and the app's side of it. */
  async function echoTunnel(s: Sidecar, options: ConstructorParameters<typeof WsClient>[1] = {}, query = '') {
    const id = t.id('ws');
    const client = await connectWs(wsUrl(s, `/ws/echo?id=${id}${query}`), options);
    const app = await t.upstream.waitForTunnel(id, (a) => a.ws !== undefined, 'the app side to open');
    return { id, client, app };
  }

  describe('WebSocket handshake', () => {
    it("reaches the app under the request's header rules, with Connection: Upgrade, Upgrade: websocket and Sec-WebSocket-* end to end", async () => {
      const s = await t.main();
      const rid = t.id('ws-rid');
      const incoming = `00-${'4bf92f3577b34da6a3ce929d0e0e4736'}-00f067aa0ba902b7-01`;
      const { client, app } = await echoTunnel(s, {
        protocols: ['chat.v1', 'chat.v2'],
        perMessageDeflate: true,
        headers: { Host: 'chat.example:8443', 'X-Request-Id': rid, traceparent: incoming, 'X-Forwarded-For': '203.0.113.9', 'User-Agent': 'ws-conformance' },
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
      const appAccept = createHash('sha1').update(`${String(h['sec-websocket-key'])}${GUID}`).digest('base64');
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
        const client = new WsClient(wsUrl(s, `/ws/refuse?id=${rid}&status=${status}`), { headers: { 'X-Request-Id': rid } });
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

    it('answers 504 when the app does not answer the handshake within UPSTREAM_TIMEOUT_MS, and lets the app go', async () => {
      const s = await t.impatient();
      const id = t.id('ws-504');
      const refusal = await new WsClient(wsUrl(s, `/ws/hang?id=${id}`), { headers: { 'X-Request-Id': id } }).refused();
      expect(refusal.status).toBe(504);
      expect((await s.waitForLog((e) => e.request_id === id, 'the 504 logged')).error).toBe('upstream_timeout');
      await t.upstream.waitForTunnel(id, (a) => a.closed, 'the sidecar to close the handshake it gave up on', END_WAIT_MS);
    });
  });

  describe('WebSocket messages', () => {
    it('text and binary messages at every length boundary pass whole, in order, text as text', async () => {
      const s = await t.main();
      const { client, app } = await echoTunnel(s);
      const sizes = [0, 1, 125, 126, 65535, 65536, 16 * 1024 * 1024];
      const sent: { data: Buffer; binary: boolean }[] = [{ data: Buffer.from('héllo ✓ wörld'), binary: false }];
      for (const n of sizes) sent.push({ data: Buffer.alloc(n, n % 251), binary: true });
      sent.push({ data: Buffer.from('x'.repeat(70_000)), binary: false });
      for (const m of sent) client.ws.send(m.binary ? m.data : m.data.toString(), { binary: m.binary });
      const last = await client.message(sent.length - 1);
      expect(last.data.length).toBe(70_000);
      expect(client.messages.map((m) => [m.binary, m.data.length, createHash('sha1').update(m.data).digest('hex')])).toEqual(
        sent.map((m) => [m.binary, m.data.length, createHash('sha1').update(m.data).digest('hex')]),
      );
      expect(app.messages.map((m) => [m.binary, m.data.length])).toEqual(sent.map((m) => [m.binary, m.data.length]));
      client.ws.close();
    });

    it('a fragmented message reaches the app as one message, and comes back whole', async () => {
      const s = await t.main();
      const { client, app } = await echoTunnel(s);
      client.ws.send('frag-', { fin: false });
      client.ws.send('ment-', { fin: false });
      client.ws.send('ed', { fin: true });
      expect((await client.message(0)).data.toString()).toBe('frag-ment-ed');
      expect(app.messages.map((m) => m.data.toString())).toEqual(['frag-ment-ed']);
      client.ws.close();
    });

    it('pings and pongs pass both ways with their payload', async () => {
      const s = await t.main();
      const { id, client, app } = await echoTunnel(s);
      client.ws.ping(Buffer.from('client-ping'));
      await client.waitFor(() => client.pongs.find((p) => p.toString() === 'client-ping'), 'the pong to the client');
      app.ws?.ping(Buffer.from('app-ping'));
      // A message after the ping: once it is back, the ping has been delivered if it ever will.
      client.ws.send('after-ping');
      await client.message(0);
      if (knownDifferences.webSocketPingsAnsweredBySidecar.has(t.runtime)) {
        expect(app.pings).toEqual([]);
        expect(client.pings).toEqual([]);
        // The sidecar answered the app's ping itself, so the app still hears back.
        await t.upstream.waitForTunnel(id, (a) => a.pongs.some((p) => p.toString() === 'app-ping'), 'the pong to the app');
      } else {
        expect(app.pings.map(String)).toEqual(['client-ping']);
        await client.waitFor(() => client.pings.find((p) => p.toString() === 'app-ping'), 'the app ping at the client');
        await t.upstream.waitForTunnel(id, (a) => a.pongs.some((p) => p.toString() === 'app-ping'), "the client's pong at the app");
      }
      client.ws.close();
    });

    it("the client's close code and reason reach the app", async () => {
      const s = await t.main();
      const { id, client } = await echoTunnel(s);
      client.ws.close(4001, 'client says bye');
      const app = await t.upstream.waitForTunnel(id, (a) => a.close !== undefined, 'the close at the app');
      expect(app.close).toEqual({ code: 4001, reason: 'client says bye' });
      expect((await client.closed(END_WAIT_MS)).code).toBe(4001);
    });

    it("the app's close code and reason reach the client", async () => {
      const s = await t.main();
      const { client, app } = await echoTunnel(s);
      app.ws?.close(4002, 'app says bye');
      expect(await client.closed(END_WAIT_MS)).toEqual({ code: 4002, reason: 'app says bye' });
    });

    it('a reset by the client ends the app side', async () => {
      const s = await t.main();
      const { id, client } = await echoTunnel(s);
      client.ws.terminate();
      await t.upstream.waitForTunnel(id, (a) => a.closed, 'the app side to end', END_WAIT_MS);
    });

    it('a reset by the app ends the client side', async () => {
      const s = await t.main();
      const { client, app } = await echoTunnel(s);
      app.ws?.terminate();
      const close = await client.closed(END_WAIT_MS);
      expect(close.code).toBe(knownDifferences.webSocketResetBecomesClose.has(t.runtime) ? 1005 : 1006);
    });

    it('an idle tunnel outlives UPSTREAM_TIMEOUT_MS', async () => {
      const s = await t.impatient();
      const { client } = await echoTunnel(s);
      // The one wait on the clock in this suite: what is tested is that time passing cuts nothing.
      await new Promise((resolve) => setTimeout(resolve, UPSTREAM_TIMEOUT_MS * 4));
      client.ws.send('still here');
      expect((await client.message(0)).data.toString()).toBe('still here');
      expect(client.close).toBeUndefined();
      client.ws.close();
    });

    it('20 tunnels at once each carry their own messages', async () => {
      const s = await t.main();
      const tunnels = await Promise.all(Array.from({ length: 20 }, () => echoTunnel(s)));
      tunnels.forEach(({ client }, i) => client.ws.send(`tunnel ${i}`));
      const echoes = await Promise.all(tunnels.map(({ client }) => client.message(0)));
      expect(echoes.map((m) => m.data.toString())).toEqual(tunnels.map((_, i) => `tunnel ${i}`));
      for (const { client } of tunnels) client.ws.close();
      await Promise.all(tunnels.map(({ client }) => client.closed()));
    });
  });

  describe('WebSocket backpressure', () => {
    const MiB = 1024 * 1024;
    const total = 96 * MiB;
    // Loopback socket buffers on the four sockets between app and client hold ~20 MiB at most.
    const bound = 48 * MiB;

    /** Polls (bounded) until `sent()` stops growing while `waiting()`, or reaches total: there is no event for "nothing happens". */
    async function stalled(sent: () => number, waiting: () => boolean): Promise<void> {
      let last = -1;
      let steadyPolls = 0;
      for (let polls = 0; polls < 600 && sent() < total && steadyPolls < 20; polls++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        steadyPolls = waiting() && sent() === last ? steadyPolls + 1 : 0;
        last = sent();
      }
    }

    it('a client that stops reading holds the app back, and then gets every byte', { timeout: 120_000 }, async () => {
      const s = await t.main();
      const id = t.id('ws-firehose');
      const client = await connectWs(wsUrl(s, `/ws/firehose?id=${id}&total=${total}`), { countOnly: true });
      client.ws.pause();
      const app = await t.upstream.waitForTunnel(id, (a) => a.ws !== undefined, 'the app side');
      await stalled(() => app.bytesWritten, () => app.waitingForDrain);
      expect(app.bytesWritten, `bytes the app could send while the client read almost none (of ${total})`).toBeLessThan(bound);
      expect(app.waitingForDrain, 'the app is held back by backpressure').toBe(true);
      client.ws.resume();
      await client.waitFor(() => (client.bytesReceived >= total ? true : undefined), 'every byte at the client', 60_000);
      expect(client.bytesReceived).toBe(total);
      client.ws.close();
    });

    it('an app that stops reading holds the client back, and then gets every byte', { timeout: 120_000 }, async () => {
      const s = await t.main();
      const id = t.id('ws-sink');
      const client = await connectWs(wsUrl(s, `/ws/sink?id=${id}`));
      const app = await t.upstream.waitForTunnel(id, (a) => a.ws !== undefined, 'the app side');
      const flood = client.sendFlood(total);
      await stalled(() => client.bytesSent, () => client.waitingForDrain);
      if (knownDifferences.webSocketNoReceiveBackpressure.has(t.runtime)) {
        // The relay cannot stop reading the client: it took everything while the app read nothing.
        expect(client.bytesSent).toBe(total);
        expect(app.bytesReceived).toBe(0);
      } else {
        expect(client.bytesSent, `bytes the client could send while the app read none (of ${total})`).toBeLessThan(bound);
        expect(client.waitingForDrain, 'the client is held back by backpressure').toBe(true);
      }
      app.ws?.resume();
      await flood;
      await t.upstream.waitForTunnel(id, (a) => a.bytesReceived >= total, 'every byte at the app', 60_000);
      client.ws.close();
    });
  });

  describe('WebSocket records', () => {
    it('one access-log line per tunnel, when it closes: status 101, the whole duration, bytes both ways, upgrade websocket', async () => {
      const s = await t.main();
      const rid = t.id('ws-log');
      const { client } = await echoTunnel(s, { headers: { 'X-Request-Id': rid } });
      const opened = performance.now();
      client.ws.send('0123456789');
      await client.message(0);
      expect(s.logs().filter((e) => e.request_id === rid), 'no line while the tunnel is open').toEqual([]);
      // The record spans the whole tunnel: at least from the client's open to its close.
      const openFor = performance.now() - opened;
      client.ws.close(1000);
      await client.closed();
      const entry = await s.waitForLog((e) => e.request_id === rid, 'the tunnel logged');
      expect(entry).toMatchObject({ status: 101, upgrade: 'websocket', method: 'GET', request_id: rid });
      expect(entry.path).toMatch(/^\/ws\/echo\?id=/);
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
      const handshakes = (m: typeof before) => sampleValue(m, 'http_server_request_duration_seconds_count', { http_request_method: 'GET', http_response_status_code: '101' }) ?? 0;
      const { id, client } = await echoTunnel(s);
      const during = await metricsOf(s);
      expect(sampleValue(during, 'sidecar_tunnels_active')).toBe((sampleValue(before, 'sidecar_tunnels_active') ?? 0) + 1);
      expect(sampleValue(during, 'sidecar_tunnels_total')).toBe((sampleValue(before, 'sidecar_tunnels_total') ?? 0) + 1);
      expect(handshakes(during)).toBe(handshakes(before) + 1);
      // The handshake is over: the open tunnel is not a request in flight.
      expect(sampleValue(during, 'http_server_active_requests')).toBe(0);
      client.ws.close();
      await client.closed();
      await t.upstream.waitForTunnel(id, (a) => a.closed, 'the app side closed');
      await s.waitForLog((e) => e.upgrade === 'websocket' && typeof e.path === 'string' && e.path.includes(id), 'the tunnel logged');
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
        headers: headers(['Connection', 'Upgrade, HTTP2-Settings'], ['Upgrade', 'h2c'], ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA']),
      });
      expectNoUpgrade(echo);
    });

    it('a custom Upgrade token, and a POST asking for websocket, are proxied as plain HTTP', async () => {
      const s = await t.main();
      const custom = await t.echo(s, `/_/echo?id=${t.id('custom-up')}`, { headers: headers(['Connection', 'upgrade'], ['Upgrade', 'foo/2']) });
      expectNoUpgrade(custom.echo);
      const postId = t.id('post-up');
      const postHeaders = headers(['Connection', 'upgrade'], ['Upgrade', 'websocket']);
      if (knownDifferences.upgradeWithBodyRefusedByServer.has(t.runtime)) {
        expect((await send(s.url, `/_/echo?id=${postId}`, { method: 'POST', body: 'x', headers: postHeaders })).status).toBe(400);
        expect(t.upstream.byId(postId)).toEqual([]);
        return;
      }
      const post = await t.echo(s, `/_/echo?id=${postId}`, { method: 'POST', body: 'x', headers: postHeaders });
      expectNoUpgrade(post.echo);
      expect(post.echo.bodyBytes).toBe(1);
    });

    it('an Upgrade: websocket that Connection does not name is proxied as plain HTTP', async () => {
      const s = await t.main();
      const { echo } = await t.echo(s, `/_/echo?id=${t.id('unnamed-up')}`, { headers: headers(['Connection', 'keep-alive'], ['Upgrade', 'websocket']) });
      expectNoUpgrade(echo);
    });
  });

  describe('WebSocket frames', () => {
    it('frames pass byte for byte on a raw tunnel (masked, fragmented, 64-bit length, RSV1 with permessage-deflate as negotiated); a relay re-frames whole messages', async () => {
      const s = await t.main();
      const id = t.id('ws-raw');
      const offer = 'permessage-deflate; client_max_window_bits=10; server_no_context_takeover';
      const { client, head } = await RawWsClient.open(s.host, s.port, `/ws/raw?id=${id}`, [`Sec-WebSocket-Extensions: ${offer}`]);
      expect(head).toMatch(/^HTTP\/1\.1 101 /);
      const app = await t.upstream.waitForTunnel(id, (a) => a.raw !== undefined, 'the raw app side');
      const compressed = zlib.deflateRawSync(Buffer.from('squeezed'), { flush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
      const frames = [
        clientFrame(Buffer.from('Hel'), { opcode: 1, fin: false }),
        clientFrame(Buffer.from('lo'), { opcode: 0, fin: true }),
        clientFrame(Buffer.alloc(70_000, 7), { opcode: 2 }),
      ];
      if (!relayed()) frames.push(clientFrame(compressed, { opcode: 1, rsv1: true }));
      const bytes = Buffer.concat(frames);
      client.socket.write(bytes);
      if (relayed()) {
        expect(app.headers['sec-websocket-extensions']).toBeUndefined();
        const got = await t.upstream.waitForTunnel(id, (a) => parseFrames(a.rawBytes).length >= 2, 'two messages at the app');
        // One message per message, whole: the two fragments arrive as one frame.
        expect(parseFrames(got.rawBytes).map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([
          [1, true, 5],
          [2, true, 70_000],
        ]);
        expect(parseFrames(got.rawBytes)[0]?.payload.toString()).toBe('Hello');
      } else {
        // The extension offer and the app's answer pass unchanged.
        expect(app.headers['sec-websocket-extensions']).toBe(offer);
        expect(head).toContain(`Sec-WebSocket-Extensions: ${offer}\r\n`);
        const got = await t.upstream.waitForTunnel(id, (a) => a.rawBytes.length >= bytes.length, 'every byte at the app');
        expect(got.rawBytes.equals(bytes)).toBe(true);
        // And the other way: the app's unmasked frames reach the client as written.
        const reply = Buffer.concat([Buffer.from([0x81, 0x02]), Buffer.from('ok'), Buffer.from([0xc1, compressed.length]), compressed]);
        app.raw?.write(reply);
        await client.waitFor(() => (client.received.length >= reply.length ? true : undefined), 'the reply');
        expect(client.received.equals(reply)).toBe(true);
      }
      client.socket.destroy();
    });

    it('a frame the client sends right behind its handshake, before the 101, reaches the app', async () => {
      const s = await t.main();
      const id = t.id('ws-early');
      const frame = clientFrame(Buffer.from('eager'), { opcode: 1 });
      const { client, head } = await RawWsClient.open(s.host, s.port, `/ws/raw?id=${id}`, [], frame);
      if (knownDifferences.webSocketEarlyFrameRefused.has(t.runtime)) {
        expect(head).toMatch(/^HTTP\/1\.1 400 /);
        expect(t.upstream.ws.byId(id)).toBeUndefined();
        client.socket.destroy();
        return;
      }
      const app = await t.upstream.waitForTunnel(id, (a) => parseFrames(a.rawBytes).length >= 1, 'the early frame at the app');
      if (relayed()) expect(parseFrames(app.rawBytes)[0]?.payload.toString()).toBe('eager');
      else expect(app.rawBytes.equals(frame)).toBe(true);
      client.socket.destroy();
    });

    it('a FIN is passed on per direction: after the client half-closes, the app can still answer', async () => {
      const s = await t.main();
      const id = t.id('ws-half');
      const { client } = await RawWsClient.open(s.host, s.port, `/ws/raw?id=${id}`, []);
      const app = await t.upstream.waitForTunnel(id, (a) => a.raw !== undefined, 'the raw app side');
      const frame = clientFrame(Buffer.from('last words'), { opcode: 1 });
      client.socket.end(frame);
      if (relayed()) {
        // A relay has no half-close: the message goes on, then the client's FIN ends its leg and
        // the app's leg after it (the app sees its FIN).
        const app = await t.upstream.waitForTunnel(id, (a) => a.rawEnded, "the client's end passed to the app", END_WAIT_MS);
        expect(parseFrames(app.rawBytes)[0]?.payload.toString()).toBe('last words');
        return;
      }
      await t.upstream.waitForTunnel(id, (a) => a.rawEnded && a.rawBytes.length >= frame.length, 'the FIN at the app, after the frame');
      const late = Buffer.from([0x81, 0x04, ...Buffer.from('late')]);
      app.raw?.write(late);
      await client.waitFor(() => (client.received.length >= late.length ? true : undefined), 'the late answer after the FIN');
      expect(client.received.equals(late)).toBe(true);
      app.raw?.end();
      await client.waitFor(() => (client.closed ? true : undefined), 'the client socket to close after both FINs', END_WAIT_MS);
    });
  });
}

function expectNoUpgrade(echo: Echo): void {
  expect(echo.headers.upgrade).toBeUndefined();
  expect(echo.headers['http2-settings']).toBeUndefined();
  if (echo.headers.connection !== undefined) expect(one(echo.headers.connection)).not.toMatch(/upgrade/i);
  expect((echo as Echo & { httpVersion?: string }).httpVersion).toBe('1.1');
}
