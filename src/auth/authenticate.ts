/**
 * The one seam the request handler calls: who may pass, by the first rule that applies
 *   the sidecar's own routes under AUTH_PATH_PREFIX (the login's, served here)
 *   -> AUTH_SKIP_PATHS (skip-paths.ts) -> `Authorization: Bearer` (jwt.ts, jwks.ts)
 *   -> `Authorization: Basic` (basic.ts) -> the OIDC session cookie (session-auth.ts)
 *   -> 401 (or the browser's redirect to the IdP),
 * then who is allowed (access.ts), and what the app receives (identity-headers.ts).
 * Off entirely, at no cost per request, when no method is configured.
 */
import { createAccessCheck } from './access.ts';
import type { AccessCheck } from './access.ts';
import { HtpasswdStore, parseBasic } from './basic.ts';
import type { Compare } from './basic.ts';
import type { AuthConfig } from './config.ts';
import type { AuthSecrets } from './secrets.ts';
import { authEnabled } from './config.ts';
import type { AuthMethod, Identity } from './identity.ts';
import { setIdentityHeaders, stripCookies, stripIdentityHeaders } from './identity-headers.ts';
import { KeySet } from './jwks.ts';
import type { Schedule } from './jwks.ts';
import { createJwtVerifier } from './jwt.ts';
import type { BearerVerifier } from './jwt.ts';
import { forbidden, unauthenticated, unavailable } from './responses.ts';
import type { AuthenticateInfo, AuthOutcome, AuthRefusal } from './outcome.ts';
import type { SessionAuth } from './session-auth.ts';
import { createSkipPaths, normalisePath, pathOfTarget } from './skip-paths.ts';
import type { SkipPaths } from './skip-paths.ts';

export type { AuthenticateInfo, AuthOutcome, AuthPass, AuthRefusal, AuthRoute } from './outcome.ts';

export interface AuthDeps {
  /** For discovery and the JWKS (the runtime's fetch, or one with its own agent). */
  fetch: typeof fetch;
  /** From loadAuthSecrets at start-up. */
  secrets: AuthSecrets;
  /** The OIDC login (src/auth/oidc/), required when AUTH_OIDC_ISSUER is set. */
  session?: SessionAuth | undefined;
  say?(message: string): void;
  /** Milliseconds since the epoch; tests move it. */
  now?: () => number;
  /** The JWKS loop's timer; tests step it. */
  schedule?: Schedule;
  /** bcrypt's compare; tests spy on it. */
  compare?: Compare;
}

export interface Authenticator {
  authenticate(request: Request, info: AuthenticateInfo): Promise<AuthOutcome>;
  /**
   * The headers the app receives, in place, for a request that passed: client-sent identity
   * headers and the sidecar's cookies removed, then the identity's headers set.
   */
  forwardHeaders(headers: Headers, identity: Identity | undefined): void;
  /** False while JWT is on and its keys were never fetched (for readiness and the status page). */
  readonly ready: boolean;
  /** AUTH_BASIC_FILE's users: the runtime's file watcher calls `htpasswd.replace(text)`. */
  readonly htpasswd: HtpasswdStore | undefined;
  /** Stops the JWKS refresh loop. */
  close(): void;
}

const SESSION_RETRY_AFTER_S = 5;

/** The methods that are on, built once from the configuration. */
interface Parts {
  keys: KeySet | undefined;
  jwt: BearerVerifier | undefined;
  htpasswd: HtpasswdStore | undefined;
  session: SessionAuth | undefined;
  skip: SkipPaths | undefined;
  allowed: AccessCheck | undefined;
  /** Basic's realm (SRV_NAME) when Basic is on. */
  realm: string | undefined;
}

export function createAuthenticator(
  config: AuthConfig & { SRV_NAME: string },
  deps: AuthDeps,
): Authenticator | undefined {
  if (!authEnabled(config)) return undefined;
  const parts = buildParts(config, deps);
  const cookieNames = parts.session?.cookieNames ?? [];
  parts.keys?.start();
  return {
    authenticate: (request, info) => judge(parts, request, info),
    forwardHeaders(headers, identity) {
      stripIdentityHeaders(headers);
      stripCookies(headers, cookieNames);
      if (identity !== undefined)
        setIdentityHeaders(headers, identity, { passAccessToken: config.AUTH_PASS_ACCESS_TOKEN });
    },
    get ready() {
      return parts.keys === undefined || parts.keys.ready;
    },
    htpasswd: parts.htpasswd,
    close() {
      parts.keys?.close();
      parts.session?.close?.();
    },
  };
}

function buildParts(config: AuthConfig & { SRV_NAME: string }, deps: AuthDeps): Parts {
  const session = config.AUTH_OIDC_ISSUER === undefined ? undefined : deps.session;
  if (config.AUTH_OIDC_ISSUER !== undefined && session === undefined)
    throw new Error('AUTH_OIDC_ISSUER is set but no session login (src/auth/oidc/) was handed in');
  if (config.AUTH_BASIC_FILE !== undefined && deps.secrets.htpasswd === undefined)
    throw new Error('AUTH_BASIC_FILE is set but its contents were not loaded (loadAuthSecrets)');
  const issuer = config.AUTH_JWT_ISSUER;
  const keys =
    issuer === undefined
      ? undefined
      : new KeySet({
          issuer,
          jwksUrl: config.AUTH_JWKS_URL,
          fetch: deps.fetch,
          now: deps.now,
          schedule: deps.schedule,
          say: deps.say,
        });
  const htpasswd =
    deps.secrets.htpasswd === undefined
      ? undefined
      : new HtpasswdStore(deps.secrets.htpasswd, { compare: deps.compare });
  return {
    keys,
    jwt:
      keys && issuer !== undefined
        ? createJwtVerifier({ issuer, audience: config.AUTH_JWT_AUDIENCE ?? [], keys, now: deps.now })
        : undefined,
    htpasswd,
    session,
    skip: createSkipPaths(config.AUTH_SKIP_PATHS),
    allowed: createAccessCheck({ groups: config.AUTH_ALLOWED_GROUPS, emailDomains: config.AUTH_ALLOWED_EMAIL_DOMAINS }),
    realm: htpasswd ? config.SRV_NAME : undefined,
  };
}

/** The rules in order; the first that applies decides. */
async function judge(parts: Parts, request: Request, info: AuthenticateInfo): Promise<AuthOutcome> {
  const { session, skip, jwt, keys, htpasswd } = parts;
  const id = info.requestId;
  const target = info.target ?? pathAndQuery(request.url);
  if (session !== undefined) {
    const path = pathOfTarget(target);
    if (session.handles(normalisePath(path) ?? path))
      return { pass: false, method: 'session', result: 'route', response: await session.handle(request, info) };
  }
  if (skip?.(target)) return { pass: true, method: 'skip' };

  // Each request is judged by what it carries: credentials in Authorization decide, pass or fail.
  const authorization = request.headers.get('authorization') ?? '';
  const scheme = /^(\S+)/.exec(authorization)?.[1]?.toLowerCase();
  if (jwt && keys && scheme === 'bearer') {
    // RFC 6750 §2.1: `Bearer 1*SP b64token`.
    const token = /^bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(authorization)?.[1];
    const result = token === undefined ? ({ ok: false, reason: 'invalid_token' } as const) : await jwt(token);
    if (result.ok) return admit(parts, 'jwt', result.identity, id);
    if (result.reason === 'unavailable') return unreachable('jwt', keys.retryAfterSeconds(), id);
    return refuse(parts, 'jwt', true, id);
  }
  if (htpasswd && scheme === 'basic') {
    const credentials = parseBasic(authorization);
    const user = credentials && (await htpasswd.check(credentials.user, credentials.password));
    return user === undefined ? refuse(parts, 'basic', false, id) : admit(parts, 'basic', { user }, id);
  }
  if (session !== undefined) {
    const found = await session.session(request, info);
    if (found === 'unavailable') return unreachable('session', SESSION_RETRY_AFTER_S, id);
    if (found !== undefined) return admit(parts, 'session', found.identity, id, found.setCookie);
    const redirect = await session.challenge(request, info);
    if (redirect !== undefined) {
      const result = redirect.status === 503 ? 'unavailable' : 'unauthenticated';
      return { pass: false, method: 'session', result, response: redirect };
    }
  }
  return refuse(parts, undefined, false, id);
}

/** Known: let through, unless the allow lists refuse (403, logged with the user). */
function admit(
  parts: Parts,
  method: AuthMethod,
  identity: Identity,
  requestId: string | undefined,
  setCookie?: string[],
): AuthOutcome {
  if (parts.allowed && !parts.allowed(identity)) {
    const response = forbidden(method === 'jwt', requestId);
    return { pass: false, method, result: 'forbidden', response, user: identity.user };
  }
  return setCookie === undefined ? { pass: true, method, identity } : { pass: true, method, identity, setCookie };
}

/** 401, with a challenge for each of Bearer and Basic that is on. */
function refuse(
  parts: Parts,
  method: AuthMethod | undefined,
  invalidToken: boolean,
  requestId: string | undefined,
): AuthRefusal {
  const response = unauthenticated({ bearer: parts.jwt && { invalidToken }, basicRealm: parts.realm }, requestId);
  return { pass: false, method, result: 'unauthenticated', response };
}

function unreachable(method: AuthMethod, retryAfterSeconds: number, requestId: string | undefined): AuthRefusal {
  return { pass: false, method, result: 'unavailable', response: unavailable(retryAfterSeconds, requestId) };
}

/** The path and query of a URL (an absolute-form target keeps only those, as src/proxy/forward.ts does). */
function pathAndQuery(url: string): string {
  const parsed = new URL(url);
  return parsed.pathname + parsed.search;
}
