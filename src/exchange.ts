/**
 * The exchange record: everything known about one exchange (a request, a WebSocket tunnel, or a
 * request the runtime's parser refused), filled in as it goes and finished once. The access-log
 * line (logger.ts), the metrics and the span (tracing/span.ts) are all read from it, so a field is
 * added here, once, and every kind of exchange carries it.
 */
import type { Context } from 'hono';
import type { Config } from './config.ts';
import type { ErrorReason } from './errors.ts';
import type { Metrics } from './metrics.ts';
import type { TraceContext } from './tracing/trace-context.ts';

export interface AccessRecord {
  /** When the request arrived (epoch ms). */
  startedAt: number;
  service: string;
  target: string;
  method: string;
  /** Path and query as received. */
  path: string;
  /** The status sent; 499 when the client went away first. */
  status: number;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  requestId: string;
  traceId: string;
  spanId: string;
  /** The client's address (limits/client-address.ts): the connection's peer unless TRUSTED_PROXIES says otherwise. */
  remoteAddr: string | undefined;
  /** The connection's peer, when it differs from remoteAddr (a trusted proxy): spans' network.peer.address. */
  peerAddr?: string | undefined;
  /** Who access control let through (or refused with 403); never a token, never a cookie. */
  user?: string | undefined;
  userAgent: string | null;
  error: ErrorReason | undefined;
  /** Time spent waiting for a slot (MAX_CONCURRENT_REQUESTS); undefined when no limit is set. */
  queueMs?: number | undefined;
  /** Set on a tunnel's record (written when the tunnel closes): the protocol it switched to. */
  upgrade?: 'websocket';
  /** For the exchange's span (tracing/span.ts), never logged: the incoming parent's span id and the flags the app received. */
  parentSpanId?: string | undefined;
  traceFlags?: string;
  /**
   * The request as it came, for tracing/span.ts (Host, X-Forwarded-For, tracestate, scheme) where
   * there is no context to read it from: Node's raw WebSocket tunnel.
   */
  request?: { headers: Pick<Headers, 'get'>; url: string };
  /** The exchange's Hono context, after the fact: tracing/span.ts reads Host, tracestate and the HTTP version; the handler asks it whether the runtime's parser refused the request. */
  context?: Context;
}

/** What is known when an exchange begins. */
export interface ExchangeStart {
  method: string;
  path: string;
  requestId: string;
  trace: TraceContext;
  remoteAddr: string | undefined;
  userAgent: string | null;
  context?: Context | undefined;
  request?: AccessRecord['request'];
}

/** A new record: status 0 and no bytes until the exchange finishes. */
export function startRecord(config: Pick<Config, 'SRV_NAME' | 'TARGET'>, start: ExchangeStart): AccessRecord {
  const { trace } = start;
  return {
    startedAt: Date.now(),
    service: config.SRV_NAME,
    target: config.TARGET.href,
    method: start.method,
    path: start.path,
    status: 0,
    durationMs: 0,
    bytesIn: 0,
    bytesOut: 0,
    requestId: start.requestId,
    traceId: trace.traceId,
    spanId: trace.spanId,
    remoteAddr: start.remoteAddr,
    userAgent: start.userAgent,
    error: undefined,
    queueMs: undefined,
    parentSpanId: trace.parentSpanId,
    traceFlags: trace.flags,
    context: start.context,
    request: start.request,
  };
}

/** Where a finished exchange goes: the request histogram and upstream-error counter, and the log (and span). */
export interface ExchangeSink {
  metrics: Metrics;
  log(record: AccessRecord): void;
}

/**
 * The one finisher: the status sent and the sidecar's error reason, counted in the request
 * histogram (and `sidecar_upstream_errors_total` for an upstream failure), then logged.
 */
export function finishRecord(
  record: AccessRecord,
  outcome: { status: number; error?: ErrorReason | undefined; durationMs: number },
  sink: ExchangeSink,
): void {
  record.status = outcome.status;
  record.error = outcome.error;
  record.durationMs = outcome.durationMs;
  sink.metrics.requestFinished(record.method, outcome.status, outcome.durationMs / 1000);
  if (outcome.error?.startsWith('upstream_')) sink.metrics.upstreamError(outcome.error);
  sink.log(record);
}
