/**
 * Holds docs/behaviour.md#proxying, where a request goes: every method, path and query goes to
 * TARGET (prefix joined), and nothing in the request can make the sidecar contact another host.
 */
import { describe, expect, it } from 'vitest';
import { rawExchange, rawRequest, send } from '../support/http-client.ts';
import type { RawResponse } from '../support/http-client.ts';
import type { Conformance, Echo } from './context.ts';
import { headers } from './context.ts';
import { knownDifferences } from './known-differences.ts';

export function routingTests(t: Conformance): void {
  describe('routing to TARGET', () => {
    it('forwards every method, path and query string to TARGET unchanged', async () => {
      const s = await t.main();
      for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND']) {
        const id = t.id(method.toLowerCase());
        const path = `/_/echo/a/b%20c/d.json?id=${id}&q=a%20b&list=1&list=2&empty=&plus=a+b&slash=%2F`;
        const body = ['POST', 'PUT', 'PATCH'].includes(method) ? `payload of ${method}` : undefined;
        const res = await send(s.url, path, { method, body });
        expect(res.status, `${method} status`).toBe(200);
        const [got, ...more] = t.upstream.byId(id);
        expect(more, `${method} reached the app once`).toHaveLength(0);
        expect(got?.method).toBe(method);
        expect(got?.url).toBe(path);
        expect(got?.bodyBytes).toBe(body === undefined ? 0 : Buffer.byteLength(body));
        if (method === 'HEAD') expect(res.body.length).toBe(0);
      }
    });

    it('passes the request-target byte for byte, without re-encoding legal characters', async () => {
      const s = await t.main();
      const id = t.id('bytes');
      // RFC 3986 pchar and sub-delims a URL parser would re-encode (' in a query) or normalise (%7e, lower-case hex).
      const path = `/_/echo/it's(1)!*~:@,;=+$/%7euser/%c3%a9?id=${id}&q='quoted'&r=(x)!*&s=%2f%7E`;
      const response = await rawExchange(
        s.url,
        rawRequest(`GET ${path} HTTP/1.1`, headers(['Host', 'example.test'], ['Connection', 'close'])),
      );
      expect(response?.status).toBe(200);
      const [pathPart, query = ''] = path.split('?');
      const expected = knownDifferences.queryApostropheEncoded.has(t.runtime)
        ? `${pathPart}?${query.replaceAll("'", '%27')}`
        : path;
      expect(t.upstream.byId(id)[0]?.url).toBe(expected);
    });

    it("joins TARGET's path prefix in front of the request path (/x -> /base/x)", async () => {
      const s = await t.prefixed();
      const id = t.id('prefix');
      const { echo } = await t.echo(s, `/x/y?id=${id}&q=1`);
      expect(echo.url).toBe(`/base/x/y?id=${id}&q=1`);
      const root = await t.echo(s, `/?id=${t.id('root')}`);
      expect(root.echo.url).toMatch(/^\/base\/\?id=/);
    });
  });

  describe('the upstream host never comes from the request', () => {
    /** Refused (4xx), or answered by TARGET's app; and the canary, the host the request named, saw nothing. */
    const expectOnlyTarget = (response: RawResponse | undefined, id: string) => {
      expect(t.canary.requests, 'requests that reached the named host').toEqual([]);
      expect(t.canary.connections(), 'connections to the named host').toBe(0);
      if (response === undefined || response.status >= 400) {
        if (response) expect(response.status).toBeLessThan(500);
        return;
      }
      expect(response.status).toBe(200);
      expect((JSON.parse(response.body.toString()) as Echo).server).toBe('upstream');
      expect(t.upstream.byId(id)).toHaveLength(1);
    };

    it('an absolute-form request-target (GET http://other/ HTTP/1.1) never reaches that host', async () => {
      const s = await t.main();
      const id = t.id('absolute');
      const authority = `127.0.0.1:${t.canary.port}`;
      const response = await rawExchange(
        s.url,
        rawRequest(
          `GET http://${authority}/_/echo?id=${id} HTTP/1.1`,
          headers(['Host', authority], ['Connection', 'close']),
        ),
      );
      expectOnlyTarget(response, id);
      await t.expectServes(s);
    });

    it('a path starting with // never makes the sidecar contact the host it names', async () => {
      const s = await t.main();
      const id = t.id('double-slash');
      const response = await rawExchange(
        s.url,
        rawRequest(
          `GET //127.0.0.1:${t.canary.port}/_/echo?id=${id} HTTP/1.1`,
          headers(['Host', 'example.test'], ['Connection', 'close']),
        ),
      );
      expectOnlyTarget(response, id);
    });

    it('a path starting with /\\ never makes the sidecar contact the host it names', async () => {
      const s = await t.main();
      const id = t.id('backslash');
      const response = await rawExchange(
        s.url,
        rawRequest(
          `GET /\\127.0.0.1:${t.canary.port}/_/echo?id=${id} HTTP/1.1`,
          headers(['Host', 'example.test'], ['Connection', 'close']),
        ),
      );
      expectOnlyTarget(response, id);
    });

    it('a CONNECT request never opens a tunnel to the host it names', async () => {
      const s = await t.main();
      const authority = `127.0.0.1:${t.canary.port}`;
      const response = await rawExchange(
        s.url,
        rawRequest(`CONNECT ${authority} HTTP/1.1`, headers(['Host', authority])),
      );
      expect(t.canary.connections(), 'connections to the named host').toBe(0);
      if (response) expect(response.status, 'a CONNECT answered 2xx opened a tunnel').not.toBeLessThan(300);
      await t.expectServes(s);
    });

    it(".. segments (plain or percent-encoded) never leave TARGET's path prefix", async () => {
      const s = await t.prefixed();
      for (const [i, dots] of ['/../../', '/a/../../../', '/%2e%2e/%2E%2E/', '/.%2e/'].entries()) {
        const id = t.id(`dots${i}`);
        const path = `${dots}_/echo?id=${id}`;
        const response = await rawExchange(
          s.url,
          rawRequest(`GET ${path} HTTP/1.1`, headers(['Host', 'example.test'], ['Connection', 'close'])),
        );
        expect(response, `a response to ${path}`).toBeDefined();
        if (response && response.status >= 400) {
          expect(response.status, `${path} refused`).toBeLessThan(500);
          continue;
        }
        expect(response?.status, path).toBe(200);
        const url = t.upstream.byId(id)[0]?.url ?? '';
        // What the app will make of it once it resolves the dot segments itself.
        expect(new URL(url, 'http://app.internal').pathname, `${path} arrived as ${url}`).toMatch(/^\/base\//);
      }
      expect(t.canary.connections()).toBe(0);
    });
  });
}
