/**
 * Requests the runtime's HTTP parser refused before, or while, the handler had them: a malformed
 * request line or header, a length that is ambiguous, a header block over 16 KiB, headers that
 * never finished arriving. The runtime answers these itself (Node through its server's
 * `clientError` event); the core writes the access-log record and counts the metrics, the same
 * as for any other exchange, with the status the client was really sent (docs/behaviour.md, Logging; Envoy
 * logs the same requests with its DPE response flag).
 */
import type { Config } from '../config.ts';
import type { ErrorReason } from '../errors.ts';
import { requestIdFor } from './forward.ts';
import { finishRecord, startRecord } from '../exchange.ts';
import type { ExchangeSink } from '../exchange.ts';
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
  /** The body of the runtime's answer, in bytes (its bytes_out); none when it sent only a status line and headers. */
  bytesOut?: number;
}

/** Logs and counts one refused request that never became an exchange of the handler's. */
export type RefusalLog = (refusal: Refusal) => void;

export function createRefusalLog(config: Config, sink: ExchangeSink): RefusalLog {
  return (refusal) => {
    const record = startRecord(config, {
      method: refusal.method ?? '-',
      path: refusal.path ?? '-',
      requestId: requestIdFor(null),
      trace: startSpan(null),
      remoteAddr: refusal.remoteAddress,
      userAgent: null,
    });
    record.bytesOut = refusal.bytesOut ?? 0;
    // Counted as a request that started and ended at once: the active gauge is left unchanged.
    sink.metrics.requestStarted();
    finishRecord(record, { status: refusal.status, error: refusal.reason, durationMs: 0 }, sink);
  };
}
