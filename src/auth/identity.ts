/**
 * Who a request comes from, once access control has let it through, and how that was decided.
 * Every way of authenticating (jwt.ts, basic.ts, the OIDC session) ends in an Identity; the
 * handler turns it into the X-Forwarded-* headers the app trusts and into the log's `user`.
 */

/** How a request was let through (the `method` label of sidecar_auth_total). */
export type AuthMethod = 'jwt' | 'basic' | 'session' | 'skip';

/** The outcome of one check (the `result` label of sidecar_auth_total). */
export type AuthResult = 'ok' | 'unauthenticated' | 'forbidden';

export interface Identity {
  /** `sub` of the token or ID token, or the Basic user name: X-Forwarded-User and the log's `user`. */
  user: string;
  /** X-Forwarded-Email, when the token or ID token has an `email` claim. */
  email?: string | undefined;
  /** The `groups` claim: X-Forwarded-Groups (comma-separated) and AUTH_ALLOWED_GROUPS. */
  groups?: readonly string[] | undefined;
  /** The access token, for X-Forwarded-Access-Token when AUTH_PASS_ACCESS_TOKEN=true. */
  accessToken?: string | undefined;
}
