/**
 * Holds docs/behaviour.md#logging: one access-log line per finished request on stdout (JSON or the
 * seed's text format), the sidecar's own messages on stderr; client values cannot break or forge a
 * line; Authorization and Cookie values are never logged.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rawExchange, rawRequest, send } from '../support/http-client.ts';
import { listeningLine } from '../support/sidecar.ts';
import type { LogEntry } from '../support/sidecar.ts';
import { encodedBodies } from '../support/upstream.ts';
import type { Conformance } from './context.ts';
import { knownDifferences } from './known-differences.ts';
import { headers, SRV_NAME, TEXT_SRV_NAME } from './context.ts';

const iso8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A clock check, not a timing threshold: catches seconds for milliseconds, epoch 0, a shifted time zone. */
const CLOCK_SLACK_MS = 60_000;

/** `SRV_NAME - TARGET - PATH - EPOCH_MS - METHOD STATUS DURATION_MSms` */
function textLine(target: string, path: string, method: string, status: number): RegExp {
  return new RegExp(
    `^${escape(TEXT_SRV_NAME)} - ${escape(target)} - ${escape(path)} - (\\d{13}) - ${method} ${status} (\\d+(?:\\.\\d+)?)ms$`,
  );
}
// A request the sidecar refused itself (the bare CR below, on Node) ends with its error reason.
const anyTextLine = new RegExp(
  `^${escape(TEXT_SRV_NAME)} - \\S+ - \\S+ - \\d{13} - [A-Z-]+ \\d{3} \\d+(\\.\\d+)?ms( error=[a-z_]+)?$`,
);

export function loggingTests(t: Conformance): void {
  describe('access log', () => {
    it('writes one JSON line per request with every field typed and valued', async () => {
      const s = await t.main();
      const rid = t.id('log-fields');
      const traceId = randomBytes(16).toString('hex');
      const upload = Buffer.alloc(12_345, 'u');
      const path = `/_/upload?id=${rid}&x=1&y=two%20words`;
      const before = Date.now();
      const res = await send(s.url, path, {
        method: 'POST',
        body: upload,
        headers: headers(
          ['User-Agent', 'conformance-agent/1.0 (+https://example.test)'],
          ['X-Request-Id', rid],
          ['traceparent', `00-${traceId}-00f067aa0ba902b7-01`],
        ),
      });
      expect(res.status).toBe(200);
      const entry = await s.waitForLog((e) => e.request_id === rid, rid);
      const after = Date.now();

      expect(entry.time).toEqual(expect.stringMatching(iso8601));
      const time = Date.parse(String(entry.time));
      expect(time).toBeGreaterThanOrEqual(before - CLOCK_SLACK_MS);
      expect(time).toBeLessThanOrEqual(after + CLOCK_SLACK_MS);
      expect(entry).toMatchObject({
        service: SRV_NAME,
        target: t.upstream.url,
        method: 'POST',
        path,
        status: 200,
        bytes_in: upload.length,
        bytes_out: res.body.length,
        request_id: rid,
        trace_id: traceId,
        remote_addr: '127.0.0.1',
        user_agent: 'conformance-agent/1.0 (+https://example.test)',
      });
      expect(typeof entry.duration_ms).toBe('number');
      expect(Number.isFinite(entry.duration_ms) && (entry.duration_ms as number) >= 0).toBe(true);
      expect(entry.error, 'a request the app answered carries no error').toBeUndefined();
    });

    it('writes exactly one line per request', async () => {
      const s = await t.main();
      const first = t.id('one-line');
      const second = t.id('one-line-next');
      await send(s.url, `/_/echo?id=${first}`, { headers: headers(['X-Request-Id', first]) });
      await send(s.url, `/_/echo?id=${second}`, { headers: headers(['X-Request-Id', second]) });
      // The second line is written after the first request ended: by then any duplicate of the first would be out too.
      await s.waitForLog((e) => e.request_id === second, second);
      expect(s.logs().filter((e) => e.request_id === first)).toHaveLength(1);
      expect(s.logs().filter((e) => e.request_id === second)).toHaveLength(1);
    });

    it('logs bytes_out as the bytes sent (a gzip body counts compressed)', async () => {
      const s = await t.main();
      const rid = t.id('bytes-out');
      const res = await send(s.url, `/_/gzip?id=${rid}`, { headers: headers(['X-Request-Id', rid]) });
      expect(res.body.length).toBe(encodedBodies.gzip.length);
      const entry = await s.waitForLog((e) => e.request_id === rid, rid);
      expect(entry.bytes_out).toBe(encodedBodies.gzip.length);
      expect(entry.bytes_in).toBe(0);
    });

    it("logs bytes_out of the sidecar's own answers (502, 504, a refused WebSocket handshake, no Host) as the bytes of their body", async () => {
      const s = await t.main();
      const reset = t.id('bytes-502');
      const refused = await send(s.url, `/_/reset?id=${reset}`, { headers: headers(['X-Request-Id', reset]) });
      expect(refused.status).toBe(502);
      expect(refused.body.length).toBeGreaterThan(0);
      expect((await s.waitForLog((e) => e.request_id === reset, reset)).bytes_out).toBe(refused.body.length);

      const impatient = await t.impatient();
      const hang = t.id('bytes-504');
      const late = await send(impatient.url, `/_/hang?id=${hang}`, { headers: headers(['X-Request-Id', hang]) });
      expect(late.status).toBe(504);
      expect((await impatient.waitForLog((e) => e.request_id === hang, hang)).bytes_out).toBe(late.body.length);

      const ws = t.id('bytes-ws-502');
      const handshake = await rawExchange(
        s.url,
        rawRequest(
          `GET /ws/reset?id=${ws} HTTP/1.1`,
          headers(
            ['Host', 'example.test'],
            ['Connection', 'Upgrade'],
            ['Upgrade', 'websocket'],
            ['Sec-WebSocket-Version', '13'],
            ['Sec-WebSocket-Key', randomBytes(16).toString('base64')],
            ['X-Request-Id', ws],
          ),
        ),
      );
      expect(handshake?.status).toBe(502);
      expect(handshake?.body.length).toBeGreaterThan(0);
      expect((await s.waitForLog((e) => e.request_id === ws, ws)).bytes_out).toBe(handshake?.body.length);

      // Refused before an exchange began (Node: @hono/node-server cannot build the Request); Bun's
      // parser answers it itself, unlogged (known differences).
      if (knownDifferences.missingHostRefusedByParser.has(t.runtime)) return;
      const hostless = t.id('bytes-no-host');
      const noHost = await rawExchange(
        s.url,
        rawRequest(`GET /_/echo?id=${hostless} HTTP/1.1`, headers(['Connection', 'close'])),
      );
      expect(noHost?.status).toBe(400);
      const entry = await s.waitForLog((e) => e.path === `/_/echo?id=${hostless}`, 'the 400 logged');
      expect(entry.bytes_out).toBe(noHost?.body.length);
    });

    it('the text format is `SRV_NAME - TARGET - PATH - EPOCH_MS - METHOD STATUS DURATION_MSms`', async () => {
      const s = await t.prefixed();
      const id = t.id('text');
      const path = `/x/y?id=${id}&q=1`;
      const before = Date.now();
      await t.echo(s, path);
      const line = await s.waitForLine((l) => l.includes(id), `the text line of ${id}`);
      const after = Date.now();
      const match = textLine(t.prefixedTarget, path, 'GET', 200).exec(line);
      expect(match, `text line: ${JSON.stringify(line)}`).not.toBeNull();
      const epoch = Number(match?.[1]);
      expect(epoch).toBeGreaterThanOrEqual(before - CLOCK_SLACK_MS);
      expect(epoch).toBeLessThanOrEqual(after + CLOCK_SLACK_MS);
    });

    it('client values with quotes, backslashes, encoded CR/LF or bare CR cannot break a JSON line or forge another', async () => {
      const s = await t.main();
      const id = t.id('inject');
      const forged = '{"forged":true,"status":200}';
      const path = `/_/echo/it's?id=${id}&nl=%0A%0D&fake=%0A${encodeURIComponent(forged)}`;
      const userAgent = `evil"agent\\ \u00e9 ${forged}`;
      const requestId = `rid-${id}-"${forged}"`;
      const response = await rawExchange(
        s.url,
        rawRequest(
          `GET ${path} HTTP/1.1`,
          headers(
            ['Host', 'example.test'],
            ['Connection', 'close'],
            ['User-Agent', userAgent],
            ['X-Request-Id', requestId],
          ),
        ),
      );
      expect(response?.status).toBe(200);
      // Quotes and a backslash in the path (not legal in a URI: refusing them is fine), and a bare
      // CR inside a header value: refused or accepted, neither may split a log line.
      await rawExchange(
        s.url,
        rawRequest(
          `GET /_/echo/"${forged}"\\?id=${t.id('quote-path')} HTTP/1.1`,
          headers(['Host', 'example.test'], ['Connection', 'close']),
        ),
      );
      await rawExchange(
        s.url,
        rawRequest(
          `GET /_/echo?id=${t.id('bare-cr')} HTTP/1.1`,
          headers(['Host', 'example.test'], ['Connection', 'close'], ['User-Agent', `a\r${forged}`]),
        ),
      );
      await t.expectServes(s);

      const entry = await s.waitForLog((e) => e.request_id === requestId, 'the line of the hostile request');
      expect(entry.path).toBe(path);
      expect(String(entry.user_agent)).toContain('evil"agent\\ ');
      expect(String(entry.user_agent)).toContain(forged);
      const lines = s.logs();
      expect(
        lines.filter((e) => 'unparsable' in e),
        'stdout lines that are not one JSON object',
      ).toEqual([]);
      expect(
        lines.filter((e) => 'forged' in e),
        'forged lines',
      ).toEqual([]);
      expect(lines.filter((e) => e.request_id === requestId)).toHaveLength(1);
    });

    it('client values with encoded CR/LF cannot break a text line', async () => {
      const s = await t.prefixed();
      const id = t.id('inject-text');
      const forged = `\n${TEXT_SRV_NAME} - forged - /admin - 0 - GET 200 1ms\n`;
      const path = `/x?id=${id}&evil=${encodeURIComponent(forged)}&cr=%0D&q='quoted'`;
      const response = await rawExchange(
        s.url,
        rawRequest(`GET ${path} HTTP/1.1`, headers(['Host', 'example.test'], ['Connection', 'close'])),
      );
      expect(response?.status).toBe(200);
      await rawExchange(
        s.url,
        rawRequest(
          `GET /x?id=${t.id('bare-cr')} HTTP/1.1`,
          headers(['Host', 'example.test'], ['Connection', 'close'], ['User-Agent', `ua\r${forged}`]),
        ),
      );
      await t.expectServes(s);
      const line = await s.waitForLine((l) => l.includes(id), `the text line of ${id}`);
      expect(line.startsWith(`${TEXT_SRV_NAME} - ${t.prefixedTarget} - /x?id=${id}&evil=`), line).toBe(true);
      expect(
        s.stdoutLines.filter((l) => !anyTextLine.test(l)),
        'stdout lines not in the text format',
      ).toEqual([]);
      expect(
        s.stdoutLines.filter((l) => l.includes('forged') && !l.includes(id)),
        'forged lines',
      ).toEqual([]);
    });

    it('never writes Authorization or Cookie values to stdout', async () => {
      const s = await t.main();
      const rid = t.id('secrets');
      const token = `secret-token-${randomBytes(8).toString('hex')}`;
      const cookie = `secret-cookie-${randomBytes(8).toString('hex')}`;
      const { echo } = await t.echo(s, `/_/echo?id=${rid}`, {
        headers: headers(
          ['Authorization', `Bearer ${token}`],
          ['Cookie', `session=${cookie}; theme=dark`],
          ['X-Request-Id', rid],
        ),
      });
      // The app does get them: they are end-to-end headers.
      expect(echo.headers.authorization).toBe(`Bearer ${token}`);
      expect(echo.headers.cookie).toBe(`session=${cookie}; theme=dark`);
      await s.waitForLog((e) => e.request_id === rid, rid);
      const stdout = s.stdoutLines.join('\n');
      expect(stdout).not.toContain(token);
      expect(stdout).not.toContain(cookie);
    });

    it('a stdout nobody reads (a full pipe) never holds up requests, and logging resumes after', async () => {
      const s = await t.stuckStdout();
      s.pauseStdout();
      try {
        // 200 lines of ~12 KiB: several times what the pipe and the reader's buffer hold.
        const filler = 'f'.repeat(12 * 1024);
        for (let round = 0; round < 50; round++) {
          const responses = await Promise.all(
            [0, 1, 2, 3].map((i) => send(s.url, `/_/echo?id=${t.id(`stuck-${round}-${i}`)}&filler=${filler}`)),
          );
          for (const res of responses) expect(res.status).toBe(200);
        }
      } finally {
        s.resumeStdout();
      }
      const rid = t.id('after-stuck');
      await send(s.url, `/_/echo?id=${rid}`, { headers: headers(['X-Request-Id', rid]) });
      await s.waitForLog((e) => e.request_id === rid, 'a line written after stdout was read again');
    });

    it('stdout carries only access-log lines; the listening line is on stderr', async () => {
      const s = await t.main();
      await t.expectServes(s);
      await s.waitForLogLines(1);
      expect(s.stderr()).toMatch(listeningLine);
      const notAccessLog = (e: LogEntry) =>
        'unparsable' in e || typeof e.method !== 'string' || typeof e.status !== 'number';
      expect(s.logs().filter(notAccessLog), 'stdout lines that are not access-log entries').toEqual([]);
      expect(s.stdoutLines.filter((l) => listeningLine.test(l))).toEqual([]);
    });
  });
}
