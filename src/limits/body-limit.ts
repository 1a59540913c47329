/**
 * MAX_REQUEST_BODY_BYTES, enforced as nginx's client_max_body_size is
 * (https://nginx.org/en/docs/http/ngx_http_core_module.html#client_max_body_size): a declared
 * Content-Length over the limit is refused before a byte goes to the app; a body of unknown
 * length (chunked, or HTTP/2 without content-length) is counted while it streams, never
 * buffered, and cut the moment it would pass the limit. A body of exactly the limit passes.
 *
 * The cut errors the stream the app's request is reading from, so the upstream request is
 * aborted mid-body and the app never sees a complete one; the error also cancels the client's
 * body (pipeThrough's default), so the sidecar stops reading it. The handler learns of it
 * through `onOverflow`, to answer 413 (RFC 9110 §15.5.14) if no response has started, or
 * else cut the connection.
 */

/** The client sent more than MAX_REQUEST_BODY_BYTES. */
export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
  readonly limit: number;

  constructor(limit: number) {
    super(`request body over ${limit} bytes`);
    this.limit = limit;
  }
}

/** What a Content-Length value says against the limit: `unknown` when absent or not a plain length. */
export type DeclaredLength = 'within' | 'over' | 'unknown';

/** RFC 9110 §8.6: 1*DIGIT. */
function parseLength(text: string): number {
  const value = text.trim();
  if (value.length === 0) return -1;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  // More than 15 digits exceeds any limit a number can state exactly: over.
  return value.length > 15 ? Number.MAX_SAFE_INTEGER : Number(value);
}

/**
 * Checks the request's Content-Length (`Headers.get('content-length')`) against the limit. A
 * list of identical values (what `Headers.get` makes of a repeated header) counts as that value,
 * as RFC 9110 §8.6 allows; anything else is `unknown`, which leaves the body to limitBody.
 * `within` lets the handler skip limitBody: in HTTP/1.1 a body ends after its declared length
 * (RFC 9112 §6.3), which the runtimes' parsers enforce, and in HTTP/2 a body longer than its
 * content-length is malformed (RFC 9113 §8.1.1).
 */
export function checkDeclaredLength(contentLength: string | null, limit: number): DeclaredLength {
  if (contentLength === null) return 'unknown';
  let length = -1;
  for (const part of contentLength.split(',')) {
    const value = parseLength(part);
    if (value < 0 || (length >= 0 && value !== length)) return 'unknown';
    length = value;
  }
  return length > limit ? 'over' : 'within';
}

/**
 * Passes `body` through, counting bytes; when the total would pass `limit`, calls `onOverflow`
 * once, then errors the returned stream with the same BodyTooLargeError (and cancels `body`
 * with it). The chunk that crosses the limit is not passed on. Backpressure is kept: a
 * TransformStream with default strategies holds at most one chunk while the reader is slow.
 */
export function limitBody(
  body: ReadableStream<Uint8Array>,
  limit: number,
  onOverflow: (error: BodyTooLargeError) => void,
): ReadableStream<Uint8Array> {
  let received = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        received += chunk.byteLength;
        if (received > limit) {
          const error = new BodyTooLargeError(limit);
          onOverflow(error);
          controller.error(error);
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
}
