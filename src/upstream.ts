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
