/**
 * Holds docs/behaviour.md#proxying: errors answered by the sidecar (502/504 with X-Request-Id and
 * a short text/plain body), cut-off responses, client disconnects. (WebSocket handshakes:
 * websocket.ts.)
 */
import { describe, expect, it } from 'vitest';
import { collect, headerValues, open, send, start } from '../support/http-client.ts';
import type { HttpResponse } from '../support/http-client.ts';
import type { Sidecar } from '../support/sidecar.ts';
import type { Conformance } from './context.ts';
import { headers } from './context.ts';

/** The spec allows a second; this bound only turns "never" into a failure. */
const ABORT_WAIT_MS = 5_000;

export function failureTests(t: Conformance): void {
  /** The sidecar's own error answer: the status, X-Request-Id, a short text/plain body; and its log line. */
  async function expectSidecarError(s: Sidecar, path: string, status: number, error: string): Promise<HttpResponse> {
    const rid = t.id(error);
    const res = await send(s.url, path, { headers: headers(['X-Request-Id', rid]) });
    expect(res.status, `status; body: ${res.body.toString().slice(0, 300)}`).toBe(status);
    expect(res.headers['content-type']).toMatch(/^text\/plain\b/);
    expect(headerValues(res.rawHeaders, 'x-request-id')).toEqual([rid]);
    expect(res.body.length, 'a short body').toBeGreaterThan(0);
    expect(res.body.length).toBeLessThan(1024);
    expect(res.complete).toBe(true);
    const entry = await s.waitForLog((e) => e.request_id === rid, `the log line of the ${status}`);
    expect(entry.status).toBe(status);
    expect(entry.error).toBe(error);
    return res;
  }

  describe('upstream failures', () => {
    it('an upstream that refuses the connection gets 502, logged as upstream_refused, and the sidecar keeps serving', async () => {
      const s = await t.refused();
      await expectSidecarError(s, '/anything?q=1', 502, 'upstream_refused');
      await expectSidecarError(s, '/again', 502, 'upstream_refused');
      const health = await send(s.adminUrl, '/healthz');
      expect(health.status).toBe(200);
    });

    it('an upstream that resets the connection before headers gets 502, logged as upstream_reset', async () => {
      const s = await t.main();
      await expectSidecarError(s, `/_/reset?id=${t.id('reset')}`, 502, 'upstream_reset');
      await t.expectServes(s);
    });

    it('no response headers within UPSTREAM_TIMEOUT_MS gets 504, logged as upstream_timeout', async () => {
      const s = await t.impatient();
      await expectSidecarError(s, `/_/hang?id=${t.id('hang')}`, 504, 'upstream_timeout');
      await t.expectServes(s);
    });

    it('after a 504 the upstream request is cancelled, not left open', async () => {
      const s = await t.impatient();
      const id = t.id('hang-cancel');
      const res = await send(s.url, `/_/hang?id=${id}`);
      expect(res.status).toBe(504);
      await t.upstream.waitFor(
        id,
        (r) => r.response === 'closed',
        'the sidecar to close the upstream request it gave up on',
        ABORT_WAIT_MS,
      );
    });

    it('a chunked response that breaks after its headers reaches the client incomplete, never as a clean end', async () => {
      const s = await t.main();
      const id = t.id('broken-chunked');
      const { res } = await open(s.url, `/_/broken-chunked?id=${id}`);
      expect(res.statusCode).toBe(200);
      const body = collect(res);
      await body.received('partial body, '.length, 'the body bytes sent before the break');
      t.upstream.release(id);
      const result = await body.end();
      expect(result.body.toString()).toBe('partial body, ');
      expect(result.complete, 'the client saw a complete message').toBe(false);
      await t.expectServes(s);
    });

    it('a Content-Length response that breaks short reaches the client incomplete, never as a clean end', async () => {
      const s = await t.main();
      const id = t.id('broken-length');
      const { res } = await open(s.url, `/_/broken-length?id=${id}`);
      expect(res.statusCode).toBe(200);
      const body = collect(res);
      await body.received(100, 'the 100 bytes sent before the break');
      t.upstream.release(id);
      const result = await body.end();
      expect(result.body.length).toBe(100);
      expect(result.complete, 'the client saw a complete message').toBe(false);
      await t.expectServes(s);
    });
  });

  describe('client disconnects', () => {
    it('a client that leaves while waiting for headers aborts the upstream request, logged as 499 client_aborted', async () => {
      const s = await t.main();
      const id = t.id('abort-early');
      const { req, response } = start(s.url, `/_/abort-watch?id=${id}&mode=none`, {
        headers: headers(['X-Request-Id', id]),
      });
      response.catch(() => undefined);
      await t.upstream.waitFor(id, () => true, 'the request at the app');
      req.destroy();
      await t.upstream.waitFor(id, (r) => r.response === 'closed', 'the upstream request to be aborted', ABORT_WAIT_MS);
      const entry = await s.waitForLog((e) => e.request_id === id, 'the aborted request');
      expect(entry.status).toBe(499);
      expect(entry.error).toBe('client_aborted');
      await t.expectServes(s);
    });

    it('a client that leaves in the middle of the body aborts the upstream request, logged as client_aborted', async () => {
      const s = await t.main();
      const id = t.id('abort-mid');
      const { req, res } = await open(s.url, `/_/abort-watch?id=${id}&mode=headers`, {
        headers: headers(['X-Request-Id', id]),
      });
      await collect(res).received('started\n'.length, 'the first body bytes');
      req.destroy();
      await t.upstream.waitFor(id, (r) => r.response === 'closed', 'the upstream request to be aborted', ABORT_WAIT_MS);
      const entry = await s.waitForLog((e) => e.request_id === id, 'the aborted request');
      expect(entry.error).toBe('client_aborted');
      expect([200, 499]).toContain(entry.status);
    });

    it('a client that leaves during a slow upload aborts the upstream request', async () => {
      const s = await t.main();
      const id = t.id('abort-upload');
      let release!: () => void;
      const never = new Promise<void>((resolve) => (release = resolve));
      async function* body() {
        yield Buffer.alloc(1024, 'u');
        await never;
      }
      const { req, response } = start(s.url, `/_/upload?id=${id}`, {
        method: 'POST',
        headers: headers(['Content-Length', '1000000']),
        body: body(),
      });
      response.catch(() => undefined);
      try {
        await t.upstream.waitFor(id, (r) => r.bodyBytes > 0, 'the first upload bytes at the app');
        req.destroy();
        await t.upstream.waitFor(id, (r) => r.state === 'aborted', 'the upstream request to be aborted', ABORT_WAIT_MS);
      } finally {
        release();
      }
    });
  });
}
