/**
 * `Authorization: Bearer <JWT>` (RFC 6750): the signature checked with the issuer's keys
 * (jwks.ts), then `iss`, `aud`, `exp` and `nbf` (RFC 7519 §4.1) with 60 s of clock skew, all by
 * jose. Verified tokens are remembered until they expire, as Envoy's jwt_cache_config does, so a
 * client that sends the same token on every request pays for one signature check, not one each.
 */
import { jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import type { Identity } from './identity.ts';
import type { KeySource } from './jwks.ts';
import { KeysUnavailableError } from './jwks.ts';
import { LruCache } from './lru.ts';

/**
 * Asymmetric algorithms only (RFC 8725 §3.1, §3.2). `none` would accept an unsigned token, and an
 * HMAC algorithm would let a token signed with the issuer's *public* key as the shared secret
 * pass (the key-confusion attack, CVE-2015-9235 in node-jsonwebtoken): jose refuses any `alg`
 * outside this list before it looks for a key.
 */
export const JWT_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

/** RFC 7519 §4.1.4 allows "some small leeway"; 60 s is oauth2-proxy's and Envoy's default. */
export const CLOCK_TOLERANCE_S = 60;

export type BearerResult =
  | { ok: true; identity: Identity }
  /** `invalid_token`: 401 (RFC 6750 §3.1); `unavailable`: the keys were never fetched, 503. */
  | { ok: false; reason: 'invalid_token' | 'unavailable' };

export interface JwtVerifierOptions {
  /** AUTH_JWT_ISSUER: `iss` must equal it. */
  issuer: string;
  /** AUTH_JWT_AUDIENCE: `aud` must name one of them. */
  audience: readonly string[];
  keys: KeySource;
  /** Milliseconds since the epoch. */
  now?: () => number;
  /** Verified tokens remembered at once; 4096 of ~1 KiB is a few MiB at most. */
  cacheSize?: number;
}

interface Verified {
  identity: Identity;
  /** `exp`, in seconds. */
  exp: number;
  /** The key set the token was verified with: a changed set (a key withdrawn) re-verifies it. */
  generation: number;
}

/** Three base64url parts: anything else is refused without waiting for keys. */
const compactJws = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** C0 controls and DEL cannot go into a header value (RFC 9110 §5.5). */
const control = /[\u0000-\u001f\u007f]/;

export type BearerVerifier = (token: string) => Promise<BearerResult>;

export function createJwtVerifier(options: JwtVerifierOptions): BearerVerifier {
  const now = options.now ?? (() => Date.now());
  const cache = new LruCache<string, Verified>(options.cacheSize ?? 4096);
  const verifyOptions = {
    issuer: options.issuer,
    audience: [...options.audience],
    algorithms: [...JWT_ALGORITHMS],
    clockTolerance: CLOCK_TOLERANCE_S,
    // Every token must expire: a token without `exp` would be good forever, and in the cache.
    requiredClaims: ['exp', 'sub'],
  };
  return async (token) => {
    // Keyed by the whole token: two tokens differing in any byte are two entries.
    const hit = cache.get(token);
    // jose refuses a token once `exp <= now - tolerance`; the cache refuses it at the same moment.
    if (hit !== undefined && hit.generation === options.keys.generation && now() / 1000 < hit.exp + CLOCK_TOLERANCE_S)
      return { ok: true, identity: hit.identity };
    if (hit !== undefined) cache.delete(token);
    if (!compactJws.test(token)) return { ok: false, reason: 'invalid_token' };
    // The start-up's first fetch may still be on its way (a request right after the listening line).
    if (!options.keys.ready) await options.keys.fetching?.();
    if (!options.keys.ready) return { ok: false, reason: 'unavailable' };
    const generation = options.keys.generation;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, options.keys.getKey, { ...verifyOptions, currentDate: new Date(now()) }));
    } catch (error) {
      return { ok: false, reason: error instanceof KeysUnavailableError ? 'unavailable' : 'invalid_token' };
    }
    const identity = identityFromClaims(payload, token);
    if (identity === undefined) return { ok: false, reason: 'invalid_token' };
    cache.set(token, { identity, exp: payload.exp as number, generation });
    return { ok: true, identity };
  };
}

/**
 * Who the token speaks for: `sub`, `email` (unless `email_verified` is false: OpenID Connect
 * Core §5.1; an unverified address must not pass AUTH_ALLOWED_EMAIL_DOMAINS), and `groups`, an
 * array of strings or one string. Undefined when `sub` cannot be a header value.
 */
export function identityFromClaims(payload: JWTPayload, token?: string): Identity | undefined {
  const { sub, email, email_verified: verified, groups } = payload as JWTPayload & Record<string, unknown>;
  if (typeof sub !== 'string' || sub === '' || control.test(sub)) return undefined;
  const identity: Identity = { user: sub };
  if (typeof email === 'string' && email !== '' && !control.test(email) && verified !== false) identity.email = email;
  const list = typeof groups === 'string' ? [groups] : Array.isArray(groups) ? groups : [];
  const names = list.filter(
    (group): group is string => typeof group === 'string' && group !== '' && !control.test(group),
  );
  if (names.length > 0) identity.groups = names;
  if (token !== undefined) identity.accessToken = token;
  return identity;
}
