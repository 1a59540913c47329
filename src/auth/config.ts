import { z } from 'zod';
import { isLoopbackHost } from './loopback.ts';
import { normalisePath } from './skip-paths.ts';

/**
 * The access-control variables (AUTH_*), spread into the sidecar's schema (src/config.ts) as src/tracing/config.ts's are.
 * Off unless AUTH_JWT_ISSUER, AUTH_BASIC_FILE or AUTH_OIDC_ISSUER is set. Secrets are never
 * environment values: the variables name files (mounted Secrets), read at start-up by
 * loadAuthSecrets (secrets.ts).
 */

/**
 * An issuer or JWKS URL: https, so keys and tokens cannot be swapped on the way, unless the host
 * is loopback. No query or fragment (OpenID Connect Discovery 1.0 §2: an issuer is an https URL
 * with neither) and no credentials. Kept as written: `iss` is compared with it exactly.
 */
const issuerUrl = (name: string) =>
  z
    .string()
    .trim()
    .superRefine((value, ctx) => {
      let url: URL | undefined;
      try {
        url = new URL(value);
      } catch {
        url = undefined;
      }
      const problem =
        url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')
          ? 'must be an https:// URL'
          : url.protocol === 'http:' && !isLoopbackHost(url.hostname)
            ? 'must be https: (plain http is accepted for a loopback host only)'
            : url.username || url.password
              ? 'must not carry credentials'
              : url.search || url.hash || value.includes('?') || value.includes('#')
                ? 'must not carry a query or a fragment'
                : undefined;
      if (problem) ctx.addIssue({ code: 'custom', message: `${name} ${problem}` });
    })
    .optional();

const filePath = (name: string) => z.string().trim().min(1, `${name} must not be empty`).optional();

/** A comma-separated list; empty entries are dropped, each is checked, then mapped. */
const list = (name: string, check?: (entry: string) => string | undefined, map = (entry: string) => entry) =>
  z
    .string()
    .transform((value, ctx) => {
      const entries = value
        .split(',')
        .map((entry) => map(entry.trim()))
        .filter((entry) => entry !== '');
      for (const entry of entries) {
        const problem = check?.(entry);
        if (problem) {
          ctx.addIssue({ code: 'custom', message: `${name} ${problem} (entry ${JSON.stringify(entry)})` });
          return z.NEVER;
        }
      }
      return entries;
    })
    .optional();

/**
 * A skip path must already be in the form requests are compared in (skip-paths.ts): an entry
 * like `/public/../admin` or `/a%2fb` could never match, and would hide a typo.
 */
function skipPathProblem(entry: string): string | undefined {
  if (!entry.startsWith('/')) return 'must hold paths starting with /';
  if (/[?#]/.test(entry)) return 'must hold paths without a query or fragment';
  if (normalisePath(entry) !== entry) return 'must hold normalised paths (no dot-segments, %-escapes, ; or \\)';
  return undefined;
}

const booleanText = (name: string) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['true', 'false'], { error: `${name} must be true or false` }))
    .transform((value) => value === 'true');

export const authConfigShape = {
  /** Passed without a check: prefixes ending in `/`, or exact paths, matched on the normalised path. */
  AUTH_SKIP_PATHS: list('AUTH_SKIP_PATHS', skipPathProblem),
  /** Bearer JWTs from this issuer are accepted (`iss` must equal it exactly). */
  AUTH_JWT_ISSUER: issuerUrl('AUTH_JWT_ISSUER'),
  /**
   * The `aud` a token must name (any of, comma-separated). Required with AUTH_JWT_ISSUER: an IdP
   * issues tokens for many clients, and without this check a token minted for another app would
   * open this one (RFC 8725 §3.9). Envoy makes audiences optional; oauth2-proxy always checks its
   * client id; the safe default wins.
   */
  AUTH_JWT_AUDIENCE: list('AUTH_JWT_AUDIENCE'),
  /** The issuer's key set; unset, it is found from `${AUTH_JWT_ISSUER}/.well-known/openid-configuration`. */
  AUTH_JWKS_URL: issuerUrl('AUTH_JWKS_URL'),
  /** An htpasswd file of bcrypt entries (`htpasswd -B`), re-read when it changes. */
  AUTH_BASIC_FILE: filePath('AUTH_BASIC_FILE'),
  /** Browser login by OpenID Connect (authorization code + PKCE) against this issuer. */
  AUTH_OIDC_ISSUER: issuerUrl('AUTH_OIDC_ISSUER'),
  AUTH_OIDC_CLIENT_ID: z.string().trim().min(1, 'AUTH_OIDC_CLIENT_ID must not be empty').optional(),
  /** A file holding the client secret (client_secret_basic). */
  AUTH_OIDC_CLIENT_SECRET_FILE: filePath('AUTH_OIDC_CLIENT_SECRET_FILE'),
  /** A file holding at least 32 bytes (e.g. `openssl rand -base64 32`) the session cookie's key is derived from. */
  AUTH_COOKIE_SECRET_FILE: filePath('AUTH_COOKIE_SECRET_FILE'),
  /** Space-separated, as the authorization request sends them; `openid` is required by OpenID Connect Core §3.1.2.1. */
  AUTH_OIDC_SCOPES: z
    .string()
    .trim()
    .refine((value) => value.split(/\s+/).includes('openid'), 'AUTH_OIDC_SCOPES must include openid')
    .default('openid email profile'),
  /** 8 h: a working day, after which the browser logs in again (oauth2-proxy's cookie-expire is 168 h; shorter is safer for a cookie that holds a refresh token). */
  AUTH_SESSION_TTL_S: z.coerce
    .number({ error: 'AUTH_SESSION_TTL_S must be a number of seconds' })
    .int('AUTH_SESSION_TTL_S must be a whole number')
    .positive('AUTH_SESSION_TTL_S must be above 0')
    .default(28_800),
  /** The sidecar's own routes (login, callback, logout); under a dot-folder few apps use. */
  AUTH_PATH_PREFIX: z
    .string()
    .trim()
    .refine(
      (value) => value.startsWith('/') && value.endsWith('/') && normalisePath(value) === value && !/[?#]/.test(value),
      'AUTH_PATH_PREFIX must be a normalised path starting and ending with /',
    )
    .default('/.sidecar/auth/'),
  /** Any of these groups (the token's or ID token's `groups` claim) may pass; others get 403. */
  AUTH_ALLOWED_GROUPS: list('AUTH_ALLOWED_GROUPS'),
  /** E-mail domains that may pass (exact, case-insensitive); others get 403. */
  AUTH_ALLOWED_EMAIL_DOMAINS: list(
    'AUTH_ALLOWED_EMAIL_DOMAINS',
    (entry) => (entry.includes('@') ? 'must hold domains, without @' : undefined),
    (entry) => entry.toLowerCase(),
  ),
  /** Off: the app gets who the user is, not a credential it could replay elsewhere. */
  AUTH_PASS_ACCESS_TOKEN: booleanText('AUTH_PASS_ACCESS_TOKEN').default(false),
};

export type AuthConfig = z.infer<z.ZodObject<typeof authConfigShape>>;

/** The AUTH_* fields the cross-field rules read (the whole Config has them once the shape is spread in). */
export type AuthFields = Pick<
  AuthConfig,
  | 'AUTH_SKIP_PATHS'
  | 'AUTH_JWT_ISSUER'
  | 'AUTH_JWT_AUDIENCE'
  | 'AUTH_JWKS_URL'
  | 'AUTH_BASIC_FILE'
  | 'AUTH_OIDC_ISSUER'
  | 'AUTH_OIDC_CLIENT_ID'
  | 'AUTH_OIDC_CLIENT_SECRET_FILE'
  | 'AUTH_COOKIE_SECRET_FILE'
  | 'AUTH_ALLOWED_GROUPS'
  | 'AUTH_ALLOWED_EMAIL_DOMAINS'
  | 'AUTH_PASS_ACCESS_TOKEN'
>;

/** Whether any way of authenticating is configured; without one, access control is off. */
export function authEnabled(c: Pick<AuthFields, 'AUTH_JWT_ISSUER' | 'AUTH_BASIC_FILE' | 'AUTH_OIDC_ISSUER'>): boolean {
  return c.AUTH_JWT_ISSUER !== undefined || c.AUTH_BASIC_FILE !== undefined || c.AUTH_OIDC_ISSUER !== undefined;
}

/**
 * The checks across AUTH_* variables, for the sidecar schema's superRefine. A half-configured
 * method is refused rather than silently off: a lone AUTH_ALLOWED_GROUPS would otherwise look
 * like protection while nothing checks anyone.
 */
export function authTogether(c: AuthFields, ctx: z.RefinementCtx): void {
  const need = (variable: string, message: string) => ctx.addIssue({ code: 'custom', path: [variable], message });
  if (c.AUTH_JWT_ISSUER !== undefined && (c.AUTH_JWT_AUDIENCE ?? []).length === 0)
    need('AUTH_JWT_AUDIENCE', 'must be set when AUTH_JWT_ISSUER is (the audience this app accepts tokens for)');
  for (const name of ['AUTH_JWT_AUDIENCE', 'AUTH_JWKS_URL'] as const)
    if (c.AUTH_JWT_ISSUER === undefined && c[name] !== undefined) need(name, 'needs AUTH_JWT_ISSUER');
  const oidcParts = ['AUTH_OIDC_CLIENT_ID', 'AUTH_OIDC_CLIENT_SECRET_FILE', 'AUTH_COOKIE_SECRET_FILE'] as const;
  for (const name of oidcParts) {
    if (c.AUTH_OIDC_ISSUER !== undefined && c[name] === undefined) need(name, 'must be set when AUTH_OIDC_ISSUER is');
    if (c.AUTH_OIDC_ISSUER === undefined && c[name] !== undefined) need(name, 'needs AUTH_OIDC_ISSUER');
  }
  if (!authEnabled(c)) {
    for (const name of ['AUTH_SKIP_PATHS', 'AUTH_ALLOWED_GROUPS', 'AUTH_ALLOWED_EMAIL_DOMAINS'] as const)
      if (c[name] !== undefined)
        need(name, 'needs a way to authenticate: AUTH_JWT_ISSUER, AUTH_BASIC_FILE or AUTH_OIDC_ISSUER');
    if (c.AUTH_PASS_ACCESS_TOKEN)
      need('AUTH_PASS_ACCESS_TOKEN', 'needs AUTH_JWT_ISSUER or AUTH_OIDC_ISSUER (the methods that carry one)');
  }
}
