/**
 * Holds docs/behaviour.md#runtimes: where a runtime cannot keep a promise of that page, and why.
 * Each entry is asserted as it stands (the test expects the runtime's actual behaviour, and still
 * the safety part of the promise), so a runtime release that changes it fails the suite and the
 * entry is revisited. Nothing is skipped. Bun and Deno serve on their node:http server (docs/performance.md,
 * "Which listener on Bun and Deno"); `bun-native` and `deno-native` are the measured alternative,
 * Bun.serve and Deno.serve (runtimes/bun-native.ts, runtimes/deno-native.ts), run with
 * NATIVE_LISTENERS=1. An entry naming only those is the native listener's.
 */
import type { Runtime } from '../support/sidecar.ts';

export const knownDifferences = {
  /**
   * Bun.serve hands the handler only a WHATWG-normalised request.url: a `'` in the query arrives
   * as `%27`. No raw request-target is exposed (Node's is, and is forwarded byte for byte).
   * Equivalent to a URL parser, not to a byte-comparing app. Bun's node:http server
   * (runtimes/bun.ts) normalises IncomingMessage.url the same way: it is Bun's parser.
   */
  queryApostropheEncoded: new Set<Runtime>(['bun', 'bun-native']),
  /**
   * Deno.serve (hyper) drops the connection on a malformed chunk without writing a 400; the
   * handler never sees the error. The app still never receives a complete request, nothing
   * smuggled reaches it, and the sidecar keeps serving.
   */
  malformedChunkClosedWithoutAnswer: new Set<Runtime>(['deno-native']),
  /**
   * An upload cut by MAX_REQUEST_BODY_BYTES after the app's answer started: the sidecar aborts
   * the app's request, ends the answer's body with an error and logs `body_too_large`, but
   * Deno.serve (2.9.6) at times leaves the client's connection open instead of cutting it (the
   * request body it was reading was cancelled mid-stream; a race, seen in about half the runs).
   * The client never receives a complete answer; it waits until it gives up.
   */
  cutAnswerMayStayOpen: new Set<Runtime>(['deno']),
  /**
   * Bun's fetch, the Bun adapter's upstream client, adds `User-Agent: Bun/x` and `Accept: *\/*`
   * when the client sent neither, and cannot be told not to (oven-sh/bun#17012). Everything the
   * client did send reaches the app unchanged. The client, not the listener: on both of Bun's.
   */
  fetchAddsDefaultHeaders: new Set<Runtime>(['bun', 'bun-native']),
  /**
   * An https TARGET signed by a private CA: Deno's node:http client (the Deno adapter's upstream
   * client) ignores DENO_CERT, and honours NODE_EXTRA_CA_CERTS only with read permission for the
   * file, which `deno task serve` does not grant. It fails closed: 502, nothing sent. A TARGET
   * with a publicly trusted certificate works as on the other runtimes. (WebSocket tunnels to
   * such a TARGET work: the relay's client, the ws package, does trust DENO_CERT.)
   */
  privateCaTargetRefused: new Set<Runtime>(['deno', 'deno-native']),
  /**
   * The same for a WebSocket tunnel to such a TARGET on Deno's node:http server: the byte tunnel's
   * handshake to the app goes through Deno's node:https client, which may not read the CA file
   * (runtimes/node/tunnel.ts): 502, nothing sent. Deno.serve's relay used the ws package, which
   * trusts DENO_CERT.
   */
  privateCaTunnelRefused: new Set<Runtime>(['deno']),
  /**
   * Deno.serve gives no Host header for an HTTP/2 request (the authority is only in the URL) and
   * does not say which version a request came in: over TLS the Deno adapter takes Host from the
   * URL whenever it is missing, so an HTTP/1.1 request without Host is forwarded with the
   * authority Deno put in its URL (`localhost:PORT`) instead of getting 400. Plain HTTP keeps
   * the 400.
   */
  tlsHttp11WithoutHostForwarded: new Set<Runtime>(['deno-native']),
  /**
   * Certificate rotation on Bun and Deno swaps listeners (runtimes/common/listener-swap.ts): the old one
   * is drained, so requests in flight finish, but its idle keep-alive connections are closed
   * (between requests, as on SIGTERM); their clients reconnect and get the new certificate.
   * Neither Bun.serve nor Deno.serve can stop accepting and leave idle connections open, nor
   * change a listener's certificate (oven-sh/bun#43815; Deno.serve has no reload). Node keeps them.
   */
  tlsRotationClosesIdleConnections: new Set<Runtime>(['bun-native', 'deno-native']),
  /**
   * Deno's TLS (rustls) lets the client choose among the offered suites, and Deno.serve has no
   * option to change that (its TLS options are cert, key and alpnProtocols: `deno types`). Every
   * suite offered is forward-secret AEAD, but testssl.sh 3.0.8 rates "NOT a cipher order
   * configured" HIGH (later releases check it per protocol and rate it LOW). Node and Bun use the
   * server's order. Deno's node:tls server (runtimes/deno.ts) ignores honorCipherOrder the same way.
   */
  tlsClientChoosesSuite: new Set<Runtime>(['deno', 'deno-native']),
  /**
   * Bun.serve and Deno.serve cannot hand over a raw connection (oven-sh/bun#35972;
   * denoland/deno#21856, #36528), so a WebSocket tunnel there is a message relay: each leg has its
   * own handshake (the app sees the sidecar's Sec-WebSocket-Key and no extension offer), its own
   * framing (fragment boundaries and masking are the relay's; a message is never altered, merged,
   * split or dropped) and no compression (permessage-deflate negotiated on neither leg). Messages
   * are held whole: up to WS_MAX_MESSAGE_BYTES (1009 beyond). Node tunnels the bytes.
   */
  webSocketRelayed: new Set<Runtime>(['bun-native', 'deno-native']),
  /**
   * A relay holds a message whole, so WS_MAX_MESSAGE_BYTES (16 MiB by default) bounds it: a
   * larger message, either way, closes the tunnel with 1009 on both legs and none of it is passed
   * on (Bun: maxPayloadLength; Deno: measured as received; the app's leg: the ws package's
   * maxPayload). Node's tunnel parses no message: the bytes pass unchanged, whatever their size.
   */
  webSocketMessageLimited: new Set<Runtime>(['bun-native', 'deno-native']),
  /**
   * Beyond 64 MiB Deno's own WebSocket reader (fastwebsockets' default, which Deno.upgradeWebSocket
   * cannot change) drops the connection (1006) before the relay sees the message, whatever
   * WS_MAX_MESSAGE_BYTES says; Bun closes with 1009 (maxPayloadLength). Nothing of the message
   * reaches the app, whose leg is cut. Node passes any size.
   */
  webSocketMessageLimitClose: { 'bun-native': 1009, 'deno-native': 1006 } as Partial<Record<Runtime, number>>,
  /**
   * Deno's WebSocket has no ping or pong API: Deno answers a client's ping itself (the app never
   * sees it), and the app's pings never reach the client (ws answers them, as the sidecar's
   * client to the app).
   */
  webSocketPingsAnsweredBySidecar: new Set<Runtime>(['deno-native']),
  /**
   * Deno's WebSocket cannot end a connection abruptly: when the app's connection resets, the
   * client gets a close frame without a code (1005) instead of a dropped connection (1006).
   */
  webSocketResetBecomesClose: new Set<Runtime>(['deno-native']),
  /**
   * Deno's WebSocket has no pause() (WebSocketStream is unstable): the relay cannot stop reading
   * a client that sends faster than the app reads, so it buffers those messages, and the relays'
   * budget (WS_RELAY_BUDGET_BYTES) cannot stop reading it either; nor does Deno.upgradeWebSocket
   * take a message size (`deno types`: protocol, idleTimeout, socket, head), so its reader holds up
   * to 64 MiB of a message before the relay can measure it. The other way (app to client) has
   * backpressure, through bufferedAmount, and is paused by the budget.
   */
  webSocketNoReceiveBackpressure: new Set<Runtime>(['deno-native']),
  /**
   * Deno.serve (hyper) answers 400 itself to a request carrying both an Upgrade header and a
   * Content-Length (a POST "upgrading" to websocket, say), before the handler sees it. Nothing
   * reaches the app; Node and Bun forward such a request as plain HTTP.
   */
  upgradeWithBodyRefusedByServer: new Set<Runtime>(['deno-native']),
  /**
   * Bun's built-in WebSocket client (what `import 'ws'` is on Bun) fails a handshake whose 101
   * names none of the offered subprotocols, and refuses to send the offer any other way: when the
   * app accepts without choosing one (RFC 6455 §4.2.2 allows it), the client gets 502.
   */
  webSocketNoSubprotocolRefused: new Set<Runtime>(['bun-native']),
  /**
   * Deno.serve's shutdown() closes every open WebSocket at once, so on SIGTERM the Deno sidecar
   * stops listening only once its tunnels have closed (or the drain deadline closed them): until
   * then a new connection is still accepted (/readyz is 503 from the start, as everywhere).
   */
  listenerOpenWhileTunnelsDrain: new Set<Runtime>(['deno-native']),
  /**
   * Deno.serve's shutdown() makes the body of every request in flight unreadable at once
   * (`BadResource`; denoland/deno#36809, open, Deno 2.9; fix proposed in denoland/deno#36825): an
   * upload still arriving when SIGTERM comes breaks off, the app never receives it whole, and the
   * client gets 502 `upstream_reset`. Requests whose body had arrived, and every answer, finish.
   */
  uploadInFlightCutByDrain: new Set<Runtime>(['deno-native']),
  /**
   * Bun.serve answers 400 itself, unlogged, to a WebSocket handshake whose first frame came in the
   * same write as the request (a client that did not wait for the 101, which RFC 6455 §4.1 forbids
   * it to do). The app sees nothing. Node tunnels those bytes; Deno relays the message.
   */
  webSocketEarlyFrameRefused: new Set<Runtime>(['bun-native']),
  /**
   * Bun.serve (uWebSockets) and Deno.serve (hyper) answer the requests their HTTP parser refuses
   * (an ambiguous length, a malformed header line or chunk, `Transfer-Encoding: xchunked`) without
   * ever handing them to JavaScript, and expose no event for them (Node's server has
   * `clientError`): no access-log line, no metric. Refusals the handler makes (no Host; on Deno,
   * headers over 16 KiB) are logged on every runtime.
   */
  parserRefusalsUnlogged: new Set<Runtime>(['bun-native', 'deno-native']),
  /** Bun's parser answers an HTTP/1.1 request without Host with 400 itself (so it is unlogged, as above). */
  missingHostRefusedByParser: new Set<Runtime>(['bun-native']),
  /**
   * A malformed chunk in a body Bun had already handed to the handler: Bun answers 400 and ends
   * the request as if the client had gone, and nothing tells the two apart, so the line says 499
   * `client_aborted`. The app still never receives a complete request.
   */
  midBodyRefusalLoggedAsClientAbort: new Set<Runtime>(['bun-native']),
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
  streamedContentLengthDropped: new Set<Runtime>(['bun-native']),
  /**
   * Bun.serve gives a body handed over as bytes `Content-Type: application/octet-stream` when the
   * Response has none (oven-sh/bun#21193, open; the fix oven-sh/bun#27252 was closed unmerged),
   * against the Fetch standard, which sets no type for a BufferSource body. A streamed body gets
   * none, so only an app's answer that arrived whole with its headers, without a Content-Type, is
   * labelled; on Bun's node:http server (`bun`) nothing is added.
   */
  untypedBytesLabelledOctetStream: new Set<Runtime>(['bun-native']),
  /**
   * A HEAD answer the app sent without Content-Length: Bun.serve would write `content-length: 0`
   * (oven-sh/bun#15355), so the Bun adapter names the framing instead, `Transfer-Encoding:
   * chunked`, which is how Bun sends that body to a GET (RFC 9112 §6.1 allows it in a HEAD answer).
   */
  headWithoutLengthSaysChunked: new Set<Runtime>(['bun-native']),
  /**
   * Deno.serve has no bound for idle keep-alive client connections and no option to set one
   * (denoland/deno#32497, open; the `keepAliveTimeout` option of denoland/deno#34172 is not in
   * Deno 2.9): CLIENT_IDLE_TIMEOUT_MS cannot apply, and an idle connection stays open until the
   * client closes it. No response handle or connection object is exposed to close it from JavaScript.
   * Deno's node:http server does bound them (its keepAliveTimeout, checked with Deno 2.9.6): the
   * way out is to run the Deno adapter on it, at a cost (a hello-world server measured 10-50%
   * slower than Deno.serve here, on a noisy machine), a change of adapter left for its own decision.
   */
  idleClientConnectionsUnbounded: new Set<Runtime>(['deno-native']),
  /**
   * Bun.serve's idleTimeout (CLIENT_IDLE_TIMEOUT_MS there) counts silence on the connection, a
   * response in progress included: a streamed response that sends nothing for that long (a quiet
   * event stream, a slow app between chunks) is cut. Bun.serve has no separate idle-connection
   * bound. Node bounds only connections with no request in flight.
   */
  silentResponseCutAtIdleTimeout: new Set<Runtime>(['bun-native']),
  /**
   * The same over HTTP/2 (test/tls/h2-idle.ts): Deno.serve never sends GOAWAY to a session that
   * has had no open stream for CLIENT_IDLE_TIMEOUT_MS (Deno.ServeTcpOptions has no idle option);
   * the session stays open and usable. Bun.serve sends GOAWAY to idle sessions, and, as over
   * HTTP/1.1, also cuts a stream that is quiet that long (silentResponseCutAtIdleTimeout). Both
   * node:http2 servers (the default listeners) bound idle sessions as Node's does.
   */
  idleH2SessionsUnbounded: new Set<Runtime>(['deno-native']),
  /**
   * Plain HTTP sent to the HTTPS port: Node and Bun look at the first byte before their TLS server
   * does (runtimes/node/plain-http.ts) and answer 400 saying the port speaks HTTPS. That front door
   * hands each TLS connection on with `emit('connection')`, and Deno's TLS server (node:http2's
   * secure server, Deno 2.9.6) answers the first request of a connection handed to it that way and
   * closes it a few ms later: a keep-alive client's next request gets "socket hang up" unless it
   * came sooner (test/tls/handed-connection.test.ts reproduces it in a few lines; the server
   * listening itself keeps the connection). So Deno's server listens itself, and its TLS stack (rustls) answers
   * plain HTTP with a TLS alert record (decode_error). Bun.serve and Deno.serve take the
   * connection straight into their TLS stack, with no hook before the handshake and no way to be
   * handed a connection peeked at elsewhere (oven-sh/bun#35972, denoland/deno#21856): Bun.serve
   * closes without a byte, Deno.serve sends the alert.
   */
  plainHttpOnTlsPortUnanswered: { deno: 'tls alert', 'bun-native': 'closed', 'deno-native': 'tls alert' } as Partial<
    Record<Runtime, 'closed' | 'tls alert'>
  >,
  /**
   * Spans carry `network.protocol.version` only where the runtime says which HTTP version its
   * parser read: Node's IncomingMessage.httpVersion. Bun.serve exposes no version (bun-types
   * serve.d.ts: the Server has requestIP() and nothing per request besides), nor does Deno.serve
   * (Deno.ServeHandlerInfo: remoteAddr and completed only). Semconv says to leave the attribute
   * out when the version is not known (http-spans.md [12]), so it is left out there.
   */
  httpVersionNotExposed: new Set<Runtime>(['bun-native', 'deno-native']),
} as const;
