/**
 * A HEAD answer carries the app's Content-Length or none (docs/behaviour.md, Proxying: framing is
 * never invented). Node's server writes what the handler's Response says; Bun's and Deno's write
 * `content-length: 0` for a Response without a body and without that header (oven-sh/bun#15355;
 * Deno's hyper-based server sizes a null body as empty), which tells a client the resource is
 * empty. Each gets the one Response shape its server frames without a length.
 */

/** The handler's answer, unless it is a HEAD answer without a Content-Length that `reshape` must keep that way. */
function headWithoutLength(
  request: Request,
  response: Response | Promise<Response>,
  reshape: (r: Response) => Response,
): Response | Promise<Response> {
  if (request.method !== 'HEAD') return response;
  const check = (r: Response) =>
    r.body === null && r.status >= 200 && r.status !== 204 && r.status !== 304 && !r.headers.has('content-length')
      ? reshape(r)
      : r;
  return response instanceof Response ? check(response) : response.then(check);
}

/**
 * Deno.serve frames a Response whose body is a stream without a length; for HEAD it sends no body
 * and no length (checked with Deno 2.9). An empty stream costs nothing: it is never read.
 */
export function denoHeadFraming(
  request: Request,
  response: Response | Promise<Response>,
): Response | Promise<Response> {
  return headWithoutLength(request, response, (r) => {
    const empty = new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
    return new Response(empty, { status: r.status, statusText: r.statusText, headers: r.headers });
  });
}

/**
 * Bun.serve writes `content-length: 0` for any HEAD answer without one, stream or not, unless the
 * Response names another framing: `Transfer-Encoding: chunked`, which Bun then sends instead of a
 * length (checked with Bun 1.4.5). RFC 9112 §6.1 lets a HEAD answer carry it, to say the GET's body
 * would be chunked, which is how Bun sends a body of unknown length; no length is invented.
 */
export function bunHeadFraming(request: Request, response: Response | Promise<Response>): Response | Promise<Response> {
  return headWithoutLength(request, response, (r) => {
    r.headers.set('transfer-encoding', 'chunked');
    return r;
  });
}
