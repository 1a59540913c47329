/**
 * Holds docs/behaviour.md#logging: a request the sidecar refuses itself is logged and counted like
 * any other, with the status the client was actually sent, on every runtime whose HTTP parser lets
 * the sidecar see it (Node's does: `clientError`); known-differences.ts lists the runtimes that
 * hide them.
 */
import { describe, expect, it } from 'vitest';
import { rawExchangeUntilClose, rawRequest, send } from '../support/http-client.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus.ts';
import type { LogEntry, Sidecar } from '../support/sidecar.ts';
import type { Conformance } from './context.ts';
import { headers } from './context.ts';
import { knownDifferences } from './known-differences.ts';

interface Case {
  name: string;
  /**
   * Whether the runtime's parser refuses it before the handler sees it (known-differences.ts:
   * unlogged on Bun and Deno), or the handler does (logged on every runtime).
   */
  by: 'handler' | 'parser' | ((t: Conformance) => 'handler' | 'parser');
  status: number;
  /** Whether the runtime answers at all (Deno drops a malformed chunk's connection silently). */
  answered?: (t: Conformance) => boolean;
  request(id: string): Buffer;
}

const cases: Case[] = [
  {
    name: 'Transfer-Encoding: xchunked',
    by: 'parser',
    status: 400,
    request: (id) =>
      rawRequest(
        `POST /_/echo?id=${id} HTTP/1.1`,
        headers(['Host', 'example.test'], ['Transfer-Encoding', 'xchunked']),
        '5\r\nhello\r\n0\r\n\r\n',
      ),
  },
  {
    name: 'two different Content-Length headers',
    by: 'parser',
    status: 400,
    request: (id) =>
      rawRequest(
        `POST /_/echo?id=${id} HTTP/1.1`,
        headers(['Host', 'example.test'], ['Content-Length', '5'], ['Content-Length', '6']),
        'hello!',
      ),
  },
  {
    name: 'a header line without a colon',
    by: 'parser',
    status: 400,
    request: (id) =>
      Buffer.from(`GET /_/echo?id=${id} HTTP/1.1\r\nHost: example.test\r\nX-No-Colon-Here\r\n\r\n`, 'latin1'),
  },
  {
    name: 'a malformed chunk',
    by: 'parser',
    status: 400,
    answered: (t) => !knownDifferences.malformedChunkClosedWithoutAnswer.has(t.runtime),
    request: (id) =>
      rawRequest(
        `POST /_/echo?id=${id} HTTP/1.1`,
        headers(['Host', 'example.test'], ['Transfer-Encoding', 'chunked']),
        '5\r\nhello\r\nzz\r\n',
      ),
  },
  {
    name: 'HTTP/1.1 without Host',
    by: (t) => (knownDifferences.missingHostRefusedByParser.has(t.runtime) ? 'parser' : 'handler'),
    status: 400,
    request: (id) => rawRequest(`GET /_/echo?id=${id} HTTP/1.1`, headers(['Connection', 'close'])),
  },
  {
    name: 'a request line and headers over 16 KiB',
    // Deno's parser takes larger headers; the handler enforces the limit there (handler.ts).
    by: (t) => (t.runtime === 'deno-native' ? 'handler' : 'parser'),
    status: 431,
    request: (id) =>
      rawRequest(
        `GET /_/echo?id=${id} HTTP/1.1`,
        headers(['Host', 'example.test'], ['Connection', 'close'], ['X-Big', 'a'.repeat(17 * 1024)]),
      ),
  },
];

async function statusCount(s: Sidecar, method: string, status: number): Promise<number> {
  const text = await (await fetch(`${s.adminUrl}/metrics`)).text();
  return (
    sampleValue(parsePrometheusText(text), 'http_server_request_duration_seconds_count', {
      http_request_method: method,
      http_response_status_code: String(status),
    }) ?? 0
  );
}

export function refusalTests(t: Conformance): void {
  describe('refusals are logged with the status sent', () => {
    for (const c of cases) {
      const method = /^[A-Z]+/.exec(c.request('x').toString('latin1'))?.[0] ?? '';
      it(`${c.name}: answered ${c.status}, and logged and counted as ${c.status} "bad_request" where the runtime lets the sidecar see it`, async () => {
        const s = await t.main();
        const id = t.id('refused');
        const before = await statusCount(s, method, c.status);
        const { response, closed } = await rawExchangeUntilClose(s.url, c.request(id));
        const answered = c.answered?.(t) ?? true;
        if (answered) expect(response?.status, `answer: ${response?.statusLine}`).toBe(c.status);
        expect(closed, 'the connection is closed after the refusal').toBe(true);
        // An ordinary request after it: its line is written after any line of the refused one.
        const after = t.id('after-refused');
        await send(s.url, `/_/echo?id=${after}`, { headers: headers(['X-Request-Id', after]) });
        await s.waitForLog((e) => e.request_id === after, 'the line of the request after the refused one');
        const lines = s.logs().filter((e: LogEntry) => String(e.path).includes(id));
        const by = typeof c.by === 'function' ? c.by(t) : c.by;
        if (by === 'parser' && knownDifferences.parserRefusalsUnlogged.has(t.runtime)) {
          // As it stands (known-differences.ts): no line, or, when the handler already had the
          // request (its body was refused), a 499 for the client that was in fact sent a 400.
          const midBody =
            c.name === 'a malformed chunk' && knownDifferences.midBodyRefusalLoggedAsClientAbort.has(t.runtime);
          const expected = midBody ? [[method, 499, 'client_aborted']] : [];
          expect(
            lines.map((e) => [e.method, e.status, e.error]),
            'lines of a refusal the runtime hides (known-differences.ts)',
          ).toEqual(expected);
          return;
        }
        expect(
          lines.map((e) => [e.method, e.status, e.error]),
          'the refused request, logged once',
        ).toEqual([[method, c.status, 'bad_request']]);
        expect(lines[0]?.path).toBe(`/_/echo?id=${id}`);
        expect(
          await statusCount(s, method, c.status),
          `http_server_request_duration_seconds_count{${method}, ${c.status}}`,
        ).toBe(before + 1);
        await t.expectAppGotNoCompleteRequest(id);
      });
    }
  });
}
