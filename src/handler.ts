/**
 * The proxy: one web-standard fetch handler (a Hono app). A request's path through it, one named
 * step each (proxyRequest below):
 *   a WebSocket handshake goes to the tunnel (websocket/upgrade.ts)
 *   -> copyHeaders: the client's header fields as a FlatHeaders (proxy/request-checks.ts, proxy/flat-headers.ts)
 *   -> beginExchange: the exchange's record (exchange.ts) and its trace context (tracing/)
 *   -> refuseMalformed: 400/431 for what the runtime's parser let through (proxy/request-checks.ts)
 *   -> enter: the door: client address, allow list 403, rate limit 429, access control (door.ts)
 *   -> checkDeclaredLength: a Content-Length over MAX_REQUEST_BODY_BYTES, 413 (limits/body-limit.ts)
 *   -> prepareForwardHeaders: hop-by-hop dropped, X-Forwarded-*, X-Request-Id, traceparent (proxy/forward.ts)
 *   -> admit: a slot under MAX_CONCURRENT_REQUESTS, or 503 (overload/admission.ts)
 *   -> limited, send: the body cut past MAX_REQUEST_BODY_BYTES (413, or a cut answer); bounded by
 *      UPSTREAM_TIMEOUT_MS and the client's abort, one retry (proxy/upstream-call.ts)
 *   -> relayResponse: the app's response to the client, bytes counted (proxy/relay.ts), with
 *      HSTS and the drain's Connection: close (proxy/answer-headers.ts), as every answer gets them
 *   -> finish: when the body ends or breaks, the record finished once: metrics and log line (exchange.ts)
 * and anything that fails on the way is answered by the sidecar itself (errors.ts: 502, 504, 500).
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { Config } from './config.ts';
import { InternalError, SidecarError, errorBodyBytes, errorResponse } from './errors.ts';
import type { ErrorReason } from './errors.ts';
import { finishRecord, startRecord } from './exchange.ts';
import { createAdmission, releaseSlot } from './overload/admission.ts';
import { prepareForwardHeaders, requestIdFor, requestTarget, stripHopByHop, upstreamUrl } from './proxy/forward.ts';
import { createCompression } from './compress/compress.ts';
import type { Door } from './door.ts';
import { checkDeclaredLength, limitBody } from './limits/body-limit.ts';
import type { ResponseCompression } from './compress/compress.ts';
import { answerHeaders } from './proxy/answer-headers.ts';
import { relayResponse } from './proxy/relay.ts';
import type { RelayWatch } from './proxy/relay.ts';
import { copyHeaders, forwardedBody, refuseMalformed } from './proxy/request-checks.ts';
import type { UpstreamResponse } from './proxy/upstream.ts';
import { createSend } from './proxy/upstream-call.ts';
import { samplerFor } from './tracing/sampler.ts';
import { startSpan } from './tracing/trace-context.ts';
import { isWebSocketHandshake } from './websocket/entry.ts';

import type { Exchange, Proxy, ProxyDeps } from './proxy/deps.ts';

export type { ProxyDeps };

export function createProxy(config: Config, deps: ProxyDeps): Hono {
  const proxy: Proxy = {
    config,
    deps,
    proto: deps.proto ?? 'http',
    // One limiter for requests and WebSocket handshakes alike (sidecar.ts hands the same to Tunnels).
    admission: 'admission' in deps ? deps.admission : createAdmission(config, deps.metrics),
    sample: samplerFor(config),
    send: createSend(deps.upstream, config.UPSTREAM_TIMEOUT_MS),
    compress: deps.compressor ? createCompression(config, deps.compressor) : undefined,
    door: deps.door,
    maxBody: config.MAX_REQUEST_BODY_BYTES,
    answers: answerHeaders({
      hstsMaxAge: config.HSTS_MAX_AGE,
      draining: deps.draining,
      httpVersion: deps.httpVersion,
    }),
  };
  const app = new Hono();
  // One handler and no middleware: Hono then calls it without composing a chain.
  const answers = proxy.answers;
  app.all('*', answers ? async (c) => answers.answer(c, await proxyRequest(proxy, c)) : (c) => proxyRequest(proxy, c));
  app.onError((error, c) => {
    deps.onInternalError?.(error);
    const requestId = requestIdFor(c.req.header('x-request-id') ?? null);
    const answer = errorResponse(500, 'internal proxy error', requestId);
    return answers ? answers.answer(c, answer) : answer;
  });
  return app;
}

/** A request's path through the proxy, as the list of steps the file's header describes. */
async function proxyRequest(proxy: Proxy, c: Context): Promise<Response> {
  const request = c.req.raw;
  const { deps } = proxy;
  if (deps.tunnel !== undefined && isWebSocketHandshake(request.method, request.headers)) return deps.tunnel(c);
  const { headers, headerBytes } = copyHeaders(request, deps, c);
  const exchange = beginExchange(proxy, c, headers);
  const { record } = exchange;
  try {
    const malformed = refuseMalformed(headers, headerBytes);
    if (malformed) return refuse(proxy, exchange, malformed.status, 'bad_request', malformed.message, true);
    const turned = proxy.door && (await enter(proxy, proxy.door, exchange, request));
    if (turned) return turned;
    if (proxy.maxBody > 0 && checkDeclaredLength(headers.get('content-length'), proxy.maxBody) === 'over')
      return refuse(proxy, exchange, 413, 'body_too_large', 'request body too large', true);
    // Any Upgrade but a WebSocket handshake (h2c, a custom token, one Connection does not name)
    // is hop-by-hop: dropped here, and the request goes on as plain HTTP/1.1 (RFC 9110 §7.8).
    // X-Forwarded-For records the hop: the connection's peer, whoever the client is.
    prepareForwardHeaders(headers, {
      remoteAddress: exchange.peer,
      proto: proxy.proto,
      requestId: record.requestId,
      trace: exchange.trace,
    });
    proxy.door?.forwardHeaders(headers, exchange.identity);
    // Before the body is touched, so a queued upload is not read until it may go to the app.
    if (proxy.admission) exchange.release = await proxy.admission.admit(record, request.signal);
    const body = limited(
      proxy,
      exchange,
      forwardedBody(request, headers, (n) => (record.bytesIn += n)),
    );
    const response = await proxy.send(upstreamUrl(proxy.config.TARGET, record.path), request, headers, body);
    deps.onUpstreamAnswered?.();
    for (const cookie of exchange.setCookie ?? []) response.headers.append('set-cookie', cookie);
    return await relay(proxy, exchange, proxy.compress ? compress(proxy, request, response) : response);
  } catch (error) {
    return fail(proxy, exchange, error);
  }
}

/** The exchange's record (exchange.ts) and trace context, from the request's headers as received; it counts as active from here. */
function beginExchange(proxy: Proxy, c: Context, incoming: Headers): Exchange {
  const request = c.req.raw;
  const trace = startSpan(incoming.get('traceparent'), proxy.sample);
  const record = startRecord(proxy.config, {
    method: request.method,
    path: requestTarget(proxy.deps.rawTarget?.(c), request.url),
    requestId: requestIdFor(incoming.get('x-request-id')),
    trace,
    remoteAddr: proxy.deps.remoteAddress(c),
    userAgent: incoming.get('user-agent'),
    // The request's context: tracing/span.ts reads it, and finish() asks the runtime whether its
    // parser refused the request midway.
    context: c,
  });
  proxy.deps.metrics.requestStarted();
  const peer = record.remoteAddr;
  return { record, trace, context: c, startedAtPerf: performance.now(), done: false, release: undefined, peer };
}

/**
 * The door (door.ts): the client's address decided, then the allow list, the rate limit and
 * access control. A refusal (or one of the login's own routes) is the answer; otherwise the
 * exchange learns who the client and the user are.
 */
async function enter(proxy: Proxy, door: Door, exchange: Exchange, request: Request): Promise<Response | undefined> {
  const { record } = exchange;
  const outcome = await door({ request, peer: exchange.peer, target: record.path, requestId: record.requestId });
  record.remoteAddr = outcome.client;
  if (outcome.client !== exchange.peer) record.peerAddr = exchange.peer;
  if (outcome.pass) {
    record.user = outcome.identity?.user;
    exchange.identity = outcome.identity;
    exchange.setCookie = outcome.setCookie;
    return undefined;
  }
  record.user = outcome.user;
  // The door's answers are a line of text (or a redirect without a body): their size, as logged for
  // the sidecar's own errors. A copy is read; the answer itself goes out untouched.
  const { response } = outcome;
  if (record.method !== 'HEAD' && response.body !== null)
    record.bytesOut = (await response.clone().arrayBuffer()).byteLength;
  finish(proxy, exchange, response.status, outcome.error);
  return response;
}

/**
 * MAX_REQUEST_BODY_BYTES on a body whose length was not declared (or was, within the limit: the
 * runtime's parser holds it to that): counted while it streams, and cut where it passes the
 * limit, so the app never receives a complete body; fail() then answers 413.
 */
function limited(
  proxy: Proxy,
  exchange: Exchange,
  body: ReadableStream<Uint8Array> | null,
): ReadableStream<Uint8Array> | null {
  if (body === null || proxy.maxBody === 0) return body;
  return limitBody(body, proxy.maxBody, () => (exchange.bodyTooLarge = true));
}

/** The app's response to the client; the exchange finishes when its body has ended or broken. */
async function relay(proxy: Proxy, exchange: Exchange, response: UpstreamResponse): Promise<Response> {
  try {
    const { answers } = proxy;
    let completed = false;
    const watch: RelayWatch = {
      bytes: (n) => (exchange.record.bytesOut += n),
      end: (status, error) => finish(proxy, exchange, status, error),
    };
    const answer = await relayResponse(response, exchange.record.requestId, watch, {
      complete: answers && ((status, headers) => (completed = answers.relayed(exchange.context, status, headers))),
      headerArrays: proxy.deps.headerArrays,
    });
    if (completed) answers?.mark(answer);
    return answer;
  } catch (error) {
    // Never leave the app's body unread behind an error: release its connection.
    if (response.body instanceof ReadableStream) void response.body.cancel().catch(() => {});
    throw error;
  }
}

/**
 * COMPRESS: the app's response re-encoded for this client when it qualifies (compress/).
 * Hop-by-hop headers go first, so a Connection header cannot remove what compression adds.
 */
function compress(proxy: Proxy, request: Request, response: UpstreamResponse): UpstreamResponse {
  const { compressedBytes } = proxy.deps.metrics;
  stripHopByHop(response.headers);
  return (proxy.compress as ResponseCompression)(request, response, {
    input: (n) => compressedBytes.inc({ direction: 'in' }, n),
    output: (n) => compressedBytes.inc({ direction: 'out' }, n),
  });
}

/** The sidecar answers the request itself (a refusal); the exchange finishes with what was sent. */
function refuse(
  proxy: Proxy,
  exchange: Exchange,
  status: number,
  reason: ErrorReason,
  message: string,
  close = false,
): Response {
  // What the client is sent is this body (none to a HEAD), and the log says so.
  exchange.record.bytesOut = exchange.record.method === 'HEAD' ? 0 : errorBodyBytes(message);
  finish(proxy, exchange, status, reason);
  return errorResponse(status, message, exchange.record.requestId, close);
}

/** send() and the relay name every upstream failure; anything else is the sidecar's own (500). */
function fail(proxy: Proxy, exchange: Exchange, error: unknown): Response {
  if (exchange.bodyTooLarge) return refuse(proxy, exchange, 413, 'body_too_large', 'request body too large', true);
  const failure = error instanceof SidecarError ? error : new InternalError(error);
  if (failure instanceof InternalError) proxy.deps.onInternalError?.(error);
  return refuse(proxy, exchange, failure.status, failure.reason, failure.message);
}

/** The exchange's end, once: its slot given back, then the record finished (exchange.ts). */
function finish(proxy: Proxy, exchange: Exchange, status: number, error?: ErrorReason): void {
  if (exchange.done) return;
  exchange.done = true;
  releaseSlot(exchange);
  // A body the parser refused midway (a malformed chunk, `Transfer-Encoding: xchunked`) looks
  // to the handler like a client gone away; the client was in fact sent the parser's 400.
  const refusal = proxy.deps.refusal?.(exchange.context);
  // An upload over MAX_REQUEST_BODY_BYTES cut after the app's answer had started: the cut is the limit's.
  const reason = exchange.bodyTooLarge && error !== undefined ? 'body_too_large' : error;
  const outcome = refusal ? { status: refusal.status, error: refusal.reason } : { status, error: reason };
  // Counted with the door's refusals (door.ts counts its own).
  if (outcome.error === 'body_too_large') proxy.deps.metrics.refusals.inc({ reason: 'body_too_large' });
  finishRecord(exchange.record, { ...outcome, durationMs: performance.now() - exchange.startedAtPerf }, proxy.deps);
}
