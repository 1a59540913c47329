/**
 * Compression of the app's response, the one opt-in exception to "bytes pass unchanged". The
 * rules live here (negotiate.ts, policy.ts, headers.ts); the compressor itself is a capability
 * each runtime injects (runtimes/common/zlib-compressor.ts), because the web CompressionStream
 * cannot flush on demand (whatwg/compression#56) and a streamed response must reach the client
 * chunk by chunk.
 */
import type { UpstreamResponse } from '../proxy/upstream.ts';
import type { CompressConfig } from './config.ts';
import type { Encoding } from './encoding.ts';
import { addVary, encodedHeaders } from './headers.ts';
import { createNegotiator } from './negotiate.ts';
import { hasNoTransform, skipReason } from './policy.ts';

/**
 * A new compressing stream for one response body. Each chunk written is compressed and
 * flushed before the write completes, so its bytes can be read (and decoded by the client)
 * without waiting for the next chunk; a reader that does not read stops the writer. Cancelling
 * the readable side frees the compressor.
 */
export type Compressor = (encoding: Encoding) => TransformStream<Uint8Array, Uint8Array>;

/** Bytes counted on the way through, for `sidecar_compressed_bytes_total{direction}`. */
export interface CompressionWatch {
  /** Bytes of the app's body taken into the compressor. */
  input(bytes: number): void;
  /** Bytes the compressor produced: what the client is sent. */
  output(bytes: number): void;
}

/** What compression reads of the client's request. */
export interface CompressionRequest {
  method: string;
  headers: Headers;
}

/**
 * Returns the response to send: the same object when it stays as the app sent it (at most
 * gaining `Vary`), else a new one with the rewritten headers and the body piped through the
 * compressor. Call it with headers already stripped of hop-by-hop fields.
 */
export type ResponseCompression = (
  request: CompressionRequest,
  response: UpstreamResponse,
  watch?: CompressionWatch,
) => UpstreamResponse;

/** The compression step for this configuration; undefined when COMPRESS is empty (off). */
export function createCompression(config: CompressConfig, compressor: Compressor): ResponseCompression | undefined {
  if (config.COMPRESS.length === 0) return undefined;
  const negotiate = createNegotiator(config.COMPRESS);
  const policy = { types: new Set(config.COMPRESS_TYPES), minBytes: config.COMPRESS_MIN_BYTES };

  return (request, response, watch) => {
    const { body } = response;
    if (body === null || skipReason(request.method, response, policy) !== undefined) return response;
    // RFC 9111 §5.2.1.6: the client asked that its answer not be transformed.
    const encoding = hasNoTransform(request.headers.get('cache-control'))
      ? undefined
      : negotiate(request.headers.get('accept-encoding'));
    if (encoding === undefined) {
      // The response could have been compressed for another client: a cache in front must key
      // it by Accept-Encoding (RFC 9110 §12.5.5). Envoy's compressor adds Vary in this case too;
      // Caddy only on what it encodes (and on 304).
      addVary(response.headers, 'Accept-Encoding');
      return response;
    }
    encodedHeaders(response.headers, encoding);
    return {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
      body: compressBody(body, compressor(encoding), watch),
    };
  };
}

/**
 * The body piped through one compressing stream, counted on both sides. A failure of the app's
 * body errors the result (the client's connection is then cut, never ended as if complete);
 * cancelling the result cancels the app's body.
 */
export function compressBody(
  body: ReadableStream<Uint8Array> | Uint8Array,
  compressing: TransformStream<Uint8Array, Uint8Array>,
  watch?: CompressionWatch,
): ReadableStream<Uint8Array> {
  const source = body instanceof Uint8Array ? whole(body) : body;
  const counted = watch ? source.pipeThrough(counter(watch.input)) : source;
  const compressed = counted.pipeThrough(compressing);
  return watch ? compressed.pipeThrough(counter(watch.output)) : compressed;
}

function whole(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

function counter(count: (bytes: number) => void): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      count(chunk.byteLength);
      controller.enqueue(chunk);
    },
  });
}
