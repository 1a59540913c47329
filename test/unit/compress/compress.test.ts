import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createCompression } from '../../../src/compress/compress.ts';
import type { Compressor, ResponseCompression } from '../../../src/compress/compress.ts';
import type { CompressConfig } from '../../../src/compress/config.ts';
import type { Encoding } from '../../../src/compress/encoding.ts';
import type { UpstreamResponse } from '../../../src/proxy/upstream.ts';
import { createZlibCompressor } from '../../../runtimes/common/zlib-compressor.ts';

const config: CompressConfig = {
  COMPRESS: ['br', 'gzip', 'zstd'],
  COMPRESS_TYPES: ['text/html', 'application/json'],
  COMPRESS_MIN_BYTES: 1024,
};
const page = new TextEncoder().encode('<!doctype html>' + '<li>a row of the table</li>\n'.repeat(200));

const decode: Record<Encoding, (bytes: Uint8Array) => Buffer> = {
  br: (bytes) => zlib.brotliDecompressSync(bytes),
  gzip: (bytes) => zlib.gunzipSync(bytes),
  zstd: (bytes) => zlib.zstdDecompressSync(bytes),
};

function compression(overrides: Partial<CompressConfig> = {}, compressor: Compressor = createZlibCompressor()) {
  const compress = createCompression({ ...config, ...overrides }, compressor);
  if (compress === undefined) throw new Error('compression is off');
  return compress;
}

function request(headers: Record<string, string> = { 'accept-encoding': 'gzip, deflate, br, zstd' }, method = 'GET') {
  return { method, headers: new Headers(headers) };
}

function streamOf(...chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

function appResponse(
  headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8' },
  body: UpstreamResponse['body'] = streamOf(page.subarray(0, 1000), page.subarray(1000)),
): UpstreamResponse {
  return { status: 200, statusText: 'OK', headers: new Headers(headers), body };
}

async function bytesOf(body: UpstreamResponse['body']): Promise<Uint8Array> {
  if (body === null || body instanceof Uint8Array) throw new Error('expected a stream');
  return new Uint8Array(await new Response(body).arrayBuffer());
}

describe('createCompression', () => {
  it('is off (undefined) when COMPRESS is empty', () => {
    expect(createCompression({ ...config, COMPRESS: [] }, createZlibCompressor())).toBeUndefined();
  });

  it.each<Encoding>(['br', 'gzip', 'zstd'])(
    'compresses an eligible response with %s when that is what the client prefers',
    async (encoding) => {
      const counted = { input: 0, output: 0 };
      const watch = { input: (n: number) => (counted.input += n), output: (n: number) => (counted.output += n) };
      const response = appResponse({
        'content-type': 'text/html',
        'content-length': String(page.byteLength),
        etag: '"7"',
      });
      const sent = compression()(request({ 'accept-encoding': `${encoding}, identity;q=0.5` }), response, watch);
      expect(sent).not.toBe(response);
      expect(sent.status).toBe(200);
      expect(sent.statusText).toBe('OK');
      expect(sent.headers.get('content-encoding')).toBe(encoding);
      expect(sent.headers.has('content-length')).toBe(false);
      expect(sent.headers.get('etag')).toBe('W/"7"');
      expect(sent.headers.get('vary')).toBe('Accept-Encoding');
      const bytes = await bytesOf(sent.body);
      expect(new Uint8Array(decode[encoding](bytes))).toEqual(page);
      expect(counted).toEqual({ input: page.byteLength, output: bytes.byteLength });
      expect(bytes.byteLength).toBeLessThan(page.byteLength / 4);
    },
  );

  it('chooses by COMPRESS order among codings the client weighs equally', () => {
    const sent = compression({ COMPRESS: ['gzip', 'br'] })(request(), appResponse());
    expect(sent.headers.get('content-encoding')).toBe('gzip');
  });

  it('compresses a body the app sent whole', async () => {
    const sent = compression()(request({ 'accept-encoding': 'gzip' }), appResponse(undefined, page));
    expect(new Uint8Array(decode.gzip(await bytesOf(sent.body)))).toEqual(page);
  });

  it('sends the response as it is, with Vary, to a client that accepts no offered coding', () => {
    const clients: Record<string, string>[] = [
      {},
      { 'accept-encoding': 'deflate' },
      { 'accept-encoding': 'gzip;q=0, br;q=0, zstd;q=0' },
    ];
    for (const headers of clients) {
      const response = appResponse({ 'content-type': 'text/html', 'content-length': String(page.byteLength) });
      const body = response.body;
      const sent = compression()(request(headers), response);
      expect(sent).toBe(response);
      expect(sent.body).toBe(body);
      expect(sent.headers.get('content-length')).toBe(String(page.byteLength));
      expect(sent.headers.has('content-encoding')).toBe(false);
      expect(sent.headers.get('vary')).toBe('Accept-Encoding');
    }
  });

  it('sends the response as it is, with Vary, when the request says Cache-Control: no-transform', () => {
    const response = appResponse();
    const sent = compression()(request({ 'accept-encoding': 'gzip', 'cache-control': 'no-transform' }), response);
    expect(sent).toBe(response);
    expect(sent.headers.has('content-encoding')).toBe(false);
    expect(sent.headers.get('vary')).toBe('Accept-Encoding');
  });

  it('leaves a response that may not be compressed untouched, without making a compressor', () => {
    let made = 0;
    const counting: Compressor = () => {
      made += 1;
      return new TransformStream();
    };
    const compress = compression({}, counting);
    const cases: [ReturnType<typeof request>, UpstreamResponse][] = [
      [request(), appResponse({ 'content-type': 'image/png' })],
      [request(undefined, 'HEAD'), appResponse()],
      [request(), appResponse({ 'content-type': 'text/html', 'content-encoding': 'gzip' })],
      [request(), appResponse({ 'content-type': 'text/html', 'cache-control': 'no-transform' })],
      [request(), appResponse({ 'content-type': 'text/event-stream' })],
      [request(), appResponse({ 'content-type': 'text/html', 'content-length': '10' })],
    ];
    for (const [req, response] of cases) {
      const before = [...response.headers];
      expect(compress(req, response)).toBe(response);
      expect([...response.headers]).toEqual(before);
    }
    expect(made).toBe(0);
  });

  it('errors the compressed body when the app breaks its body, so the client is not sent a clean end', async () => {
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(page);
        controller.error(new Error('upstream reset'));
      },
    });
    const sent = compression()(request({ 'accept-encoding': 'gzip' }), appResponse(undefined, broken));
    await expect(bytesOf(sent.body)).rejects.toThrow('upstream reset');
  });

  it("cancels the app's body when the client goes away", async () => {
    let cancelled: (reason: unknown) => void = () => {};
    const reason = new Promise<unknown>((resolve) => (cancelled = resolve));
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(page);
      },
      cancel: (why) => cancelled(why),
    });
    const sent = compression()(request({ 'accept-encoding': 'br' }), appResponse(undefined, endless));
    if (!(sent.body instanceof ReadableStream)) throw new Error('expected a stream');
    const reader = sent.body.getReader();
    await reader.read();
    await reader.cancel(new Error('client went away'));
    expect(await reason).toEqual(new Error('client went away'));
  });

  it('sends each chunk of a streamed body, decodable, before the app has sent the next', async () => {
    let app: ReadableStreamDefaultController<Uint8Array> | undefined;
    const streamed = new ReadableStream<Uint8Array>({ start: (controller) => void (app = controller) });
    const compress: ResponseCompression = compression();
    const sent = compress(request({ 'accept-encoding': 'gzip' }), appResponse(undefined, streamed));
    if (!(sent.body instanceof ReadableStream) || app === undefined) throw new Error('expected a stream');
    const reader = sent.body.getReader();
    const received: Uint8Array[] = [];
    const decodedSoFar = () =>
      zlib.gunzipSync(Buffer.concat(received), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
    let expected = '';
    for (const event of ['data: one\n\n', 'data: two\n\n', 'data: three\n\n']) {
      app.enqueue(new TextEncoder().encode(event));
      expected += event;
      // Nothing more is enqueued until this chunk decodes: a compressor that waits for more
      // input never gets it, and the test fails on its timeout.
      while (decodedSoFar().length < expected.length) {
        const next = await reader.read();
        if (next.done) throw new Error('ended early');
        received.push(next.value);
      }
      expect(decodedSoFar()).toBe(expected);
    }
    app.close();
    for (let next = await reader.read(); !next.done; next = await reader.read()) received.push(next.value);
    expect(zlib.gunzipSync(Buffer.concat(received)).toString()).toBe(expected);
  });
});
