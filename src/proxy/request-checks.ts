/**
 * The incoming request, as the proxy copies and checks it before anything goes to the app: its
 * headers copied (and measured) in one pass, what a runtime's parser may have let through refused,
 * and a body passed on while its bytes are counted.
 */
import type { Context } from 'hono';
import { FlatHeaders } from './flat-headers.ts';

/** RFC 9112 §3.2 and RFC 6585 §5; Node's parser enforces these too, Deno's does not. */
const maxHeaderBytes = 16 * 1024;

/**
 * One pass over the incoming headers: copied for the app, and measured (request line and
 * `name: value\r\n` each, as received). From the parser's own list where the runtime has one
 * (Node's `rawHeaders`: the copy is made without the runtime building a `Headers` first), else from
 * the Request's. An HTTP/2 request carries its host in :authority (RFC 9113 §8.3.1); the app speaks
 * HTTP/1.1 and needs it as Host (RFC 9112 §3.2).
 */
export function copyHeaders(
  request: Request,
  runtime: { rawHeaders?(c: Context): readonly string[]; authority?(c: Context): string | undefined },
  c: Context,
): { headers: FlatHeaders; headerBytes: number } {
  const raw = runtime.rawHeaders?.(c);
  const headers = raw ? FlatHeaders.fromRaw(raw) : FlatHeaders.from(request.headers);
  let headerBytes = request.method.length + request.url.length + 12;
  for (const field of headers.fields()) headerBytes += field.length + 2;
  const host = headers.has('host') ? undefined : runtime.authority?.(c);
  if (host) headers.set('host', host);
  return { headers, headerBytes };
}

/**
 * What a runtime's HTTP parser may have let through: no Host (HTTP/1.0 clients included, which
 * a sidecar in front of a pod never serves), or a request line and headers over 16 KiB.
 */
export function refuseMalformed(
  headers: Headers,
  headerBytes: number,
): { status: number; message: string } | undefined {
  if (!headers.has('host')) return { status: 400, message: 'missing Host header' };
  if (headerBytes > maxHeaderBytes) return { status: 431, message: 'request header fields too large' };
  return undefined;
}

/**
 * The body that goes to the app. GET and HEAD carry none: a fetch Request cannot hold one (RFC
 * 9110 §9.3.1 gives it no meaning either), so their framing headers must not promise the app one
 * that never comes. Not asking also spares a runtime from building a body (on Node, reading
 * request.body turns @hono/node-server's lazy Request into a full one).
 */
export function forwardedBody(
  request: Request,
  headers: Headers,
  onChunk: (bytes: number) => void,
): ReadableStream<Uint8Array> | null {
  const method = request.method;
  if (method === 'GET' || method === 'HEAD') {
    headers.delete('content-length');
    return null;
  }
  const source = request.body;
  return source === null ? null : countBytes(source, onChunk);
}

/** Passes a body through unchanged, reporting each chunk's size. */
function countBytes(body: ReadableStream<Uint8Array>, onChunk: (bytes: number) => void): ReadableStream<Uint8Array> {
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        onChunk(chunk.byteLength);
        controller.enqueue(chunk);
      },
    }),
  );
}
