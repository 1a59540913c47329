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
   * Deno.serve gives no Host header for an HTTP/2 request (the authority is only in the URL) and
   * does not say which version a request came in: over TLS the Deno adapter takes Host from the
   * URL whenever it is missing, so an HTTP/1.1 request without Host is forwarded with the
   * authority Deno put in its URL (`localhost:PORT`) instead of getting 400. Plain HTTP keeps
   * the 400.
   */
  tlsHttp11WithoutHostForwarded: new Set<Runtime>(['deno']),
  /**
   * Certificate rotation on Bun and Deno swaps listeners (runtimes/listener-swap.ts): the old one
   * is drained, so requests in flight finish, but its idle keep-alive connections are closed
   * (between requests, as on SIGTERM); their clients reconnect and get the new certificate.
   * Neither Bun.serve nor Deno.serve can stop accepting and leave idle connections open, nor
   * change a listener's certificate (oven-sh/bun#43815; Deno.serve has no reload). Node keeps them.
   */
  tlsRotationClosesIdleConnections: new Set<Runtime>(['bun', 'deno']),
  /**
   * Deno's TLS (rustls) lets the client choose among the offered suites, and Deno.serve has no
   * option to change that (its TLS options are cert, key and alpnProtocols: `deno types`). Every
   * suite offered is forward-secret AEAD, but testssl.sh 3.0.8 rates "NOT a cipher order
   * configured" HIGH (later releases check it per protocol and rate it LOW). Node and Bun use the
   * server's order.
   */
  tlsClientChoosesSuite: new Set<Runtime>(['deno']),
} as const;
