/**
 * Holds docs/behaviour.md#compression: with COMPRESS set, responses the app sent uncompressed are
 * compressed for the client that asked, by q-value and then COMPRESS's order; every exclusion
 * leaves the app's bytes as they were; the headers are rewritten; a streamed response is flushed
 * chunk by chunk; the log and the metrics count it. Without COMPRESS nothing changes. Every sidecar
 * here has DENO_SERVE_AUTOMATIC_COMPRESSION=1 in its environment, as an operator might set it:
 * Deno.serve would then compress by itself (denoland/deno#35253), and nothing may be compressed
 * twice or behind COMPRESS's back (on Node and Bun the variable means nothing).
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerValues, open, send } from '../support/http-client.ts';
import type { HeaderList, HttpResponse } from '../support/http-client.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus.ts';
import { startSidecar } from '../support/sidecar.ts';
import type { Sidecar } from '../support/sidecar.ts';
import { encodedBodies, pageBody } from '../support/upstream.ts';
import { waitUntil } from '../support/wait.ts';
import { connectWs } from '../support/ws-client.ts';
import type { Conformance } from './context.ts';
import { SRV_NAME } from './context.ts';
import { wsUrl } from './websocket.ts';

type Coding = 'br' | 'gzip' | 'zstd';

const decoders: Record<Coding, () => zlib.Gunzip | zlib.BrotliDecompress | zlib.ZstdDecompress> = {
  gzip: () => zlib.createGunzip(),
  br: () => zlib.createBrotliDecompress(),
  zstd: () => zlib.createZstdDecompress(),
};

function decodeWhole(coding: Coding, body: Buffer): Buffer {
  if (coding === 'gzip') return zlib.gunzipSync(body);
  if (coding === 'br') return zlib.brotliDecompressSync(body);
  return zlib.zstdDecompressSync(body);
}

/** Chrome's Accept-Encoding. */
const chrome = 'gzip, deflate, br, zstd';
const n = 8192;

/** The one Content-Encoding the client got, checked to be a coding it can undo once. */
function codingOf(res: HttpResponse): Coding | undefined {
  const values = headerValues(res.rawHeaders, 'content-encoding');
  expect(values.length, `Content-Encoding lines: ${JSON.stringify(values)}`).toBeLessThanOrEqual(1);
  const value = values[0];
  if (value === undefined) return undefined;
  expect(['br', 'gzip', 'zstd'], `Content-Encoding ${value}: one coding, applied once`).toContain(value);
  return value as Coding;
}

/**
 * Reads a response through a streaming decoder: `decoded` is what the client could show so far,
 * `raw` the bytes on the wire.
 */
function decodeAsItComes(res: IncomingMessage, coding: Coding) {
  const events = new EventEmitter();
  const decoder = decoders[coding]();
  let raw = 0;
  let decoded = '';
  let ended = false;
  res.on('data', (chunk: Buffer) => {
    raw += chunk.length;
    decoder.write(chunk);
  });
  res.on('end', () => decoder.end());
  decoder.on('data', (chunk: Buffer) => {
    decoded += chunk.toString();
    events.emit('change');
  });
  decoder.on('end', () => ((ended = true), events.emit('change')));
  decoder.on('error', (error) => ((decoded += `<decoder error: ${error.message}>`), events.emit('change')));
  const until = (check: () => boolean, what: string) =>
    waitUntil(
      events,
      () => (check() ? true : undefined),
      what,
      undefined,
      () => `decoded so far: ${JSON.stringify(decoded)}`,
    );
  return {
    decoded: () => decoded,
    raw: () => raw,
    has: (text: string, what: string) => until(() => decoded === text, what),
    end: () => until(() => ended, 'the end of the decoded body'),
  };
}

async function compressedCounters(s: Sidecar): Promise<{ in: number; out: number }> {
  const families = parsePrometheusText((await send(s.adminUrl, '/metrics')).body.toString());
  return {
    in: sampleValue(families, 'sidecar_compressed_bytes_total', { direction: 'in' }) ?? 0,
    out: sampleValue(families, 'sidecar_compressed_bytes_total', { direction: 'out' }) ?? 0,
  };
}

export function compressionTests(t: Conformance): void {
  describe('compression (COMPRESS)', () => {
    const started: Promise<Sidecar>[] = [];
    const start = (env: Record<string, string>) => {
      const promise = startSidecar(t.runtime, {
        TARGET: t.upstream.url,
        SRV_NAME,
        LOG_FORMAT: 'json',
        DENO_SERVE_AUTOMATIC_COMPRESSION: '1',
        ...env,
      });
      promise.catch(() => undefined);
      started.push(promise);
      return promise;
    };
    let brGzip: Promise<Sidecar>;
    let zstdGzipBr: Promise<Sidecar>;
    let off: Promise<Sidecar>;
    beforeAll(() => {
      brGzip = start({ COMPRESS: 'br,gzip' });
      zstdGzipBr = start({ COMPRESS: 'zstd,gzip,br' });
      off = start({});
    });
    afterAll(async () => {
      await Promise.allSettled(started.map((p) => p.then((s) => s.stop())));
    });

    const page = async (sidecar: Promise<Sidecar>, query: string, request: HeaderList = [], method = 'GET') => {
      const s = await sidecar;
      const id = t.id('page');
      const res = await send(s.url, `/_/page?id=${id}&${query.replaceAll(' ', '%20')}`, {
        method,
        headers: [['X-Request-Id', id], ...request],
      });
      expect(res.status, res.body.toString().slice(0, 300)).toBeLessThan(500);
      return { res, id, s };
    };

    describe('negotiation', () => {
      const cases: [string, () => Promise<Sidecar>, string | undefined, Coding | undefined][] = [
        ['br,gzip', () => brGzip, 'gzip, br', 'br'],
        ['zstd,gzip,br', () => zstdGzipBr, 'br, gzip', 'gzip'],
        ['zstd,gzip,br', () => zstdGzipBr, chrome, 'zstd'],
        ['br,gzip', () => brGzip, 'br;q=0.5, gzip', 'gzip'],
        ['br,gzip', () => brGzip, 'br;q=0, gzip;q=0.1', 'gzip'],
        ['br,gzip', () => brGzip, 'zstd', undefined],
        ['br,gzip', () => brGzip, '*', 'br'],
        ['br,gzip', () => brGzip, '*;q=0.5, identity', undefined],
        ['br,gzip', () => brGzip, 'gzip;q=0, br;q=0', undefined],
        ['br,gzip', () => brGzip, 'identity', undefined],
        ['br,gzip', () => brGzip, '', undefined],
        ['br,gzip', () => brGzip, undefined, undefined],
      ];
      for (const [compress, sidecar, accept, expected] of cases) {
        it(`COMPRESS=${compress}, Accept-Encoding ${accept === undefined ? 'absent' : JSON.stringify(accept)}: ${expected ?? 'sent as the app sent it'}`, async () => {
          const { res } = await page(sidecar(), `n=${n}`, accept === undefined ? [] : [['Accept-Encoding', accept]]);
          expect(res.status).toBe(200);
          const coding = codingOf(res);
          expect(coding).toBe(expected);
          // Whatever was chosen, the client gets the app's page back by undoing one coding.
          const body = coding === undefined ? res.body : decodeWhole(coding, res.body);
          expect(body.equals(pageBody(n)), `the page, ${body.length} bytes of ${n}`).toBe(true);
          // Either way the answer varies with Accept-Encoding, for a cache in front.
          expect(headerValues(res.rawHeaders, 'vary')).toEqual(['Accept-Encoding']);
          if (coding !== undefined) expect(res.body.length).toBeLessThan(n / 4);
        });
      }
    });

    describe('exclusions: the app bytes and headers pass as they were', () => {
      /** What, the app's page, the request's own headers, and the Vary lines expected. */
      const cases: [string, string, HeaderList, string[]?][] = [
        ['a type not in COMPRESS_TYPES', `n=${n}&type=application/octet-stream`, []],
        ['text/event-stream, even of unknown length', `n=${n}&type=text/event-stream&length=none`, []],
        ['a body under COMPRESS_MIN_BYTES', 'n=1023', []],
        ['Cache-Control: no-transform from the app', `n=${n}&h=Cache-Control:public, no-transform`, []],
        // Another client would have got it compressed: a cache in front must still key it.
        [
          'Cache-Control: no-transform from the client',
          `n=${n}`,
          [['Cache-Control', 'no-transform']],
          ['Accept-Encoding'],
        ],
        ['a 206 with its Content-Range', `n=${n}&status=206&h=Content-Range:bytes 0-${n - 1}/${4 * n}`, []],
        ['a 200 with a Content-Range', `n=${n}&h=Content-Range:bytes 0-${n - 1}/${n}`, []],
      ];
      for (const [what, query, request, vary = []] of cases) {
        it(`${what} is not compressed`, async () => {
          const { res } = await page(brGzip, query, [['Accept-Encoding', chrome], ...request]);
          expect(codingOf(res)).toBeUndefined();
          const size = Number(/n=(\d+)/.exec(query)?.[1]);
          expect(res.body.equals(pageBody(size)), `the app's ${size} bytes, got ${res.body.length}`).toBe(true);
          expect(headerValues(res.rawHeaders, 'vary')).toEqual(vary);
          if (!query.includes('length=none')) expect(res.headers['content-length']).toBe(String(size));
        });
      }

      // A short body of unknown length is compressed: the slow streams below (21 bytes) are. A
      // short chunked body that arrives whole with its headers may be seen with its length.
      it('a body of exactly COMPRESS_MIN_BYTES is compressed', async () => {
        const { res } = await page(brGzip, 'n=1024', [['Accept-Encoding', 'gzip']]);
        expect(codingOf(res)).toBe('gzip');
        expect(decodeWhole('gzip', res.body).equals(pageBody(1024))).toBe(true);
      });

      it('a response the app encoded already passes byte for byte', async () => {
        const s = await brGzip;
        const res = await send(s.url, `/_/gzip?id=${t.id('encoded')}`, { headers: [['Accept-Encoding', 'br, gzip']] });
        expect(headerValues(res.rawHeaders, 'content-encoding')).toEqual(['gzip']);
        expect(res.body.equals(encodedBodies.gzip)).toBe(true);
        expect(res.headers['content-length']).toBe(String(encodedBodies.gzip.length));
      });

      it('a HEAD answer keeps the app headers: no Content-Encoding, its Content-Length', async () => {
        const { res } = await page(brGzip, `n=${n}`, [['Accept-Encoding', chrome]], 'HEAD');
        expect(res.status).toBe(200);
        expect(codingOf(res)).toBeUndefined();
        expect(res.headers['content-length']).toBe(String(n));
        expect(res.body.length).toBe(0);
      });

      for (const status of [204, 304]) {
        it(`a ${status} is not compressed and keeps its strong ETag`, async () => {
          const { res } = await page(brGzip, `status=${status}&h=ETag:"v1"`, [['Accept-Encoding', chrome]]);
          expect(res.status).toBe(status);
          expect(codingOf(res)).toBeUndefined();
          expect(res.headers.etag).toBe('"v1"');
          expect(res.body.length).toBe(0);
        });
      }

      it('a WebSocket tunnel is untouched: its 101 has no Content-Encoding and messages pass as sent', async () => {
        const s = await brGzip;
        const id = t.id('ws-compress');
        const client = await connectWs(wsUrl(s, `/ws/echo?id=${id}`), { headers: { 'Accept-Encoding': chrome } });
        expect(client.upgrade?.statusCode).toBe(101);
        expect(client.upgrade?.headers['content-encoding']).toBeUndefined();
        const text = pageBody(4096).toString();
        client.ws.send(text);
        const echoed = await client.message(0);
        expect(echoed.binary).toBe(false);
        expect(echoed.data.toString()).toBe(text);
        client.ws.close();
        await client.closed();
      });
    });

    describe('headers of a compressed response', () => {
      it('Content-Length is dropped (the body is chunked) and a strong ETag turns weak', async () => {
        const { res } = await page(brGzip, `n=${n}&h=ETag:"v1"`, [['Accept-Encoding', 'br']]);
        expect(codingOf(res)).toBe('br');
        expect(res.headers['content-length']).toBeUndefined();
        expect(res.headers['transfer-encoding']).toBe('chunked');
        expect(res.headers.etag).toBe('W/"v1"');
      });

      it('a weak ETag stays as it is', async () => {
        const { res } = await page(brGzip, `n=${n}&h=ETag:W/"v2"`, [['Accept-Encoding', 'br']]);
        expect(codingOf(res)).toBe('br');
        expect(res.headers.etag).toBe('W/"v2"');
      });

      it("Vary: Accept-Encoding joins the app's Vary lines in one line that keeps them all", async () => {
        const { res } = await page(brGzip, `n=${n}&h=Vary:Origin&h=Vary:Cookie`, [['Accept-Encoding', 'gzip']]);
        expect(codingOf(res)).toBe('gzip');
        expect(headerValues(res.rawHeaders, 'vary')).toEqual(['Origin, Cookie, Accept-Encoding']);
      });

      it('a Vary that names Accept-Encoding already is left as the app sent it', async () => {
        const { res } = await page(brGzip, `n=${n}&h=Vary:accept-encoding, Origin`, [['Accept-Encoding', 'gzip']]);
        expect(codingOf(res)).toBe('gzip');
        expect(headerValues(res.rawHeaders, 'vary')).toEqual(['accept-encoding, Origin']);
      });
    });

    describe('streaming, logging and metrics', () => {
      for (const [sidecar, coding] of [
        [() => brGzip, 'br'],
        [() => brGzip, 'gzip'],
        [() => zstdGzipBr, 'zstd'],
      ] as const) {
        it(`${coding}: a slow stream's first chunk reaches the client decodable before the app sends the second; bytes_out counts the compressed bytes`, async () => {
          const s = await sidecar();
          const id = t.id(`slow-${coding}`);
          const { res } = await open(s.url, `/_/slow?id=${id}`, {
            headers: [
              ['Accept-Encoding', coding],
              ['X-Request-Id', id],
            ],
          });
          expect(res.statusCode).toBe(200);
          expect(res.headers['content-encoding']).toBe(coding);
          const body = decodeAsItComes(res, coding);
          await body.has('first chunk\n', 'the first chunk, decoded, while the app holds the second');
          expect(t.upstream.byId(id)[0]?.response, 'the app has not sent the second chunk').toBe('pending');
          t.upstream.release(id);
          await body.end();
          expect(body.decoded()).toBe('first chunk\nthe rest\n');
          const entry = await s.waitForLog((e) => e.request_id === id, 'the slow response');
          expect(entry.bytes_out).toBe(body.raw());
        });
      }

      it('sidecar_compressed_bytes_total counts the app bytes in and the compressed bytes out', async () => {
        const s = await brGzip;
        const before = await compressedCounters(s);
        const { res, id } = await page(brGzip, `n=${n}`, [['Accept-Encoding', 'gzip']]);
        expect(codingOf(res)).toBe('gzip');
        const entry = await s.waitForLog((e) => e.request_id === id, 'the compressed response');
        expect(entry.bytes_out).toBe(res.body.length);
        const after = await compressedCounters(s);
        expect(after.in - before.in).toBe(n);
        expect(after.out - before.out).toBe(res.body.length);
      });
    });

    describe('COMPRESS unset (the default)', () => {
      it('a compressible response reaches a client that accepts every coding byte for byte, headers unchanged', async () => {
        const { res } = await page(off, `n=${n}&h=ETag:"v1"`, [['Accept-Encoding', chrome]]);
        expect(headerValues(res.rawHeaders, 'content-encoding')).toEqual([]);
        expect(res.body.equals(pageBody(n))).toBe(true);
        expect(res.headers['content-length']).toBe(String(n));
        expect(res.headers.etag).toBe('"v1"');
        expect(headerValues(res.rawHeaders, 'vary')).toEqual([]);
      });

      it('so does one of unknown length', async () => {
        const { res } = await page(off, `n=${n}&length=none`, [['Accept-Encoding', chrome]]);
        expect(headerValues(res.rawHeaders, 'content-encoding')).toEqual([]);
        expect(res.body.equals(pageBody(n))).toBe(true);
      });
    });
  });
}
