/**
 * Where a runtime cannot do what SPEC promises, and why. Each entry is asserted as it stands (the
 * test expects the runtime's actual behaviour, and still the safety part of the promise), so a
 * runtime release that changes it fails the suite and the entry is revisited. Nothing is skipped.
 */
import type { Runtime } from '../support/sidecar.ts';

export const knownDifferences = {
  /**
   * Bun.serve hands the handler only a WHATWG-normalised request.url: a `'` in the query arrives
   * as `%27`. No raw request-target is exposed (Node's is, and is forwarded byte for byte).
   * Equivalent to a URL parser, not to a byte-comparing app.
   */
  queryApostropheEncoded: new Set<Runtime>(['bun']),
  /**
   * Deno.serve (hyper) drops the connection on a malformed chunk without writing a 400; the
   * handler never sees the error. The app still never receives a complete request, nothing
   * smuggled reaches it, and the sidecar keeps serving.
   */
  malformedChunkClosedWithoutAnswer: new Set<Runtime>(['deno']),
  /**
   * Bun's fetch, the Bun adapter's upstream client, adds `User-Agent: Bun/x` and `Accept: *\/*`
   * when the client sent neither, and cannot be told not to (oven-sh/bun#17012). Everything the
   * client did send reaches the app unchanged.
   */
  fetchAddsDefaultHeaders: new Set<Runtime>(['bun']),
  /**
   * An https TARGET signed by a private CA: Deno's node:http client (the Deno adapter's upstream
   * client) ignores DENO_CERT, and honours NODE_EXTRA_CA_CERTS only with read permission for the
   * file, which `deno task serve` does not grant. It fails closed: 502, nothing sent. A TARGET
   * with a publicly trusted certificate works as on the other runtimes.
   */
  privateCaTargetRefused: new Set<Runtime>(['deno']),
  /**
   * Bun.serve (uWebSockets) and Deno.serve (hyper) answer the requests their HTTP parser refuses
   * (an ambiguous length, a malformed header line or chunk, `Transfer-Encoding: xchunked`) without
   * ever handing them to JavaScript, and expose no event for them (Node's server has
   * `clientError`): no access-log line, no metric. Refusals the handler makes (no Host; on Deno,
   * headers over 16 KiB) are logged on every runtime.
   */
  parserRefusalsUnlogged: new Set<Runtime>(['bun', 'deno']),
  /** Bun's parser answers an HTTP/1.1 request without Host with 400 itself (so it is unlogged, as above). */
  missingHostRefusedByParser: new Set<Runtime>(['bun']),
  /**
   * A malformed chunk in a body Bun had already handed to the handler: Bun answers 400 and ends
   * the request as if the client had gone, and nothing tells the two apart, so the line says 499
   * `client_aborted`. The app still never receives a complete request.
   */
  midBodyRefusalLoggedAsClientAbort: new Set<Runtime>(['bun']),
  /**
   * Bun.serve drops the handler's Content-Length from a Response whose body is a stream and sends
   * it chunked (oven-sh/bun#10507, open; the fixes oven-sh/bun#27262 and #35682 were closed
   * unmerged: RequestContext's render path removes the header, and only the sendfile path writes a
   * length back; checked with Bun 1.4.5: an explicit header, a `type: "direct"` stream and an
   * async iterable all come out chunked). Bodies that arrive whole with their headers (most of a
   * web app's) keep their length. Bun's node:http server does keep it: the way out is to run the
   * Bun adapter on Bun's node:http (Node's adapter, in effect; a hello-world server measured about
   * 15% slower than Bun.serve here), a change of adapter left for its own decision. The body is
   * unchanged and complete; a client loses the size ahead (progress bars, resumable downloads).
   */
  streamedContentLengthDropped: new Set<Runtime>(['bun']),
  /**
   * A HEAD answer the app sent without Content-Length: Bun.serve would write `content-length: 0`
   * (oven-sh/bun#15355), so the Bun adapter names the framing instead, `Transfer-Encoding:
   * chunked`, which is how Bun sends that body to a GET (RFC 9112 §6.1 allows it in a HEAD answer).
   */
  headWithoutLengthSaysChunked: new Set<Runtime>(['bun']),
  /**
   * Deno.serve has no bound for idle keep-alive client connections and no option to set one
   * (denoland/deno#32497, open; the `keepAliveTimeout` option of denoland/deno#34172 is not in
   * Deno 2.9): CLIENT_IDLE_TIMEOUT_MS cannot apply, and an idle connection stays open until the
   * client closes it. No response handle or connection object is exposed to close it from JavaScript.
   * Deno's node:http server does bound them (its keepAliveTimeout, checked with Deno 2.9.6): the
   * way out is to run the Deno adapter on it, at a cost (a hello-world server measured 10-50%
   * slower than Deno.serve here, on a noisy machine), a change of adapter left for its own decision.
   */
  idleClientConnectionsUnbounded: new Set<Runtime>(['deno']),
} as const;
