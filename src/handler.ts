/**
 * The proxy: one web-standard fetch handler (a Hono app). A request's path through it:
 *   a WebSocket handshake goes to the tunnel (upgrade.ts) -> build the upstream request (forward.ts, src/tracing/trace-context.ts)
 *   -> wait for a slot under MAX_CONCURRENT_REQUESTS, or 503 (admission.ts)
 *   -> send it, bounded by UPSTREAM_TIMEOUT_MS and the client's abort (upstream.ts)
 *   -> answer with the app's response (relay.ts), or with the sidecar's own error (errors.ts)
 *   -> when the body ends or breaks, one access-log record and the metrics (logger.ts, metrics.ts).
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { Config } from './config.ts';
import { InternalError, SidecarError, errorResponse } from './errors.ts';
import type { ErrorReason } from './errors.ts';
import { createAdmission } from './overload/admission.ts';
import type { Admission, Release } from './overload/admission.ts';
import { hsts } from './tls/https.ts';
import { prepareForwardHeaders, requestIdFor, requestTarget, upstreamUrl } from './proxy/forward.ts';
import type { AccessRecord } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { startSpan } from './tracing/trace-context.ts';
import { relayResponse } from './proxy/relay.ts';
import { isWebSocketHandshake } from './websocket/upgrade.ts';
import type { Refusal } from './proxy/refusal.ts';
import { samplerFor } from './tracing/sampler.ts';
import type { UpstreamClient } from './proxy/upstream.ts';
import { createSend } from './proxy/upstream-call.ts';

export interface ProxyDeps {
  upstream: UpstreamClient;
  /** The client's address as the runtime saw it (Hono's getConnInfo for that runtime). */
  remoteAddress(c: Context): string | undefined;
  /** The request-target exactly as received, where the runtime exposes it (Node does). */
  rawTarget?(c: Context): string | undefined;
  /** Receives one record per finished request. */
  log(record: AccessRecord): void;
  metrics: Metrics;
  /**
   * The authority of an HTTP/2 request (`:authority`), where the runtime hands it over without a
   * Host header (Node's adapter and Deno do); the app speaks HTTP/1.1 and needs Host.
   */
  authority?(c: Context): string | undefined;
  /** `http`, or `https` once the listener terminates TLS. */
  proto?: 'http' | 'https';
  /** Called with what the sidecar itself failed on (a bug, not an upstream failure). */
  onInternalError?(error: unknown): void;
  /** Told whenever the app answered, so readiness need not probe while traffic flows. */
  onUpstreamAnswered?(): void;
  /** Takes a WebSocket handshake (upgrade.ts) on runtimes whose server hands it to the fetch handler. */
  tunnel?(c: Context): Promise<Response>;
  /** MAX_CONCURRENT_REQUESTS' limiter, when it is shared with WebSocket handshakes; made here otherwise. */
  admission?: Admission | undefined;
  /** Whether the runtime's parser refused (and answered) the rest of this request (Node: `clientError`). */
  refusal?(c: Context): Refusal | undefined;
}

/** Everything known about one exchange, filled in as it goes and logged once at the end. */
interface Exchange {
  record: AccessRecord;
  startedAtPerf: number;
  done: boolean;
  /** The slot under MAX_CONCURRENT_REQUESTS this exchange holds, if any (given back by releaseSlot). */
  release: Release | undefined;
}

/** Gives the exchange's slot back, once however often it is called (finish, or a tunnel's handshake answered). */
export function releaseSlot(exchange: { release: Release | undefined }): void {
  const release = exchange.release;
  exchange.release = undefined;
  release?.();
}

export function createProxy(config: Config, deps: ProxyDeps): Hono {
  const { metrics } = deps;
  const send = createSend(deps.upstream, config.UPSTREAM_TIMEOUT_MS);
  const proto = deps.proto ?? 'http';
  // One limiter for requests and WebSocket handshakes alike (sidecar.ts hands the same to Tunnels).
  const admission = 'admission' in deps ? deps.admission : createAdmission(config, metrics);
  const sample = samplerFor(config);

  const finish = (exchange: Exchange, status: number, error?: ErrorReason): void => {
    if (exchange.done) return;
    exchange.done = true;
    releaseSlot(exchange);
    // A body the parser refused midway (a malformed chunk, `Transfer-Encoding: xchunked`) looks
    // to the handler like a client gone away; the client was in fact sent the parser's 400.
    const context = exchange.record.context;
    const refusal = context && deps.refusal?.(context);
    if (refusal) {
      status = refusal.status;
      error = refusal.reason;
    }
    const r = exchange.record;
    r.status = status;
    r.error = error;
    r.durationMs = performance.now() - exchange.startedAtPerf;
    metrics.requestFinished(r.method, status, r.durationMs / 1000);
    if (error?.startsWith('upstream_')) metrics.upstreamError(error);
    deps.log(r);
  };

  const app = new Hono();
  if (config.HSTS_MAX_AGE !== undefined) app.use(hsts(config.HSTS_MAX_AGE));

  app.all('*', async (c) => {
    const request = c.req.raw;
    if (deps.tunnel !== undefined && isWebSocketHandshake(request.method, request.headers)) return deps.tunnel(c);
    const incoming = request.headers;
    const requestId = requestIdFor(incoming.get('x-request-id'));
    const trace = startSpan(incoming.get('traceparent'), sample);
    const exchange: Exchange = {
      startedAtPerf: performance.now(),
      done: false,
      release: undefined,
      record: {
        startedAt: Date.now(),
        service: config.SRV_NAME,
        target: config.TARGET.href,
        method: request.method,
        path: requestTarget(deps.rawTarget?.(c), request.url),
        status: 0,
        durationMs: 0,
        bytesIn: 0,
        bytesOut: 0,
        requestId,
        traceId: trace.traceId,
        spanId: trace.spanId,
        remoteAddr: deps.remoteAddress(c),
        userAgent: incoming.get('user-agent'),
        error: undefined,
        queueMs: undefined,
        parentSpanId: trace.parentSpanId,
        traceFlags: trace.flags,
        // The request's context: span.ts reads it, and finish() asks the runtime whether its
        // parser refused the request midway.
        context: c,
      },
    };
    metrics.requestStarted();

    try {
      // One pass over the incoming headers: copied for the app, and measured.
      const headers = new Headers();
      let headerBytes = request.method.length + request.url.length + 12;
      for (const [name, value] of incoming) {
        headers.append(name, value);
        headerBytes += name.length + value.length + 4;
      }
      // RFC 9113 §8.3.1: HTTP/2 carries the host in :authority; RFC 9112 §3.2 wants it as Host.
      const authority = headers.has('host') ? undefined : deps.authority?.(c);
      if (authority) headers.set('host', authority);
      const refusal = refuseMalformed(headers, headerBytes);
      if (refusal) {
        finish(exchange, refusal.status, 'bad_request');
        return errorResponse(refusal.status, refusal.message, requestId, true);
      }
      // Any Upgrade but a WebSocket handshake (h2c, a custom token, one Connection does not name)
      // is hop-by-hop: dropped here, and the request goes on as plain HTTP/1.1 (RFC 9110 §7.8).
      prepareForwardHeaders(headers, { remoteAddress: exchange.record.remoteAddr, proto, requestId, trace });

      // Protecting the app: a slot, waited for in arrival order, or OverloadedError's 503 (below).
      // Before the body is touched, so a queued upload is not read until it may go to the app.
      if (admission) exchange.release = await admission.admit(exchange.record, request.signal);

      // GET and HEAD carry no body: a fetch Request cannot hold one (RFC 9110 §9.3.1 gives it no
      // meaning either), so its framing headers must not promise the app one that never comes.
      // Not asking also spares a runtime from building a body (on Node, reading request.body
      // turns @hono/node-server's lazy Request into a full one).
      const method = request.method;
      const bodiless = method === 'GET' || method === 'HEAD';
      if (bodiless) headers.delete('content-length');
      const source = bodiless ? null : request.body;
      const body = source === null ? null : countBytes(source, (n) => (exchange.record.bytesIn += n));
      const response = await send(upstreamUrl(config.TARGET, exchange.record.path), request, headers, body);
      deps.onUpstreamAnswered?.();
      try {
        return await relayResponse(response, requestId, {
          bytes: (n) => (exchange.record.bytesOut += n),
          end: (status, error) => finish(exchange, status, error),
        });
      } catch (error) {
        // Never leave the app's body unread behind an error: release its connection.
        if (response.body instanceof ReadableStream) void response.body.cancel().catch(() => {});
        throw error;
      }
    } catch (error) {
      // send() and the relay name every upstream failure; anything else is the sidecar's own.
      const failure = error instanceof SidecarError ? error : new InternalError(error);
      if (failure instanceof InternalError) deps.onInternalError?.(error);
      finish(exchange, failure.status, failure.reason);
      return errorResponse(failure.status, failure.message, requestId);
    }
  });

  app.onError((error, c) => {
    deps.onInternalError?.(error);
    const requestId = requestIdFor(c.req.header('x-request-id') ?? null);
    return errorResponse(500, 'internal proxy error', requestId);
  });

  return app;
}

/** RFC 9112 §3.2 and RFC 6585 §5; Node's parser enforces these too, Deno's does not. */
const maxHeaderBytes = 16 * 1024;

/**
 * What a runtime's HTTP parser may have let through: no Host (HTTP/1.0 clients included, which
 * a sidecar in front of a pod never serves), or a request line and headers (`name: value\r\n`
 * each) over 16 KiB.
 */
function refuseMalformed(headers: Headers, headerBytes: number): { status: number; message: string } | undefined {
  if (!headers.has('host')) return { status: 400, message: 'missing Host header' };
  if (headerBytes > maxHeaderBytes) return { status: 431, message: 'request header fields too large' };
  return undefined;
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
