/**
 * The session cookie's value: a Session sealed (sealed.ts) and measured. A Set-Cookie line that
 * would not fit in 4 KiB leaves out the access token (the app then gets no
 * X-Forwarded-Access-Token; a JWT access token from Keycloak or Entra ID is 1-2 KiB by itself),
 * or the ID token (the logout then goes to the IdP with `client_id` and no `id_token_hint`), or
 * both. Identity, groups and the refresh token are never left out: without them there is no
 * session, and a login whose groups alone overflow the cookie fails with SessionTooLargeError.
 */
import { MAX_SET_COOKIE_BYTES, SESSION_COOKIE, setCookie } from './cookies.ts';
import { fromClaims, toClaims } from './session.ts';
import type { Session } from './session.ts';
import type { Sealer } from './sealed.ts';

export interface IssuedCookie {
  value: string;
  /** The whole Set-Cookie line (what the 4 KiB limit is about). */
  header: string;
  /** What had to be left out to fit. */
  dropped: readonly ('accessToken' | 'idToken')[];
  /** The session as the cookie holds it (without what was dropped). */
  session: Session;
}

export class SessionTooLargeError extends Error {
  constructor(bytes: number) {
    super(
      `the session cookie would be ${bytes} bytes even without the tokens (over ${MAX_SET_COOKIE_BYTES}): ` +
        'the ID token carries too many groups',
    );
    this.name = 'SessionTooLargeError';
  }
}

export async function issueSessionCookie(sealer: Sealer, session: Session, nowS: number): Promise<IssuedCookie> {
  let bytes = 0;
  for (const dropped of DROP_ORDER) {
    if (dropped.some((field) => session[field] === undefined)) continue;
    const candidate: Session = { ...session };
    for (const field of dropped) candidate[field] = undefined;
    const value = await sealer.seal(toClaims(candidate), session.expiresAt);
    const header = setCookie(SESSION_COOKIE, value, session.expiresAt - nowS);
    if (header.length <= MAX_SET_COOKIE_BYTES) return { value, header, dropped, session: candidate };
    bytes = header.length;
  }
  throw new SessionTooLargeError(bytes);
}

/**
 * What to leave out, tried in order until the cookie fits: nothing, the access token, the ID token
 * (keeping the access token, when that alone is enough: an opaque access token is 40-odd bytes
 * and dropping it would not help), both.
 */
const DROP_ORDER: readonly (readonly ('accessToken' | 'idToken')[])[] = [
  [],
  ['accessToken'],
  ['idToken'],
  ['accessToken', 'idToken'],
];

export async function openSessionCookie(sealer: Sealer, value: string, nowMs: number): Promise<Session | undefined> {
  const claims = await sealer.open(value, nowMs);
  return claims === undefined ? undefined : fromClaims(claims);
}
