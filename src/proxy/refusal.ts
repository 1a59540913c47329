/**
 * Requests the runtime's HTTP parser refused before, or while, the handler had them: a malformed
 * request line or header, a length that is ambiguous, a header block over 16 KiB, headers that
 * never finished arriving. The runtime answers these itself (Node through its server's
 * `clientError` event); the core writes the access-log record and counts the metrics, the same
 * as for any other exchange, with the status the client was really sent (SPEC, Logging; Envoy
 * logs the same requests with its DPE response flag).
 */
import type { Config } from '../config.ts';
import type { ErrorReason } from '../errors.ts';
import { requestIdFor } from './forward.ts';
import type { AccessRecord } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { startSpan } from '../tracing/trace-context.ts';

/** What the runtime knows of a request it refused. */
export interface Refusal {
  /** The status the runtime wrote to the client (400, 408, 431). */
  status: number;
  reason: Extract<ErrorReason, 'bad_request' | 'request_timeout'>;
  /** From the request line, when it could be read; `-` otherwise, as Envoy and nginx log it. */
  method?: string;
  path?: string;
  remoteAddress?: string;
}

/** Logs and counts one refused request that never became an exchange of the handler's. */
export type RefusalLog = (refusal: Refusal) => void;

export function createRefusalLog(
  config: Config,
  deps: { log(record: AccessRecord): void; metrics: Metrics },
): RefusalLog {
  return (refusal) => {
    const method = refusal.method ?? '-';
    const trace = startSpan(null);
    // Counted as a request that started and ended at once: the active gauge is left unchanged.
    deps.metrics.requestStarted();
    deps.metrics.requestFinished(method, refusal.status, 0);
    deps.log({
      startedAt: Date.now(),
      service: config.SRV_NAME,
      target: config.TARGET.href,
      method,
      path: refusal.path ?? '-',
      status: refusal.status,
      durationMs: 0,
      bytesIn: 0,
      bytesOut: 0,
      requestId: requestIdFor(null),
      traceId: trace.traceId,
      spanId: trace.spanId,
      remoteAddr: refusal.remoteAddress,
      userAgent: null,
      error: refusal.reason,
    });
  };
}
