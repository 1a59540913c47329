/**
 * The upstream call of one request: bounded by UPSTREAM_TIMEOUT_MS and the client's abort, with one
 * retry on a stale pooled connection. Failures come out named (errors.ts), never as a runtime's
 * own error shape.
 */
import { ClientAbortedError, UpstreamTimeoutError, classifyUpstreamFailure } from '../errors.ts';
import type { UpstreamClient, UpstreamResponse } from './upstream.ts';

/** RFC 9110 §9.2.2: these may be sent twice without changing the outcome. */
const idempotentMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Sends `request`'s method to `url` with `headers` and `body`, and resolves at the app's response headers. */
export type Send = (
  url: string,
  request: Request,
  headers: Headers,
  body: ReadableStream<Uint8Array> | null,
) => Promise<UpstreamResponse>;

/**
 * Sends the request, bounded by the headers timeout and the client's abort. A reset before any
 * response on a request that is idempotent and has no body is retried once: a pooled
 * connection the app closed just as it was reused must not cost the client a 502.
 */
export function createSend(upstream: UpstreamClient, timeoutMs: number): Send {
  return async function send(url, request, headers, body) {
    const controller = new AbortController();
    const onClientAbort = () => controller.abort(new ClientAbortedError());
    if (request.signal.aborted) throw new ClientAbortedError();
    request.signal.addEventListener('abort', onClientAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new UpstreamTimeoutError(timeoutMs)), timeoutMs);
    // The race makes the timeout and the client's abort final even if a runtime's client fails
    // to honour its signal (Deno's node:http did not, before its response headers).
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    aborted.catch(() => {});
    const attempt = () => {
      const response = upstream({ method: request.method, url, headers, body, signal: controller.signal });
      // A response that loses the race is nobody's: release its connection.
      aborted.catch(() =>
        response.then(
          (r) => void (r.body instanceof ReadableStream && r.body.cancel().catch(() => {})),
          () => {},
        ),
      );
      return Promise.race([response, aborted]);
    };
    try {
      try {
        return await attempt();
      } catch (error) {
        if (controller.signal.aborted) throw controller.signal.reason;
        const failure = classifyUpstreamFailure(error);
        if (failure.reason !== 'upstream_reset' || body !== null || !idempotentMethods.has(request.method))
          throw failure;
        return await attempt().catch((retryError: unknown) => {
          throw controller.signal.aborted ? controller.signal.reason : classifyUpstreamFailure(retryError);
        });
      }
    } finally {
      clearTimeout(timer);
      // The client's abort must still reach the upstream while the body streams: the relay
      // stream's cancel covers that, so this listener is no longer needed.
      request.signal.removeEventListener('abort', onClientAbort);
    }
  };
}
