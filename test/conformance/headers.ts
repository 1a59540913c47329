/**
 * Holds docs/behaviour.md#proxying: headers pass unchanged except hop-by-hop ones (dropped both
 * ways, before the sidecar adds its own); the app sees the client's Host and X-Forwarded-*;
 * X-Request-Id and W3C trace context.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { headerValues, rawExchange, rawRequest, send } from '../support/http-client.ts';
import { hopResponseHeaders, setCookies } from '../support/upstream.ts';
import type { Conformance, Echo } from './context.ts';
import { headers, one, traceparentFormat, uuid } from './context.ts';
import { knownDifferences } from './known-differences.ts';

/** The app may see a Connection header, but only one the sidecar's own client chose for its hop. */
const ownConnectionHeader = /^(keep-alive|close)$/i;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

export function headerTests(t: Conformance): void {
  describe('hop-by-hop headers', () => {
    it('hop-by-hop request headers, and headers named in Connection, do not reach the app', async () => {
      const s = await t.main();
      const id = t.id('hop-req');
      // Raw bytes: node:http refuses to send a Trailer header without a chunked body.
      const response = await rawExchange(
        s.url,
        rawRequest(
          `GET /_/echo?id=${id} HTTP/1.1`,
          headers(
            ['Host', 'example.test'],
            ['Connection', 'keep-alive, X-Client-Hop, x-client-hop-2'],
            ['Keep-Alive', 'timeout=5, max=1000'],
            ['Proxy-Connection', 'keep-alive'],
            ['TE', 'trailers, deflate;q=0.5'],
            ['Trailer', 'X-Checksum'],
            ['X-Client-Hop', 'named in Connection'],
            ['X-Client-Hop-2', 'also named in Connection'],
            ['X-End-To-End', 'kept'],
          ),
        ),
      );
      expect(response?.status).toBe(200);
      const got = (JSON.parse(response?.body.toString() ?? '') as Echo).headers;
      for (const name of ['keep-alive', 'proxy-connection', 'te', 'trailer', 'x-client-hop', 'x-client-hop-2']) {
        expect(got[name], `${name} reached the app`).toBeUndefined();
      }
      if (got.connection !== undefined) expect(one(got.connection)).toMatch(ownConnectionHeader);
      expect(got['x-end-to-end']).toBe('kept');
    });

    it('an Upgrade header without Connection: upgrade never reaches the app', async () => {
      const s = await t.main();
      const id = t.id('upgrade-header');
      const res = await send(s.url, `/_/echo?id=${id}`, { headers: headers(['Upgrade', 'h2c']) });
      expect(res.status, res.body.toString()).toBe(200);
      expect((JSON.parse(res.body.toString()) as Echo).headers.upgrade).toBeUndefined();
    });

    it('hop-by-hop response headers, and headers named in Connection, do not reach the client', async () => {
      const s = await t.main();
      const res = await send(s.url, `/_/hop-response?id=${t.id('hop-res')}`);
      expect(res.status).toBe(200);
      for (const name of ['proxy-connection', 'te', 'trailer', 'upgrade', 'x-upstream-hop']) {
        expect(headerValues(res.rawHeaders, name), `${name} reached the client`).toEqual([]);
      }
      for (const value of headerValues(res.rawHeaders, 'connection')) expect(value).toMatch(ownConnectionHeader);
      for (const value of headerValues(res.rawHeaders, 'keep-alive'))
        expect(value, "the app's Keep-Alive reached the client").not.toBe(hopResponseHeaders.hopByHop['Keep-Alive']);
      expect(headerValues(res.rawHeaders, 'x-end-to-end')).toEqual(['kept']);
      expect(res.body.toString()).toBe('hop-by-hop response\n');
    });

    it("a client naming the sidecar's headers in Connection cannot remove them", async () => {
      const s = await t.main();
      const { res, echo } = await t.echo(s, `/_/echo?id=${t.id('connection-names')}`, {
        headers: headers(
          ['Host', 'shop.example.test'],
          ['Connection', 'x-forwarded-for, x-forwarded-host, x-forwarded-proto, x-request-id, traceparent'],
          ['X-Forwarded-For', '203.0.113.9'],
        ),
      });
      expect(one(echo.headers['x-forwarded-for'])).toMatch(/(^|, )127\.0\.0\.1$/);
      expect(echo.headers['x-forwarded-proto']).toBe('http');
      expect(echo.headers['x-forwarded-host']).toBe('shop.example.test');
      const requestId = one(echo.headers['x-request-id']) ?? '';
      expect(requestId).toMatch(/^[\x21-\x7e]{1,200}$/);
      expect(headerValues(res.rawHeaders, 'x-request-id')).toEqual([requestId]);
      expect(one(echo.headers.traceparent)).toMatch(traceparentFormat);
    });

    it('three Set-Cookie headers reach the client as three headers', async () => {
      const s = await t.main();
      const res = await send(s.url, `/_/cookies?id=${t.id('cookies')}`);
      expect(res.status).toBe(200);
      expect(headerValues(res.rawHeaders, 'set-cookie')).toEqual([...setCookies]);
    });

    it('a response without Content-Type reaches the client without one, sized, streamed or with repeated fields', async () => {
      // Adding one (a server's default text/plain) would change how a browser treats the body.
      const s = await t.main();
      // The last: a repeated field (two Set-Cookie) in the same answer, each still a line of its own.
      for (const extra of ['', '&length=none', '&h=Set-Cookie:a=1&h=Set-Cookie:b=2']) {
        const res = await send(s.url, `/_/page?id=${t.id('no-type')}&type=none&n=100${extra}`);
        expect(res.status).toBe(200);
        expect(res.body.length).toBe(100);
        const added =
          knownDifferences.untypedBytesLabelledOctetStream.has(t.runtime) && extra !== '&length=none'
            ? ['application/octet-stream']
            : [];
        expect(headerValues(res.rawHeaders, 'content-type'), extra || 'sized').toEqual(added);
        if (extra.includes('Set-Cookie')) expect(headerValues(res.rawHeaders, 'set-cookie')).toEqual(['a=1', 'b=2']);
      }
    });

    it('end-to-end request headers reach the app unchanged, repeated ones included', async () => {
      const s = await t.main();
      const { echo } = await t.echo(s, `/_/echo?id=${t.id('e2e')}`, {
        headers: headers(
          ['X-Custom', '  spaced  value, with "quotes" '],
          ['Accept', 'text/html'],
          ['Accept', 'application/json'],
          ['Authorization', 'Basic dTpw'],
        ),
      });
      expect(echo.headers['x-custom']).toBe('spaced  value, with "quotes"');
      expect(headerValues(echo.rawHeaders, 'accept').join(', ')).toBe('text/html, application/json');
      expect(echo.headers.authorization).toBe('Basic dTpw');
    });
  });

  it("the app receives the client's headers and the sidecar's own, and nothing else", async () => {
    const s = await t.main();
    const { echo } = await t.echo(s, `/_/echo?id=${t.id('exact-set')}`, { headers: headers(['X-Only', '1']) });
    const names = new Set(echo.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()));
    const expected = [
      'host',
      'x-only',
      'x-forwarded-for',
      'x-forwarded-proto',
      'x-forwarded-host',
      'x-request-id',
      'traceparent',
    ];
    // The sidecar's own connection to the app may carry its own hop-by-hop Connection header.
    names.delete('connection');
    if (knownDifferences.fetchAddsDefaultHeaders.has(t.runtime)) expected.push('user-agent', 'accept');
    expect([...names].sort()).toEqual(expected.sort());
  });

  describe('Host and X-Forwarded-*', () => {
    it("the app sees the client's original Host", async () => {
      const s = await t.main();
      const { echo } = await t.echo(s, `/_/echo?id=${t.id('host')}`, {
        headers: headers(['Host', 'public.example.test:8443']),
      });
      expect(headerValues(echo.rawHeaders, 'host')).toEqual(['public.example.test:8443']);
    });

    it('X-Forwarded-For gets the client address appended to the incoming list', async () => {
      const s = await t.main();
      const { echo } = await t.echo(s, `/_/echo?id=${t.id('xff')}`, {
        headers: headers(['X-Forwarded-For', '203.0.113.7, 198.51.100.2']),
      });
      expect(headerValues(echo.rawHeaders, 'x-forwarded-for').join(', ')).toBe('203.0.113.7, 198.51.100.2, 127.0.0.1');
    });

    it('X-Forwarded-For is the client address when the client sent none', async () => {
      const s = await t.main();
      const { echo } = await t.echo(s, `/_/echo?id=${t.id('xff-none')}`);
      expect(headerValues(echo.rawHeaders, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    });

    it("X-Forwarded-Proto is http and X-Forwarded-Host is the client's Host", async () => {
      const s = await t.main();
      const { echo } = await t.echo(s, `/_/echo?id=${t.id('xf')}`, {
        headers: headers(['Host', 'www.example.test:8080']),
      });
      expect(headerValues(echo.rawHeaders, 'x-forwarded-proto')).toEqual(['http']);
      expect(headerValues(echo.rawHeaders, 'x-forwarded-host')).toEqual(['www.example.test:8080']);
    });
  });

  describe('X-Request-Id', () => {
    const valid = {
      'one character': 'a',
      '200 characters': `r${'0123456789'.repeat(20)}`.slice(0, 200),
      'punctuation and quotes': `id-"q"\\{}[]!#$%&'*+-.^_\`|~:/@=?`,
    };
    for (const [what, value] of Object.entries(valid)) {
      it(`a valid X-Request-Id (${what}) goes to the app, back to the client and into the log`, async () => {
        const s = await t.main();
        expect(value.length).toBeLessThanOrEqual(200);
        const { res, echo } = await t.echo(s, `/_/echo?id=${t.id('rid-valid')}`, {
          headers: headers(['X-Request-Id', value]),
        });
        expect(headerValues(echo.rawHeaders, 'x-request-id')).toEqual([value]);
        expect(headerValues(res.rawHeaders, 'x-request-id')).toEqual([value]);
        const entry = await s.waitForLog((e) => e.request_id === value, `request_id ${value}`);
        expect(entry.request_id).toBe(value);
      });
    }

    // latin1 strings: each character is one byte on the wire (é as its two UTF-8 bytes).
    const invalid: Record<string, string | undefined> = {
      absent: undefined,
      empty: '',
      '201 characters long': 'x'.repeat(201),
      'containing a space': 'abc def',
      'containing a tab': 'abc\tdef',
      'containing non-ASCII bytes': 'caf\u00c3\u00a9',
    };
    for (const [what, value] of Object.entries(invalid)) {
      it(`an X-Request-Id that is ${what} is replaced by a new UUID, at the app, for the client and in the log`, async () => {
        const s = await t.main();
        const id = t.id('rid-invalid');
        const response = await rawExchange(
          s.url,
          rawRequest(
            `GET /_/echo?id=${id} HTTP/1.1`,
            headers(
              ['Host', 'example.test'],
              ['Connection', 'close'],
              ...(value === undefined ? [] : headers(['X-Request-Id', value])),
            ),
          ),
        );
        expect(response?.status).toBe(200);
        const sent = response?.getAll('x-request-id') ?? [];
        expect(sent).toHaveLength(1);
        const replacement = sent[0] ?? '';
        expect(replacement).toMatch(uuid);
        const echo = JSON.parse(response?.body.toString() ?? '') as Echo;
        expect(headerValues(echo.rawHeaders, 'x-request-id')).toEqual([replacement]);
        const entry = await s.waitForLog(
          (e) => typeof e.path === 'string' && e.path.includes(id),
          `the log line of ${id}`,
        );
        expect(entry.request_id).toBe(replacement);
      });
    }
  });

  describe('W3C trace context', () => {
    it('a valid traceparent keeps its trace id, the app gets a new parent id, and the log carries the trace id', async () => {
      const s = await t.main();
      const traceId = hex(16);
      const parentId = hex(8);
      const rid = t.id('trace');
      const { echo } = await t.echo(s, `/_/echo?id=${rid}`, {
        headers: headers(['traceparent', `00-${traceId}-${parentId}-01`], ['X-Request-Id', rid]),
      });
      const [, gotTrace, gotParent, flags] = traceparentFormat.exec(one(echo.headers.traceparent) ?? '') ?? [];
      expect(gotTrace, `traceparent at the app: ${one(echo.headers.traceparent)}`).toBe(traceId);
      expect(gotParent).not.toBe(parentId);
      expect(gotParent).not.toBe('0000000000000000');
      expect(flags).toMatch(/^[0-9a-f]{2}$/);
      const entry = await s.waitForLog((e) => e.request_id === rid, rid);
      expect(entry.trace_id).toBe(traceId);
    });

    it('without a traceparent a new trace starts, and the log carries its trace id', async () => {
      const s = await t.main();
      const rid = t.id('trace-new');
      const { echo } = await t.echo(s, `/_/echo?id=${rid}`, { headers: headers(['X-Request-Id', rid]) });
      const [, traceId, parentId] = traceparentFormat.exec(one(echo.headers.traceparent) ?? '') ?? [];
      expect(traceId, `traceparent at the app: ${one(echo.headers.traceparent)}`).toMatch(/^(?!0{32})[0-9a-f]{32}$/);
      expect(parentId).toMatch(/^(?!0{16})[0-9a-f]{16}$/);
      const entry = await s.waitForLog((e) => e.request_id === rid, rid);
      expect(entry.trace_id).toBe(traceId);
    });

    const invalidTraceparents = {
      'an all-zero trace id': `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      'an all-zero parent id': `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`,
      'upper-case hex': '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01',
      'version ff': 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      garbage: 'not-a-traceparent',
    };
    for (const [what, value] of Object.entries(invalidTraceparents)) {
      it(`a traceparent with ${what} is not continued: a new trace starts`, async () => {
        const s = await t.main();
        const { echo } = await t.echo(s, `/_/echo?id=${t.id('trace-invalid')}`, {
          headers: headers(['traceparent', value]),
        });
        const [, traceId, parentId] = traceparentFormat.exec(one(echo.headers.traceparent) ?? '') ?? [];
        expect(traceId, `traceparent at the app: ${one(echo.headers.traceparent)}`).toMatch(/^(?!0{32})[0-9a-f]{32}$/);
        expect(parentId).toMatch(/^(?!0{16})[0-9a-f]{16}$/);
        expect(value.toLowerCase()).not.toContain(traceId);
      });
    }

    it('tracestate passes through unchanged with a valid traceparent', async () => {
      const s = await t.main();
      const tracestate = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';
      const { echo } = await t.echo(s, `/_/echo?id=${t.id('tracestate')}`, {
        headers: headers(['traceparent', `00-${hex(16)}-${hex(8)}-01`], ['tracestate', tracestate]),
      });
      expect(headerValues(echo.rawHeaders, 'tracestate')).toEqual([tracestate]);
    });
  });
}
