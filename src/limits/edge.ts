/**
 * The first steps on the request path, in their order: client address -> allow list -> rate
 * limit, as one call. What comes next (access control, the body limit, the overload queue) is
 * the handler's. Built once from the configuration; undefined when ALLOW_CIDRS, RATE_LIMIT_RPS
 * and TRUSTED_PROXIES are all unset, so the handler skips the step and pays nothing.
 */
import { addressKey } from './ip-address.ts';
import { clientAddressResolver } from './client-address.ts';
import type { LimitsConfig } from './config.ts';
import { rateLimitBurst } from './config.ts';
import { RateLimiter, refusalHeaders } from './rate-limit.ts';
import type { RatePolicy } from './rate-limit.ts';

/** A request the sidecar answers itself; `error` is the access log's `error` field. */
export interface EdgeRefusal {
  status: 403 | 429;
  error: 'forbidden' | 'rate_limited';
  headers: Readonly<Record<string, string>>;
}

export interface EdgeOutcome {
  /** The client's address (client-address.ts): the log's remote_addr and spans' client.address. */
  client: string | undefined;
  refusal?: EdgeRefusal;
}

/** `peer`: the connection's remote address; `forwardedFor`: `request.headers.get('x-forwarded-for')`. */
export type EdgeStep = (peer: string | undefined, forwardedFor: string | null | undefined) => EdgeOutcome;

export interface EdgeOptions {
  /** Milliseconds, monotonic (the rate limiter's clock); performance.now() when not given. */
  now?: () => number;
  /** Bound on the rate limiter's table of clients (rate-limit.ts, defaultMaxClients). */
  maxClients?: number;
}

/** What the step was built with, for the status page and metrics (rate-limit table size). */
export interface EdgeState {
  readonly policy: RatePolicy | undefined;
  readonly trackedClients: () => number;
}

/** One shared object: a 403 says nothing that differs between requests. */
const forbidden: EdgeRefusal = Object.freeze({ status: 403, error: 'forbidden', headers: Object.freeze({}) });

type EdgeConfig = Pick<LimitsConfig, 'ALLOW_CIDRS' | 'TRUSTED_PROXIES' | 'RATE_LIMIT_RPS' | 'RATE_LIMIT_BURST'>;

export function createEdgeStep(config: EdgeConfig, options: EdgeOptions = {}): (EdgeStep & EdgeState) | undefined {
  const allow = config.ALLOW_CIDRS;
  if (allow.size === 0 && config.TRUSTED_PROXIES.size === 0 && config.RATE_LIMIT_RPS === 0) return undefined;
  const clientOf = clientAddressResolver(config.TRUSTED_PROXIES);
  const limiter =
    config.RATE_LIMIT_RPS > 0
      ? new RateLimiter({
          ratePerSecond: config.RATE_LIMIT_RPS,
          burst: rateLimitBurst(config),
          maxClients: options.maxClients,
          now: options.now,
        })
      : undefined;
  const checkAllow = allow.size > 0;
  const step: EdgeStep = (peer, forwardedFor) => {
    const client = clientOf(peer, forwardedFor);
    // A client the runtime could not name is outside every range: the list fails closed.
    if (checkAllow && (client === undefined || !allow.has(client))) return { client, refusal: forbidden };
    if (limiter !== undefined) {
      // Clients with no address (a runtime that does not say) share one bucket.
      const decision = limiter.take((client !== undefined && addressKey(client)) || 'unknown');
      if (!decision.allowed) {
        const headers = refusalHeaders(limiter.policy, decision);
        return { client, refusal: { status: 429, error: 'rate_limited', headers } };
      }
    }
    return { client };
  };
  return Object.assign(step, { policy: limiter?.policy, trackedClients: () => limiter?.size ?? 0 });
}
