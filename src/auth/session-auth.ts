/**
 * The seam between authenticate.ts and the OIDC browser login (src/auth/oidc/): what the login
 * must offer for the session cookie to be the fourth way through (after skip paths, Bearer and
 * Basic). The OIDC module implements it; authenticate.ts only calls it, so neither depends on the
 * other's insides, and a test can hand authenticate a stand-in.
 */
import type { Identity } from './identity.ts';

/** What the runtime knows of the request beyond the Request itself. */
export interface RequestInfo {
  /** The client's address (after the trusted-proxies rule), for the loopback exception to HTTPS-only cookies. */
  client: string | undefined;
  /** Whether the client reached the sidecar over HTTPS (TLS on, or X-Forwarded-Proto from a trusted proxy). */
  https: boolean;
}

export type SessionResult = { identity: Identity; setCookie?: string[] } | undefined | 'unavailable';

export interface SessionAuth {
  /** The sidecar's own cookie names (the session and the login's state), stripped from what the app receives. */
  readonly cookieNames: readonly string[];
  /** Whether the (normalised) path is one of AUTH_PATH_PREFIX's routes: login, callback, logout. */
  handles(path: string): boolean;
  /** Serves those routes. */
  handle(request: Request, info: RequestInfo): Promise<Response>;
  /**
   * The session of this request: its identity (and Set-Cookie headers when it was refreshed),
   * undefined when there is none, or 'unavailable' while the IdP was never discovered (503).
   */
  session(request: Request, info: RequestInfo): Promise<SessionResult>;
  /**
   * For a browser navigation without a session (GET or HEAD whose Accept names text/html; `*` + `/*`
   * alone is not one): the 302 to the IdP, with the login's state cookie, or the login's own
   * refusal (400 over plain HTTP to a non-loopback client; 503 while the IdP was never
   * discovered). Undefined otherwise: the request gets 401.
   */
  challenge(request: Request, info: RequestInfo): Promise<Response | undefined> | Response | undefined;
  /** Stops the login's background work (discovery retries); called by the authenticator's close(). */
  close?(): void;
}
