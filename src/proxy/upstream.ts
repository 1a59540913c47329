/**
 * The upstream client is a capability each runtime injects: every runtime's own `fetch` breaks a
 * transparent proxy in a different way: Node's and Deno's drop the `Host` it sets
 * (nodejs/undici#2369, denoland/deno#14909), and all three decompress bodies by default
 * (nodejs/undici#2514; Bun's `decompress: false` turns it off), so the core only states what it
 * needs.
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
 * What the core needs of the app's response, and all it reads: a fetch `Response` is one, and a
 * runtime's client can hand over a plain object instead of paying for a Response it would only
 * take apart again. The headers are the core's to change (hop-by-hop headers are stripped in
 * place), so a client whose Response headers are immutable copies them.
 */
export interface UpstreamResponse {
  readonly status: number;
  readonly statusText?: string;
  readonly headers: Headers;
  /**
   * The body, untouched (no decompression): a stream, or the bytes themselves when the whole
   * body arrived with the headers (a runtime then writes headers and body at once, with no
   * stream in between); null when there is none.
   */
  readonly body: ReadableStream<Uint8Array> | Uint8Array | null;
}

/**
 * Sends one request and resolves as soon as the app's response headers arrive: the body streams
 * afterwards, its bytes untouched (no decompression, no redirects followed), every `Set-Cookie`
 * kept apart (readable with `headers.getSetCookie()`). Rejects with the runtime's own network
 * error (errors.ts classifies it) or the signal's reason.
 */
export type UpstreamClient = (request: UpstreamRequest) => Promise<UpstreamResponse>;
