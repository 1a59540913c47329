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
   * Spans carry `network.protocol.version` only where the runtime says which HTTP version its
   * parser read: Node's IncomingMessage.httpVersion. Bun.serve exposes no version (bun-types
   * serve.d.ts: the Server has requestIP() and nothing per request besides), nor does Deno.serve
   * (Deno.ServeHandlerInfo: remoteAddr and completed only). Semconv says to leave the attribute
   * out when the version is not known (http-spans.md [12]), so it is left out there.
   */
  httpVersionNotExposed: new Set<Runtime>(['bun', 'deno']),
} as const;
