/**
 * Holds docs/behaviour.md#protecting-the-app: WebSocket tunnels do not count against
 * MAX_CONCURRENT_REQUESTS, but a handshake in flight does (it is a request to the app until the
 * app answers it). On each runtime, with the cap at 1 and no queue, in front of the conformance
 * app's WebSocket side.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBody, send, start } from '../support/http-client.ts';
import { startSidecar } from '../support/sidecar.ts';
import type { Runtime, Sidecar } from '../support/sidecar.ts';
import { startUpstream } from '../support/upstream.ts';
import type { Upstream } from '../support/upstream.ts';
import { WsClient, connectWs } from '../support/ws-client.ts';

export function addTunnelProtectionTests(runtime: Runtime): void {
  describe(`WebSocket tunnels under MAX_CONCURRENT_REQUESTS=1 on ${runtime}`, () => {
    let upstream: Upstream;
    let sidecar: Sidecar;
    const wsUrl = (path: string) => `${sidecar.url.replace(/^http/, 'ws')}${path}`;

    beforeAll(async () => {
      upstream = await startUpstream();
      sidecar = await startSidecar(runtime, {
        TARGET: upstream.url,
        MAX_CONCURRENT_REQUESTS: '1',
        MAX_QUEUED_REQUESTS: '0',
      });
    });
    afterAll(async () => {
      await sidecar?.stop();
      await upstream?.close();
    });

    it('an open tunnel holds no slot: with the cap at 1, a request still reaches the app while it is open', async () => {
      const id = `cap-tunnel-${runtime}`;
      const client = await connectWs(wsUrl(`/ws/echo?id=${id}`));
      await upstream.waitForTunnel(id, (a) => a.ws !== undefined, 'the app side to open');
      const res = await send(sidecar.url, `/_/echo?id=cap-beside-${runtime}`);
      expect(res.status).toBe(200);
      expect(upstream.byId(`cap-beside-${runtime}`)).toHaveLength(1);
      client.ws.send('still open');
      expect((await client.waitFor(() => client.messages[0], 'the echo')).data.toString()).toBe('still open');
      client.ws.close(1000);
      await client.waitFor(() => client.close, 'the close');
    });

    it('a handshake counts while in flight: with the one slot taken, it gets 503 with Retry-After, logged overloaded, and never reaches the app', async () => {
      const slow = `cap-hold-${runtime}`;
      const held = start(sidecar.url, `/_/slow?id=${slow}`);
      const response = await held.response;
      await upstream.waitFor(slow, () => true, 'the slow request to reach the app');
      const id = `cap-refused-${runtime}`;
      const client = new WsClient(wsUrl(`/ws/echo?id=${id}`), { headers: { 'X-Request-Id': id } });
      const refusal = await client.refused();
      expect(refusal.status).toBe(503);
      const names = refusal.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      expect(refusal.rawHeaders[names.indexOf('retry-after') * 2 + 1]).toBe('1');
      const entry = await sidecar.waitForLog((e) => e.request_id === id, 'the refused handshake logged');
      expect(entry).toMatchObject({ status: 503, error: 'overloaded', method: 'GET' });
      expect(entry).not.toHaveProperty('upgrade');
      upstream.release(slow);
      await readBody(response);
      // The slot is back: the next handshake opens.
      const after = `cap-after-${runtime}`;
      const next = await connectWs(wsUrl(`/ws/echo?id=${after}`));
      await upstream.waitForTunnel(after, (a) => a.ws !== undefined, 'the app side to open');
      next.ws.close(1000);
      await next.waitFor(() => next.close, 'the close');
    });
  });
}
