import { z } from 'zod';
import { parseCidrList } from './cidr.ts';

/**
 * The edge limits' variables, spread into the sidecar's schema as config-otel.ts's shape is,
 * with limitsTogether added to its cross-variable checks. Every limit is off by default: nothing
 * changes for users who don't ask, and the request path carries none of them (edge.ts).
 */

/** A list of IPv4/IPv6 ranges (cidr.ts), parsed once here; the error names the entry that is wrong. */
const cidrList = (name: string) =>
  z.string().transform((value, ctx) => {
    const result = parseCidrList(value);
    if (result.ok) return result.set;
    ctx.addIssue({
      code: 'custom',
      message: `${name} must be a list of IPv4/IPv6 addresses or CIDR ranges: ${JSON.stringify(result.entry)} ${result.reason}`,
    });
    return z.NEVER;
  });

export const limitsConfigShape = {
  /**
   * Largest request body, in bytes (body-limit.ts). 0, the default, means none: an app that
   * takes uploads has its own idea of their size, and the sidecar should not guess it (nginx
   * guesses 1 MiB, the setting ingress-nginx users most often have to raise).
   */
  MAX_REQUEST_BODY_BYTES: z.coerce
    .number({ error: 'MAX_REQUEST_BODY_BYTES must be a number of bytes' })
    .int('MAX_REQUEST_BODY_BYTES must be a whole number of bytes')
    .min(0, 'MAX_REQUEST_BODY_BYTES must be 0 (no limit) or more')
    .max(Number.MAX_SAFE_INTEGER, 'MAX_REQUEST_BODY_BYTES is too large')
    .default(0),
  /**
   * Requests per second per client (rate-limit.ts), refilled continuously. Decimals allowed, so
   * slow rates need no second unit (0.5 is 30 a minute, what nginx writes `30r/m`); at least 0.001
   * (one per 1000 s), so Retry-After stays a sane number. 0, the default, means no rate limit.
   */
  RATE_LIMIT_RPS: z.coerce
    .number({ error: 'RATE_LIMIT_RPS must be a number of requests per second' })
    .min(0, 'RATE_LIMIT_RPS must be 0 (no limit) or more')
    .max(1_000_000, 'RATE_LIMIT_RPS must be at most 1000000')
    .refine((rate) => rate === 0 || rate >= 0.001, 'RATE_LIMIT_RPS must be 0 (no limit) or at least 0.001')
    .default(0),
  /**
   * Requests a client may make at once after a quiet spell. Unset, it is the rate rounded up
   * (rateLimitBurst): one second's worth, so a client that keeps to the rate is never refused
   * for arriving in a clump within a second.
   */
  RATE_LIMIT_BURST: z.coerce
    .number({ error: 'RATE_LIMIT_BURST must be a number of requests' })
    .int('RATE_LIMIT_BURST must be a whole number')
    .min(1, 'RATE_LIMIT_BURST must be 1 or more')
    .max(1_000_000, 'RATE_LIMIT_BURST must be at most 1000000')
    .optional(),
  /** Clients allowed in (403 for the rest); empty, the default, lets everyone in. */
  ALLOW_CIDRS: cidrList('ALLOW_CIDRS').prefault(''),
  /**
   * The proxies (load balancers) whose X-Forwarded-For is believed (client-address.ts). Empty,
   * the default: the peer is the client and X-Forwarded-For is never read, which is right for a
   * sidecar the Service reaches directly. A range covering everyone (/0) is refused: it would let
   * every client name its own address (oauth2-proxy/oauth2-proxy#3506 was that default).
   */
  TRUSTED_PROXIES: cidrList('TRUSTED_PROXIES')
    .refine(
      (set) => !set.coversEverything,
      "TRUSTED_PROXIES must not contain a /0 range: trusting every peer lets any client choose its address with X-Forwarded-For; list the load balancers' ranges",
    )
    .prefault(''),
};

export type LimitsConfig = z.infer<z.ZodObject<typeof limitsConfigShape>>;

/** Cross-variable checks, for the schema's superRefine: a burst means nothing without a rate. */
export function limitsTogether(
  c: Pick<LimitsConfig, 'RATE_LIMIT_RPS' | 'RATE_LIMIT_BURST'>,
  ctx: z.RefinementCtx,
): void {
  if (c.RATE_LIMIT_BURST !== undefined && c.RATE_LIMIT_RPS === 0)
    ctx.addIssue({
      code: 'custom',
      path: ['RATE_LIMIT_BURST'],
      message: 'needs RATE_LIMIT_RPS (a burst without a rate limits nothing)',
    });
}

/** RATE_LIMIT_BURST, or its default: the rate rounded up (at least 1). */
export function rateLimitBurst(c: Pick<LimitsConfig, 'RATE_LIMIT_RPS' | 'RATE_LIMIT_BURST'>): number {
  return c.RATE_LIMIT_BURST ?? Math.max(1, Math.ceil(c.RATE_LIMIT_RPS));
}
