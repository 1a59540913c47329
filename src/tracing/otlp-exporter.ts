/**
 * Sends one encoded batch to the collector over OTLP/HTTP with the web-standard fetch, retrying
 * as open-telemetry/opentelemetry-proto docs/specification.md asks: 429, 502, 503 and 504
 * ("Retryable Response Codes") and a server that disconnects or cannot be reached ("All Other
 * Responses", "OTLP/HTTP Connection") are retried with exponential backoff and jitter, or after
 * `Retry-After` when the server sends one ("OTLP/HTTP Throttling"); any other 4xx or 5xx MUST NOT
 * be retried. Each POST is bounded by OTEL_EXPORTER_OTLP(_TRACES)_TIMEOUT, all attempts together
 * by the batch processor's deadline (OTEL_BSP_EXPORT_TIMEOUT). The drain's flush stops retrying:
 * a collector that fails now will not be back before the process exits, and must not hold it.
 */

export interface OtlpTarget {
  url: string;
  protocol: 'http/protobuf' | 'http/json';
  headers: [string, string][];
  /** One POST's limit in ms; 0 means none (common.md "Timeout"). */
  timeoutMs: number;
}

export type ExportResult = { ok: true; attempts: number } | { ok: false; attempts: number; reason: string };

/**
 * Sends an encoded batch (otlp-protobuf.ts, otlp-json.ts), giving up at `deadline` (a
 * performance.now() time); once `noRetry` is aborted, a backoff under way ends and no attempt follows.
 */
export type SpanExporter = (
  body: Uint8Array | string,
  deadline: number,
  noRetry?: AbortSignal,
) => Promise<ExportResult>;

/** One POST's outcome, told as it happens (tracing.ts says the first failure at once, with its cause). */
export type AttemptOutcome = { ok: true } | { ok: false; reason: string; retry: boolean };

export interface ExporterOptions {
  fetch?: typeof fetch;
  /** 0..1, for the jitter; tests make it fixed. */
  random?: () => number;
  onAttempt?(outcome: AttemptOutcome): void;
}

const maxAttempts = 5;
const initialBackoffMs = 1000;
const maxBackoffMs = 5000;
/** The spec's client SHOULD cap on reading a response (4 MiB); the body is only read to free the connection. */
const maxResponseBytes = 4 * 1024 * 1024;
const retryableStatus = new Set([429, 502, 503, 504]);

export function createOtlpExporter(target: OtlpTarget, options: ExporterOptions = {}): SpanExporter {
  const fetchImpl = options.fetch ?? fetch;
  const random = options.random ?? Math.random;
  const headers = new Headers(target.headers);
  headers.set('content-type', target.protocol === 'http/json' ? 'application/json' : 'application/x-protobuf');
  // exporter.md "User Agent": identify the exporter.
  if (!headers.has('user-agent')) headers.set('user-agent', 'sidecar-otlp-exporter/0.1.0');

  return async (body, deadline, noRetry) => {
    let backoff = initialBackoffMs;
    let last = 'no attempt';
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const left = deadline - performance.now();
      if (left <= 0) return { ok: false, attempts: attempt - 1, reason: `${last}; export timeout reached` };
      const limit = target.timeoutMs > 0 ? Math.min(target.timeoutMs, left) : left;
      const outcome = await post(fetchImpl, target.url, headers, body, limit);
      options.onAttempt?.(outcome.ok ? { ok: true } : { ok: false, reason: outcome.reason, retry: outcome.retry });
      if (outcome.ok) return { ok: true, attempts: attempt };
      last = outcome.reason;
      if (!outcome.retry) return { ok: false, attempts: attempt, reason: last };
      // Jitter of +-20% keeps many sidecars that failed together from retrying together.
      const wait = outcome.retryAfterMs ?? Math.min(backoff, maxBackoffMs) * (0.8 + 0.4 * random());
      backoff *= 2;
      if (attempt === maxAttempts) break;
      if (performance.now() + wait >= deadline)
        return { ok: false, attempts: attempt, reason: `${last}; no time left to retry` };
      if (!(await backoffUnlessStopped(wait, noRetry)))
        return { ok: false, attempts: attempt, reason: `${last}; not retried: the process is exiting` };
    }
    return { ok: false, attempts: maxAttempts, reason: `${last}; gave up after ${maxAttempts} attempts` };
  };
}

/** Waits `ms`; resolves false at once, or as soon as `stop` is aborted. */
function backoffUnlessStopped(ms: number, stop: AbortSignal | undefined): Promise<boolean> {
  if (stop?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (waited: boolean) => {
      clearTimeout(timer);
      stop?.removeEventListener('abort', onAbort);
      resolve(waited);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    stop?.addEventListener('abort', onAbort, { once: true });
  });
}

type PostOutcome = { ok: true } | { ok: false; retry: boolean; reason: string; retryAfterMs?: number };

async function post(
  fetchImpl: typeof fetch,
  url: string,
  headers: Headers,
  body: Uint8Array | string,
  limitMs: number,
): Promise<PostOutcome> {
  // A timer cleared once answered, not AbortSignal.timeout(): that one lives its full 10 s and keeps
  // the finished request reachable, 20 of them a second under load.
  const controller = new AbortController();
  const timer = Number.isFinite(limitMs)
    ? setTimeout(() => controller.abort(), Math.max(1, Math.ceil(limitMs)))
    : undefined;
  try {
    let response: Response;
    try {
      response = await fetchImpl(url, {
        method: 'POST',
        headers,
        body: body as BodyInit,
        signal: controller.signal,
        redirect: 'manual',
      });
    } catch (error) {
      // A refused or reset connection, or our own timeout: the server may be back on the next try.
      const reason = controller.signal.aborted
        ? `no answer within ${Math.round(limitMs)} ms`
        : `network error (${networkCause(error)})`;
      return { ok: false, retry: true, reason };
    }
    await discard(response, controller.signal);
    if (response.status >= 200 && response.status < 300) return { ok: true };
    const reason = `HTTP ${response.status}`;
    if (!retryableStatus.has(response.status)) return { ok: false, retry: false, reason };
    return { ok: false, retry: true, reason, retryAfterMs: retryAfter(response.headers.get('retry-after')) };
  } finally {
    clearTimeout(timer);
  }
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. */
export function retryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Reads (a bounded part of) the answer so the connection can be reused; a partial_success is not acted on (never retried). */
async function discard(response: Response, signal: AbortSignal): Promise<void> {
  const reader = response.body?.getReader();
  if (!reader) return;
  let read = 0;
  try {
    while (read <= maxResponseBytes && !signal.aborted) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // The status is what counts; a body that breaks changes nothing.
  }
}

/**
 * What went wrong, as each runtime says it: a `code` on the error or its cause (undici's request:
 * `ECONNREFUSED` on the error; Node's fetch: on its `cause`; Bun: `ConnectionRefused`), else the
 * message (Deno's fetch: "... tcp connect error: Connection refused (os error 111)").
 */
export function networkCause(error: unknown): string {
  for (
    let e: unknown = error, depth = 0;
    e instanceof Object && depth < 4;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const { code } = e as { code?: unknown };
    if (typeof code === 'string' && code !== '') return code;
  }
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const message = cause instanceof Error && cause.message !== '' ? cause.message : error.message;
  return (message === '' ? error.name : message).slice(0, 200);
}
