/**
 * OIDC login for browsers (docs/behaviour.md, Access control, rule 4): the one seam the authenticator
 * (../authenticate.ts) calls. A request either carries the sealed session cookie (`session`), is a
 * browser navigation to send to the IdP (`challenge`), or is one of the login's own routes under
 * AUTH_PATH_PREFIX (`handles`/`handle`: login, callback, logout).
 *
 * Built on oauth4webapi (the protocol steps and every check of the IdP's answers) and jose (the
 * cookie's encryption), both Web-API only, so the same code runs on all three runtimes.
 */
import type { Identity } from '../identity.ts';
import { finishLogin } from './callback.ts';
import type { OidcContext } from './context.ts';
import { LOGIN_COOKIE, readCookie, SESSION_COOKIE } from './cookies.ts';
import { Discovery } from './discovery.ts';
import { startLogin } from './login.ts';
import { logout } from './logout.ts';
import { createProtocol } from './protocol.ts';
import { refreshSession } from './refresh.ts';
import { isBrowserNavigation } from './request-info.ts';
import type { RequestInfo } from './request-info.ts';
import { text } from './responses.ts';
import { safeReturnPath } from './return-path.ts';
import { createSealer } from './sealed.ts';
import { openSessionCookie } from './session-cookie.ts';
import { Sessions } from './sessions.ts';

export type { RequestInfo } from './request-info.ts';

export interface SessionAuth {
  /** The sidecar's own cookie names, stripped from what the app receives. */
  readonly cookieNames: readonly string[];
  /**
   * Whether the path (normalised) is under AUTH_PATH_PREFIX. The whole prefix is reserved: its
   * three routes (login, callback, logout) are served, anything else there is a 404 from `handle`,
   * never a request to the app.
   */
  handles(path: string): boolean;
  /** Serves those routes. */
  handle(request: Request, info: RequestInfo): Promise<Response>;
  /**
   * The session of this request: identity (and Set-Cookie headers when it was refreshed), none
   * (no cookie, or one that is forged, expired, logged out or whose refresh was refused), or
   * 'unavailable' (503: the session is due for a refresh and the IdP cannot be asked, never
   * discovered or unreachable).
   */
  session(
    request: Request,
    info: RequestInfo,
  ): Promise<{ identity: Identity; setCookie?: string[] } | undefined | 'unavailable'>;
  /**
   * For a browser navigation without a session (GET/HEAD whose Accept names text/html; `*\/*` alone
   * is not one): the 302 to the IdP (with the login cookie), or the login's refusal (400 over plain
   * HTTP from a non-loopback client; 503 while the IdP was never discovered). Otherwise undefined.
   */
  challenge(request: Request, info: RequestInfo): Promise<Response | undefined>;
  /** Stops the background discovery retries (shutdown, tests). */
  close(): void;
}

export interface SessionAuthOptions {
  issuer: URL;
  clientId: string;
  clientSecret: string;
  /** At least 32 bytes (checked at start-up with the other secrets). */
  cookieSecret: Uint8Array;
  scopes: string;
  ttlSeconds: number;
  pathPrefix: string;
  srvName: string;
  /** Keep the access token in the cookie (when it fits) for X-Forwarded-Access-Token; default true. */
  keepAccessToken?: boolean;
  fetch?: typeof fetch;
  /** Milliseconds since the epoch, like Date.now. */
  now?: () => number;
  say?(m: string): void;
}

export function createSessionAuth(options: SessionAuthOptions): SessionAuth {
  if (options.cookieSecret.length < 32)
    throw new Error('AUTH_COOKIE_SECRET_FILE: the cookie secret must be at least 32 bytes');
  const prefix = options.pathPrefix.endsWith('/') ? options.pathPrefix : `${options.pathPrefix}/`;
  const nowMs = options.now ?? Date.now;
  const say = options.say ?? (() => {});
  const protocol = createProtocol({
    issuer: options.issuer,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    fetch: options.fetch ?? (((input, init) => fetch(input, init)) as typeof fetch),
  });
  const keys = Promise.all([
    createSealer(options.cookieSecret, 'session', options.srvName),
    createSealer(options.cookieSecret, 'login', options.srvName),
  ]).then(([session, login]) => ({ session, login }));
  const context: OidcContext = {
    prefix,
    scopes: options.scopes,
    ttlSeconds: options.ttlSeconds,
    keepAccessToken: options.keepAccessToken ?? true,
    discovery: new Discovery(options.issuer, protocol, say),
    protocol,
    keys,
    sessions: new Sessions({
      open: async (value) => openSessionCookie((await keys).session, value, nowMs()),
      refresh: (session) => refreshSession(context, session),
      nowMs,
    }),
    nowMs,
    say,
  };
  return {
    cookieNames: [SESSION_COOKIE, LOGIN_COOKIE],
    handles: (path) => path.startsWith(prefix),
    handle: (request, info) => serve(context, request, info),
    async session(request) {
      const value = readCookie(request, SESSION_COOKIE);
      return value === undefined ? undefined : context.sessions.resolve(value);
    },
    async challenge(request, info) {
      if (!isBrowserNavigation(request)) return undefined;
      const url = new URL(request.url);
      return startLogin(context, request, info, safeReturnPath(url.pathname + url.search));
    },
    close: () => context.discovery.close(),
  };
}

function serve(context: OidcContext, request: Request, info: RequestInfo): Promise<Response> {
  const url = new URL(request.url);
  const method = request.method;
  const route = url.pathname.startsWith(context.prefix) ? url.pathname.slice(context.prefix.length) : undefined;
  switch (route) {
    case 'login':
      if (method !== 'GET' && method !== 'HEAD') return allow('GET, HEAD');
      return startLogin(context, request, info, safeReturnPath(url.searchParams.get('rd')));
    case 'callback':
      if (method !== 'GET') return allow('GET');
      return finishLogin(context, request, info);
    case 'logout':
      // GET too: a plain link logs out, as oauth2-proxy's /oauth2/sign_out does. A cross-site page
      // can only do that by a top-level navigation; the SameSite=Lax cookie's clearing is not
      // applied from a cross-site subresource.
      if (method !== 'GET' && method !== 'POST' && method !== 'HEAD') return allow('GET, HEAD, POST');
      return logout(context, request, info);
    default:
      return Promise.resolve(text(404, 'not found'));
  }
}

function allow(methods: string): Promise<Response> {
  const response = text(405, 'method not allowed');
  response.headers.set('allow', methods);
  return Promise.resolve(response);
}
