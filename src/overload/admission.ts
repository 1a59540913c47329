/**
 * Protecting the app (docs/behaviour.md, Protecting the app): MAX_CONCURRENT_REQUESTS requests in
 * flight to the app at most, the rest waiting in arrival order (at most MAX_QUEUED_REQUESTS, each at most
 * QUEUE_TIMEOUT_MS), beyond either a 503 (errors.ts: OverloadedError, with Retry-After). The queue
 * itself is limiter.ts; this file is what the proxy asks of it, and what it records.
 *
 * A slot is held from when the sidecar sends the request until the app's response body has ended
 * (or broke, or the client left): the handler releases it in the exchange's finish. A WebSocket
 * tunnel holds one only while its handshake is in flight: the tunnel code calls admit() before
 * asking the app, and the release it got once the app has answered the handshake.
 */
import type { Config } from '../config.ts';
import { ClientAbortedError, OverloadedError } from '../errors.ts';
import { ConcurrencyLimiter } from './limiter.ts';
import type { Clock } from './limiter.ts';
import type { Metrics } from '../metrics.ts';

/** Gives the slot back. Call it exactly once per admission. */
export type Release = () => void;

export interface Admission {
  /**
   * Waits for a slot, in arrival order, and resolves with its release once the request may go to
   * the app; the time waited goes into `record.queueMs` (0 when a slot was free). Throws
   * OverloadedError (counted in sidecar_overload_rejections_total) when the queue is full or the
   * wait ran out, and ClientAbortedError when `signal` aborted first (the client left the queue).
   */
  admit(record: { queueMs?: number }, signal: AbortSignal): Promise<Release>;
}

/** The proxy's admission control, or undefined when MAX_CONCURRENT_REQUESTS is 0 (no limit: nothing on the request path). */
export function createAdmission(config: Config, metrics: Metrics, clock?: Clock): Admission | undefined {
  if (config.MAX_CONCURRENT_REQUESTS === 0) return undefined;
  const limiter = new ConcurrencyLimiter({
    maxConcurrent: config.MAX_CONCURRENT_REQUESTS,
    maxQueued: config.MAX_QUEUED_REQUESTS,
    queueTimeoutMs: config.QUEUE_TIMEOUT_MS,
    clock,
  });
  metrics.countQueuedRequests(() => limiter.queued);
  const now = clock ? () => clock.now() : () => performance.now();
  const { release } = limiter;
  return {
    async admit(record, signal) {
      // Read before asking, so a timed-out wait logs at least QUEUE_TIMEOUT_MS.
      const queuedAt = now();
      const immediate = limiter.acquire(signal);
      if (immediate === 'admitted') {
        record.queueMs = 0;
        return release;
      }
      // Refused at once (queue full), or queued: then the wait is what the log shows.
      const outcome = typeof immediate === 'string' ? immediate : await immediate;
      record.queueMs = typeof immediate === 'string' ? 0 : now() - queuedAt;
      if (outcome === 'admitted') return release;
      if (outcome === 'aborted') throw new ClientAbortedError();
      metrics.overloadRejected(outcome);
      throw new OverloadedError(outcome);
    },
  };
}

/** Gives an exchange's slot back, once however often it is called (its finish, or a tunnel's handshake answered). */
export function releaseSlot(exchange: { release: Release | undefined }): void {
  const release = exchange.release;
  exchange.release = undefined;
  release?.();
}
