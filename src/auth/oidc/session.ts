/**
 * What a login leaves in the session cookie, and the Identity it stands for. Only what a request
 * needs: who (sub, email, groups, from the validated ID token), when it ends, and what refreshing
 * takes. The tokens are kept when they fit (session-cookie.ts): the access token for
 * X-Forwarded-Access-Token, the ID token as the logout's `id_token_hint`.
 */
import type { JWTPayload } from 'jose';
import type { IDToken, TokenEndpointResponse } from 'oauth4webapi';
import type { Identity } from '../identity.ts';

export interface Session {
  sub: string;
  email?: string | undefined;
  groups?: string[] | undefined;
  refreshToken?: string | undefined;
  accessToken?: string | undefined;
  /** When the access token expires (epoch seconds), from the token response's `expires_in`. */
  accessTokenExpiresAt?: number | undefined;
  /** When to refresh (epoch seconds): a little before the access token expires. */
  refreshAt?: number | undefined;
  idToken?: string | undefined;
  /** The end of the session (epoch seconds): the login's time plus AUTH_SESSION_TTL_S; a refresh keeps it. */
  expiresAt: number;
}

/** Refresh this long before the access token expires, so the app never receives one about to lapse. */
const REFRESH_EARLY_S = 30;

/** The session a token response makes: a login's (no `previous`) or a refresh's. */
export function sessionFromTokens(
  tokens: TokenEndpointResponse,
  claims: IDToken | undefined,
  nowS: number,
  expiresAt: number,
  previous?: Session,
): Session {
  return {
    sub: claims?.sub ?? previous?.sub ?? '',
    email: claims ? stringClaim(claims.email) : previous?.email,
    groups: claims ? groupsClaim(claims.groups) : previous?.groups,
    // RFC 6749 §6: the IdP may issue a new refresh token; if it does not, the old one stays valid.
    refreshToken: tokens.refresh_token ?? previous?.refreshToken,
    accessToken: tokens.access_token,
    accessTokenExpiresAt: tokens.expires_in === undefined ? undefined : nowS + tokens.expires_in,
    refreshAt: tokens.expires_in === undefined ? undefined : nowS + tokens.expires_in - refreshEarly(tokens.expires_in),
    idToken: tokens.id_token ?? previous?.idToken,
    expiresAt,
  };
}

/** REFRESH_EARLY_S, or half the lifetime of a short-lived token (else every request would refresh). */
function refreshEarly(expiresInS: number): number {
  return Math.min(REFRESH_EARLY_S, Math.floor(expiresInS / 2));
}

/**
 * Due for a refresh, and there is a refresh token to do it with. Without a refresh token (or an
 * `expires_in`) the session simply lasts until its end.
 */
export function needsRefresh(session: Session, nowS: number): boolean {
  return session.refreshToken !== undefined && session.refreshAt !== undefined && nowS >= session.refreshAt;
}

export function identityOf(session: Session, nowS: number): Identity {
  const fresh = session.accessTokenExpiresAt === undefined || nowS < session.accessTokenExpiresAt;
  return {
    user: session.sub,
    email: session.email,
    groups: session.groups,
    accessToken: fresh ? session.accessToken : undefined,
  };
}

/** Short claim names: every byte counts against the cookie's 4 KiB. */
export function toClaims(session: Session): JWTPayload {
  return {
    sub: session.sub,
    em: session.email,
    gr: session.groups,
    rt: session.refreshToken,
    at: session.accessToken,
    ate: session.accessTokenExpiresAt,
    rfa: session.refreshAt,
    idt: session.idToken,
  };
}

export function fromClaims(claims: JWTPayload): Session | undefined {
  if (typeof claims.sub !== 'string' || claims.sub === '' || typeof claims.exp !== 'number') return undefined;
  return {
    sub: claims.sub,
    email: stringClaim(claims.em),
    groups: groupsClaim(claims.gr),
    refreshToken: stringClaim(claims.rt),
    accessToken: stringClaim(claims.at),
    accessTokenExpiresAt: numberClaim(claims.ate),
    refreshAt: numberClaim(claims.rfa),
    idToken: stringClaim(claims.idt),
    expiresAt: claims.exp,
  };
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function numberClaim(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

/** `groups` as IdPs send it: an array of strings, or one string (some mappers flatten a single group). */
function groupsClaim(value: unknown): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((group): group is string => typeof group === 'string');
  return undefined;
}
