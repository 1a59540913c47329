/**
 * Holds docs/behaviour.md#proxying: hostile input gets a clear refusal and harms nothing (request
 * smuggling, oversized headers, missing Host, trickling clients); connections are reused both
 * ways, safely.
 */
import { describe, expect, it } from 'vitest';
import { RawConnection, rawExchange, rawExchangeUntilClose, rawRequest, send } from '../support/http-client.ts';
import type { HeaderList, RawResponse } from '../support/http-client.ts';
import type { Conformance, Echo } from './context.ts';
import { headers } from './context.ts';
import { knownDifferences } from './known-differences.ts';
import { startSidecar } from '../support/sidecar.ts';

/** A short CLIENT_IDLE_TIMEOUT_MS for the test (the default is 75 s). */
const IDLE_MS = 1_000;

export function hostileTests(t: Conformance): void {
  describe('hostile input', () => {
    /** 400 and the connection closed; the app never got a complete request with this id, nor the smuggled one. */
    async function expectRefusedAndClosed(id: string, data: Buffer, status = 400, answered = true) {
      const s = await t.main();
      const { response, closed } = await rawExchangeUntilClose(s.url, data);
      if (answered) {
        expect(response, 'an answer before the connection closed').toBeDefined();
        expect(response?.status, `answer: ${response?.statusLine}`).toBe(status);
      } else {
        expect(response, 'no answer, as documented in known-differences.ts').toBeUndefined();
      }
      expect(closed, 'the connection is closed after the refusal').toBe(true);
      await t.expectServes(s);
      await t.expectAppGotNoCompleteRequest(id);
      await t.expectAppGotNoCompleteRequest(`${id}-smuggled`);
    }

    const smuggled = (id: string) => `GET /_/echo?id=${id}-smuggled HTTP/1.1\r\nHost: example.test\r\n\r\n`;

    it('Content-Length with Transfer-Encoding is refused with 400, the connection closed, nothing reaches the app', async () => {
      const id = t.id('cl-te');
      const body = `0\r\n\r\n${smuggled(id)}`;
      await expectRefusedAndClosed(
        id,
        rawRequest(
          `POST /_/echo?id=${id} HTTP/1.1`,
          headers(['Host', 'example.test'], ['Content-Length', String(body.length)], ['Transfer-Encoding', 'chunked']),
          body,
        ),
      );
    });

    it('Transfer-Encoding with Content-Length (the other order) is refused the same way', async () => {
      const id = t.id('te-cl');
      const body = `0\r\n\r\n${smuggled(id)}`;
      await expectRefusedAndClosed(
        id,
        rawRequest(
          `POST /_/echo?id=${id} HTTP/1.1`,
          headers(['Host', 'example.test'], ['Transfer-Encoding', 'chunked'], ['Content-Length', String(body.length)]),
          body,
        ),
      );
    });

    it('two different Content-Length headers are refused with 400, the connection closed, nothing reaches the app', async () => {
      const id = t.id('cl-cl');
      const body = `hello${smuggled(id)}`;
      await expectRefusedAndClosed(
        id,
        rawRequest(
          `POST /_/echo?id=${id} HTTP/1.1`,
          headers(['Host', 'example.test'], ['Content-Length', '5'], ['Content-Length', String(body.length)]),
          body,
        ),
      );
    });

    it('a malformed chunk is refused with 400, the connection closed, and the app never gets a complete request', async () => {
      const id = t.id('bad-chunk');
      const body = `5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n${smuggled(id)}`;
      const answered = !knownDifferences.malformedChunkClosedWithoutAnswer.has(t.runtime);
      await expectRefusedAndClosed(
        id,
        rawRequest(
          `POST /_/echo?id=${id} HTTP/1.1`,
          headers(['Host', 'example.test'], ['Transfer-Encoding', 'chunked']),
          body,
        ),
        400,
        answered,
      );
    });

    it('a request line and headers over 16 KiB get 431, and the app never sees them', async () => {
      const s = await t.main();
      const id = t.id('big-headers');
      const response = await rawExchange(
        s.url,
        rawRequest(
          `GET /_/echo?id=${id} HTTP/1.1`,
          headers(['Host', 'example.test'], ['X-Big', 'a'.repeat(17 * 1024)], ['Connection', 'close']),
        ),
      );
      expect(response?.status, `answer: ${response?.statusLine}`).toBe(431);
      expect(t.upstream.byId(id)).toEqual([]);
      await t.expectServes(s);
    });

    it('headers of 12 KiB (under the 16 KiB limit) pass through intact', async () => {
      const s = await t.main();
      const id = t.id('large-headers');
      const big: HeaderList = [0, 1, 2].map((i) => [`X-Large-${i}`, String(i).repeat(4 * 1024)]);
      const response = await rawExchange(
        s.url,
        rawRequest(`GET /_/echo?id=${id} HTTP/1.1`, headers(['Host', 'example.test'], ['Connection', 'close'], ...big)),
      );
      expect(response?.status, `answer: ${response?.statusLine}`).toBe(200);
      const echo = JSON.parse(response?.body.toString() ?? '') as Echo;
      for (const [name, value] of big) expect(echo.headers[name.toLowerCase()]).toBe(value);
    });

    it('an HTTP/1.1 request without Host gets 400 and never reaches the app', async () => {
      const s = await t.main();
      const id = t.id('no-host');
      const response = await rawExchange(
        s.url,
        rawRequest(`GET /_/echo?id=${id} HTTP/1.1`, headers(['Connection', 'close'])),
      );
      expect(response?.status, `answer: ${response?.statusLine}`).toBe(400);
      expect(t.upstream.byId(id)).toEqual([]);
      await t.expectServes(s);
    });

    it('a client trickling its headers does not hold up other clients', async () => {
      const s = await t.main();
      const trickler = await RawConnection.open(s.url);
      try {
        trickler.write(`GET /_/echo?id=${t.id('trickle')} HTTP/1.1\r\nHost: example.test\r\nX-Slow: `);
        await t.expectServes(s);
        trickler.write('still');
        await t.expectServes(s);
      } finally {
        trickler.destroy();
      }
    });
  });

  describe('connection reuse', () => {
    const keepAliveTimeouts = (response: RawResponse | undefined) =>
      (response?.getAll('keep-alive') ?? []).map((value) => Number(/timeout=(\d+)/i.exec(value)?.[1] ?? 'NaN'));

    it('two requests on one client connection both succeed (the connection is kept)', async () => {
      const s = await t.main();
      const connection = await RawConnection.open(s.url);
      try {
        for (const n of [1, 2]) {
          const id = t.id(`keep-alive-${n}`);
          connection.write(rawRequest(`GET /_/echo?id=${id} HTTP/1.1`, headers(['Host', 'example.test'])));
          const response = await connection.readResponse();
          expect(response?.status, `request ${n} on the connection`).toBe(200);
          expect(response?.complete).toBe(true);
          expect(response?.get('connection') ?? '', `request ${n} on the connection`).not.toMatch(/close/i);
          expect(t.upstream.byId(id)).toHaveLength(1);
        }
        expect(connection.closed).toBe(false);
      } finally {
        connection.destroy();
      }
    });

    it('a Keep-Alive timeout it announces is at least 65 s', async () => {
      const s = await t.main();
      const response = await rawExchange(
        s.url,
        rawRequest(`GET /_/echo?id=${t.id('keep-alive-timeout')} HTTP/1.1`, headers(['Host', 'example.test'])),
      );
      expect(response?.status).toBe(200);
      // The app announces none (test/support/upstream.ts), so any here is the sidecar's own.
      for (const timeout of keepAliveTimeouts(response)) expect(timeout).toBeGreaterThanOrEqual(65);
    });

    it('an idle client connection is closed once CLIENT_IDLE_TIMEOUT_MS has passed', async () => {
      const s = await startSidecar(t.runtime, { TARGET: t.upstream.url, CLIENT_IDLE_TIMEOUT_MS: String(IDLE_MS) });
      try {
        const connection = await RawConnection.open(s.url);
        try {
          connection.write(rawRequest(`GET /_/echo?id=${t.id('idle')} HTTP/1.1`, headers(['Host', 'example.test'])));
          const response = await connection.readResponse();
          expect(response?.status).toBe(200);
          expect(connection.closed, 'kept open after the response').toBe(false);
          // Bounded: the bound (Bun rounds it up to a whole second), plus slack for a busy machine.
          const closed = await connection.waitClosed(IDLE_MS + 8_000);
          if (knownDifferences.idleClientConnectionsUnbounded.has(t.runtime)) {
            expect(closed, 'as it stands (known-differences.ts): still open').toBe(false);
          } else {
            expect(closed, `closed within a few seconds of ${IDLE_MS} ms idle`).toBe(true);
          }
        } finally {
          connection.destroy();
        }
      } finally {
        await s.stop();
      }
    });

    const cutsSilence = knownDifferences.silentResponseCutAtIdleTimeout.has(t.runtime);
    it(
      cutsSilence
        ? 'cuts a streamed response silent for CLIENT_IDLE_TIMEOUT_MS (known difference: the bound counts silence, not idleness)'
        : 'keeps a streamed response that is silent for longer than CLIENT_IDLE_TIMEOUT_MS: the bound is for idle connections only',
      async () => {
        const s = await startSidecar(t.runtime, { TARGET: t.upstream.url, CLIENT_IDLE_TIMEOUT_MS: String(IDLE_MS) });
        const id = t.id('quiet-stream');
        const streaming = await RawConnection.open(s.url);
        const idle = await RawConnection.open(s.url);
        try {
          streaming.write(rawRequest(`GET /_/slow?id=${id} HTTP/1.1`, headers(['Host', 'example.test'])));
          await t.upstream.waitFor(id, () => true, 'the slow request at the app');
          // The idle connection's close by the sidecar is the clock: the bound has passed.
          idle.write(rawRequest(`GET /_/echo?id=${t.id('idle-clock')} HTTP/1.1`, headers(['Host', 'example.test'])));
          expect((await idle.readResponse())?.status).toBe(200);
          if (knownDifferences.idleClientConnectionsUnbounded.has(t.runtime)) {
            // No bound at all (known difference above): nothing is cut in the same bounded wait.
            expect(await streaming.waitClosed(IDLE_MS + 3_000), 'the silent response, as it stands').toBe(false);
            return;
          }
          expect(await idle.waitClosed(IDLE_MS + 8_000), 'the idle connection closed by the bound').toBe(true);
          if (cutsSilence) {
            expect(await streaming.waitClosed(8_000), 'the silent response, cut as it stands').toBe(true);
            return;
          }
          expect(streaming.closed, 'the silent response still open after the idle bound').toBe(false);
          t.upstream.release(id);
          const response = await streaming.readResponse();
          expect(response?.status).toBe(200);
        } finally {
          t.upstream.release(id);
          streaming.destroy();
          idle.destroy();
          await s.stop();
        }
      },
    );

    it('upstream connections are reused between requests', async () => {
      const s = await t.main();
      await t.expectServes(s);
      const id = t.id('pooled');
      await send(s.url, `/_/echo?id=${id}`);
      const [got] = t.upstream.byId(id);
      expect(
        got?.requestsBeforeOnConnection,
        'requests the upstream connection carried before this one',
      ).toBeGreaterThan(0);
    });

    it('a GET sent on a pooled connection the app has just closed is retried once on a fresh one: no 502', async () => {
      const s = await t.main();
      // At least one idle pooled connection to the app...
      await t.expectServes(s);
      // ...which the app closes the moment the next request arrives on it.
      t.upstream.doomOpenConnections();
      const before = t.upstream.doomedHits();
      const id = t.id('retried');
      // Other sidecars share this app: their pooled connections must not stay doomed after this test.
      const res = await send(s.url, `/_/echo?id=${id}`).finally(() => t.upstream.spareConnections());
      expect(res.status, `status; body: ${res.body.toString().slice(0, 200)}`).toBe(200);
      expect(
        t.upstream.doomedHits() - before,
        'requests sent on a pooled connection (none: the sidecar does not pool)',
      ).toBeGreaterThan(0);
      expect(t.upstream.byId(id)).toHaveLength(1);
    });

    it('a POST with a streamed body, on a pooled connection the app closes as it arrives, gets an answer: 200 or 502 upstream_reset, never silence', async () => {
      const s = await t.main();
      for (let round = 0; round < 3; round++) {
        // An idle pooled connection to the app, which the app closes the moment the next request arrives on it.
        await t.expectServes(s);
        t.upstream.doomOpenConnections();
        const id = t.id(`post-doomed-${round}`);
        async function* body() {
          yield Buffer.from('streamed ');
          yield Buffer.from('body');
        }
        const res = await send(s.url, `/_/upload?id=${id}`, {
          method: 'POST',
          headers: headers(['X-Request-Id', id]),
          body: body(),
        }).finally(() => t.upstream.spareConnections());
        expect([200, 502], `status; body: ${res.body.toString().slice(0, 200)}`).toContain(res.status);
        const entry = await s.waitForLog((e) => e.request_id === id, 'the POST');
        if (res.status === 502) expect(entry.error).toBe('upstream_reset');
        else
          expect(
            t.upstream.byId(id).filter((r) => r.state === 'complete'),
            'complete requests the app received',
          ).toHaveLength(1);
      }
    });
  });
}
