/**
 * RATE_LIMIT_RPS / RATE_LIMIT_BURST: a token bucket per client, as Envoy's local_ratelimit
 * (https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/local_rate_limit_filter)
 * and nginx's limit_req keep one: `burst` tokens, refilled at `ratePerSecond`, one per request.
 *
 * Each bucket is one number, its "theoretical arrival time" (the generic cell rate algorithm of
 * ITU-T I.371, which is a token bucket stated differently): the moment the bucket will be full
 * again. Tokens now = burst - (tat - now) / interval; a request is allowed while that is at
 * least 1, and moves tat one interval on. A refused request takes nothing, as with limit_req and
 * Envoy, so a client that keeps trying is let in as soon as a token is back.
 *
 * The table of clients is bounded (client-table.ts): in least-recently-seen order, the oldest
 * dropped when a new client would pass `maxClients`. Dropping a client forgets its debt, so a
 * flood of more than maxClients addresses within one refill period can forgive other clients;
 * it can never grow memory. A client whose bucket is full again carries no state, so as new
 * clients arrive, the oldest are dropped once their buckets are full: the table holds roughly
 * the clients seen within the last burst / rate seconds.
 */

import { ClientTable } from './client-table.ts';

/**
 * The default bound on the table. Measured with a million distinct addresses put through it
 * (keys from cidr.ts addressKey, Node 24): the full table holds about 11 MiB of heap plus
 * 1.6 MiB of typed arrays, some 110 bytes a client, IPv4 or IPv6; a small share of a sidecar's
 * memory. A sidecar fronts one app pod, and 100 000 distinct clients each seen within one
 * refill period is far beyond what such a pod serves, so in normal use nobody is evicted early.
 */
export const defaultMaxClients = 100_000;

export interface RateLimitOptions {
  /** Tokens added per second; decimals allowed (0.5 is one request every 2 s). Above 0. */
  ratePerSecond: number;
  /** The bucket's size: requests allowed at once after a quiet spell. A whole number, at least 1. */
  burst: number;
  maxClients?: number;
  /** Milliseconds, monotonic; injected so tests drive refill without waiting. */
  now?: () => number;
}

/** What one request got. */
export interface RateDecision {
  allowed: boolean;
  /** Whole tokens left after this request (0 when refused). */
  remaining: number;
  /** Milliseconds until one more whole token is back: when refused, the earliest a retry can succeed. */
  resetMs: number;
}

/** The policy as the RateLimit-Policy field states it: `quota` requests per `windowSeconds`. */
export interface RatePolicy {
  quota: number;
  windowSeconds: number;
}

/** Float slack for comparing sums of a fractional interval (rate 3 gives 333.33... ms). */
const epsilon = 1e-6;

export class RateLimiter {
  readonly policy: RatePolicy;
  readonly #interval: number;
  readonly #burst: number;
  readonly #tolerance: number;
  readonly #now: () => number;
  readonly #table: ClientTable;

  constructor(options: RateLimitOptions) {
    if (!(options.ratePerSecond > 0)) throw new RangeError('ratePerSecond must be above 0');
    if (!(Number.isInteger(options.burst) && options.burst >= 1))
      throw new RangeError('burst must be a whole number from 1');
    const maxClients = options.maxClients ?? defaultMaxClients;
    if (!(Number.isInteger(maxClients) && maxClients >= 1))
      throw new RangeError('maxClients must be a whole number from 1');
    this.#interval = 1000 / options.ratePerSecond;
    this.#burst = options.burst;
    this.#tolerance = (options.burst - 1) * this.#interval + epsilon;
    this.#table = new ClientTable(maxClients);
    this.#now = options.now ?? (() => performance.now());
    // `burst` requests per the time the bucket takes to fill: a client pacing itself to this is
    // never refused (quota <= burst, quota / window <= rate), which is what a client reads it as.
    this.policy = {
      quota: options.burst,
      windowSeconds: Math.max(1, Math.ceil(options.burst / options.ratePerSecond)),
    };
  }

  /** Clients in the table now. */
  get size(): number {
    return this.#table.size;
  }

  /** Takes a token from `key`'s bucket if there is one. */
  take(key: string): RateDecision {
    const now = this.#now();
    const table = this.#table;
    let slot = table.touch(key);
    if (slot < 0) {
      // Up to two of the least recently seen go if their buckets are full again: forgetting them changes nothing.
      for (let k = 0; k < 2 && (table.oldestValue() ?? Infinity) <= now; k++) table.dropOldest();
      slot = table.add(key, now);
    }
    const tat = table.value(slot);
    const debt = tat > now ? tat - now : 0;
    if (debt > this.#tolerance) {
      // Allowed again once the debt has fallen to (burst - 1) intervals.
      return { allowed: false, remaining: 0, resetMs: debt - (this.#burst - 1) * this.#interval };
    }
    const newDebt = debt + this.#interval;
    table.setValue(slot, now + newDebt);
    const remaining = Math.max(0, Math.floor(this.#burst - newDebt / this.#interval + epsilon));
    // The next whole token is back when the debt falls to the multiple of the interval below it.
    const resetMs = Math.max(0, newDebt - (this.#burst - remaining - 1) * this.#interval);
    return { allowed: true, remaining, resetMs };
  }
}

/**
 * The response fields of draft-ietf-httpapi-ratelimit-headers-11 (May 2026,
 * https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/11/), whose syntax is
 * that of -09 and -10: structured-field lists of items named by a String (§3, §4).
 * `RateLimit-Policy: "default";q=<burst>;w=<seconds>` and `RateLimit: "default";r=<left>;t=<seconds>`.
 */
export const policyName = 'default';

export function rateLimitPolicyField(policy: RatePolicy): string {
  return `"${policyName}";q=${policy.quota};w=${policy.windowSeconds}`;
}

/** Whole seconds, rounded up (a client that waits them finds the token there), at least 1; float dust is not a second. */
function wholeSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000 - 1e-9));
}

/** `t` (§4.1.2) is delay-seconds. */
export function rateLimitField(decision: RateDecision): string {
  return `"${policyName}";r=${decision.remaining};t=${wholeSeconds(decision.resetMs)}`;
}

/**
 * The headers of a 429 (RFC 6585 §4): Retry-After in whole seconds until a token is back, at
 * least 1 (RFC 9110 §10.2.3), and the same moment as RateLimit's `t` (the draft's §6: Retry-After
 * must not point earlier than the effective window's end).
 *
 * Allowed responses carry no RateLimit fields, by choice: the sidecar passes the app's responses
 * unchanged, the app may send RateLimit fields of its own that ours would have to be merged into
 * (the draft's §7.2 on intermediaries), and the draft lets a server send them only near
 * exhaustion (§6.2). Envoy's local_ratelimit leaves them off by default too
 * (enable_x_ratelimit_headers). rateLimitField serves allowed decisions if that changes.
 */
export function refusalHeaders(policy: RatePolicy, decision: RateDecision): Record<string, string> {
  return {
    'retry-after': String(wholeSeconds(decision.resetMs)),
    'ratelimit-policy': rateLimitPolicyField(policy),
    ratelimit: rateLimitField(decision),
  };
}
