/**
 * The upstream client is a capability each runtime injects: every runtime's own `fetch` breaks a
 * transparent proxy in a different way (../shared/notes/runtimes.md: Node's and Deno's drop
 * `Host`, all three decompress bodies by default), so the core only states what it needs.
 */

export interface UpstreamRequest {
  method: string;
  /** Absolute URL at TARGET (origin + prefix + the request's path and query). */
  url: string;
  /** Already stripped of hop-by-hop headers; includes the client's `Host`, which must reach the app as is. */
  headers: Headers;
  /** Streams with backpressure; null for a request without a body. */
  body: ReadableStream<Uint8Array> | null;
  /** Aborts the upstream exchange: the client left, or the headers timeout fired. */
  signal: AbortSignal;
}

/**
 * Sends one request and resolves with the app's response as soon as its headers arrive: the
 * body streams afterwards, its bytes untouched (no decompression, no redirects followed), every
 * `Set-Cookie` kept apart (readable with `headers.getSetCookie()`). Rejects with the runtime's
 * own network error (errors.ts classifies it) or the signal's reason.
 */
export type UpstreamClient = (request: UpstreamRequest) => Promise<Response>;

/** Statuses whose responses never carry a body (RFC 9110 §6.4.1, §15.3.5, §15.3.6, §15.4.5). */
const nullBodyStatuses = new Set([101, 103, 204, 205, 304]);

/**
 * Builds the Response an upstream client resolves with. `new Response` refuses a body with a
 * null-body status, so such a body (always empty on the wire) is cancelled instead.
 */
export function upstreamResponse(status: number, statusText: string, headers: Headers, body: ReadableStream<Uint8Array> | null): Response {
  if (body !== null && nullBodyStatuses.has(status)) {
    void body.cancel().catch(() => {});
    body = null;
  }
  return new Response(body, { status, statusText, headers });
}
