/**
 * The sidecar's failures, one small type each, and the one place they become responses
 * (docs/behaviour.md, Proxying: 502 / 504 / 500, each with X-Request-Id and a short text body).
 */

/** The reason written to the access log's `error` field and to `sidecar_upstream_errors_total{reason}`. */
export type ErrorReason =
  | 'upstream_refused'
  | 'upstream_reset'
  | 'upstream_timeout'
  | 'upstream_unreachable'
  | 'upstream_tls'
  | 'upstream_broken'
  | 'client_aborted'
  | 'bad_request'
  | 'overloaded'
  | 'request_timeout'
  | 'internal'
  // Refused at the door (door.ts): ALLOW_CIDRS, RATE_LIMIT_RPS, access control, MAX_REQUEST_BODY_BYTES.
  | 'forbidden'
  | 'rate_limited'
  | 'unauthenticated'
  | 'auth_unavailable'
  | 'body_too_large';

export class SidecarError extends Error {
  override name = 'SidecarError';
  readonly reason: ErrorReason;
  readonly status: number;
  constructor(reason: ErrorReason, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
    this.status = status;
  }
}

/** The app refused the connection (nothing listens on TARGET's port). */
export class UpstreamRefusedError extends SidecarError {
  override name = 'UpstreamRefusedError';
  constructor(cause?: unknown) {
    super('upstream_refused', 502, 'upstream refused the connection', { cause });
  }
}

/** The connection to the app closed or reset before its response headers arrived. */
export class UpstreamResetError extends SidecarError {
  override name = 'UpstreamResetError';
  constructor(cause?: unknown) {
    super('upstream_reset', 502, 'upstream closed the connection before responding', { cause });
  }
}

/** No response headers within UPSTREAM_TIMEOUT_MS. */
export class UpstreamTimeoutError extends SidecarError {
  override name = 'UpstreamTimeoutError';
  constructor(timeoutMs: number) {
    super('upstream_timeout', 504, `upstream sent no response headers within ${timeoutMs} ms`);
  }
}

/** The app could not be reached for another reason (DNS, unreachable network, TLS). */
export class UpstreamUnreachableError extends SidecarError {
  override name = 'UpstreamUnreachableError';
  constructor(cause?: unknown) {
    super('upstream_unreachable', 502, 'upstream could not be reached', { cause });
  }
}

/** The app's TLS certificate could not be verified (an https TARGET): nothing was sent to it. */
export class UpstreamTlsError extends SidecarError {
  override name = 'UpstreamTlsError';
  constructor(cause?: unknown) {
    super('upstream_tls', 502, "upstream's TLS certificate could not be verified", { cause });
  }
}

/** The app's body broke before the sidecar had sent the client anything: still time for a 502. */
export class UpstreamBrokenError extends SidecarError {
  override name = 'UpstreamBrokenError';
  constructor(cause?: unknown) {
    super('upstream_broken', 502, 'upstream response broke off', { cause });
  }
}

/** The client went away before the exchange finished. Nobody reads this response. */
export class ClientAbortedError extends SidecarError {
  override name = 'ClientAbortedError';
  constructor() {
    super('client_aborted', 499, 'client closed the connection');
  }
}

/**
 * MAX_CONCURRENT_REQUESTS requests were at the app and no slot came: the queue was full, or the
 * wait ran out (admission.ts). The app never saw the request.
 */
export class OverloadedError extends SidecarError {
  override name = 'OverloadedError';
  readonly rejection: 'queue_full' | 'queue_timeout';
  constructor(rejection: 'queue_full' | 'queue_timeout') {
    super(
      'overloaded',
      503,
      rejection === 'queue_full'
        ? 'overloaded: too many requests waiting for the app'
        : 'overloaded: no slot at the app in time',
    );
    this.rejection = rejection;
  }
}

/** The sidecar itself failed (a bug): 500, and the process goes on serving. */
export class InternalError extends SidecarError {
  override name = 'InternalError';
  constructor(cause?: unknown) {
    super('internal', 500, 'internal proxy error', { cause });
  }
}

const refusedCodes = new Set(['ECONNREFUSED', 'ConnectionRefused']);
const resetCodes = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ConnectionClosed',
  'ConnectionReset',
  'FailedToOpenSocket',
]);
/** OpenSSL's and Node's certificate verification codes, which Bun reports the same way. */
const tlsCodes =
  /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH)/;
const unreachableCodes = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Recognises each runtime's network-failure shape (undici's `code` and `cause.code`, Bun's
 * `code` names, Deno's error class names and messages) and names it.
 * Anything unrecognised counts as a reset: the upstream failed before answering.
 */
export function classifyUpstreamFailure(error: unknown): SidecarError {
  if (error instanceof SidecarError) return error;
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, name, message } = e as { code?: unknown; name?: unknown; message?: unknown };
    const tag = typeof code === 'string' ? code : typeof name === 'string' ? name : '';
    if (refusedCodes.has(tag) || /connection refused|ECONNREFUSED/i.test(String(message)))
      return new UpstreamRefusedError(error);
    if (unreachableCodes.has(tag)) return new UpstreamUnreachableError(error);
    if (tlsCodes.test(tag) || /certificate|unable to verify/i.test(String(message))) return new UpstreamTlsError(error);
    if (resetCodes.has(tag) || /connection reset|ECONNRESET|socket hang up|other side closed/i.test(String(message))) {
      return new UpstreamResetError(error);
    }
  }
  return new UpstreamResetError(error);
}

const encoder = new TextEncoder();

/** The size of errorResponse's body for `message`: the access log's bytes_out when the sidecar answers itself. */
export function errorBodyBytes(message: string): number {
  return encoder.encode(`${message}\n`).byteLength;
}

/** The sidecar's own answer for a failure: short, plain text, never cached. */
export function errorResponse(status: number, message: string, requestId: string, close = false): Response {
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-request-id': requestId,
  };
  // A malformed request leaves the connection in doubt: end it (RFC 9112 §9.6).
  if (close) headers.connection = 'close';
  // The proxy's only 503 is overload (OverloadedError): RFC 9110 §10.2.3 lets it say when to come
  // back, and a second is the queue's own scale (QUEUE_TIMEOUT_MS defaults to 1000).
  if (status === 503) headers['retry-after'] = '1';
  return new Response(`${message}\n`, { status, headers });
}
