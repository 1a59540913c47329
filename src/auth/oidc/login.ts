/**
 * The start of a login: a 302 to the IdP's authorization endpoint for the code flow with PKCE
 * S256 (RFC 7636; RFC 9700 §2.1.1 asks for it even of confidential clients), `state` against
 * login CSRF (RFC 6749 §10.12) and `nonce` against ID token replay (OpenID Connect Core §3.1.2.1).
 * All three secrets, and the page to return to, wait in the sealed `__Host-sidecar_login` cookie
 * for ten minutes: the callback only succeeds in the browser that started the login.
 */
import * as oauth from 'oauth4webapi';
import { nowSeconds } from './context.ts';
import type { OidcContext } from './context.ts';
import { LOGIN_COOKIE, setCookie } from './cookies.ts';
import { browserOrigin, mayCarryCookies } from './request-info.ts';
import type { RequestInfo } from './request-info.ts';
import { idpUnavailable, needsHttps, redirect } from './responses.ts';

/** Long enough to type a password and pass a second factor; short enough to bound a stolen cookie. */
export const LOGIN_TTL_S = 600;

export interface PendingLogin {
  state: string;
  codeVerifier: string;
  nonce: string;
  /** Already checked by safeReturnPath. */
  returnPath: string;
  /** The redirect_uri of the authorization request, which the token request must repeat (RFC 6749 §4.1.3). */
  redirectUri: string;
}

export async function startLogin(
  context: OidcContext,
  request: Request,
  info: RequestInfo,
  returnPath: string,
): Promise<Response> {
  if (!mayCarryCookies(info)) return needsHttps();
  const metadata = context.discovery.metadata();
  if (metadata?.authorization_endpoint === undefined) return idpUnavailable();
  const login: PendingLogin = {
    state: oauth.generateRandomState(),
    codeVerifier: oauth.generateRandomCodeVerifier(),
    nonce: oauth.generateRandomNonce(),
    returnPath,
    redirectUri: `${browserOrigin(request, info)}${context.prefix}callback`,
  };
  const authorization = new URL(metadata.authorization_endpoint);
  const query = authorization.searchParams;
  query.set('response_type', 'code');
  query.set('client_id', context.protocol.client().client_id);
  query.set('redirect_uri', login.redirectUri);
  query.set('scope', context.scopes);
  query.set('state', login.state);
  query.set('nonce', login.nonce);
  query.set('code_challenge', await oauth.calculatePKCECodeChallenge(login.codeVerifier));
  query.set('code_challenge_method', 'S256');
  const { login: sealer } = await context.keys;
  const sealed = await sealer.seal(toClaims(login), nowSeconds(context) + LOGIN_TTL_S);
  return redirect(authorization.href, [setCookie(LOGIN_COOKIE, sealed, LOGIN_TTL_S)]);
}

function toClaims(login: PendingLogin) {
  return { st: login.state, cv: login.codeVerifier, n: login.nonce, rd: login.returnPath, ru: login.redirectUri };
}

export function pendingLoginFrom(claims: Record<string, unknown> | undefined): PendingLogin | undefined {
  if (claims === undefined) return undefined;
  const { st, cv, n, rd, ru } = claims;
  if (typeof st !== 'string' || typeof cv !== 'string' || typeof n !== 'string') return undefined;
  if (typeof rd !== 'string' || typeof ru !== 'string') return undefined;
  return { state: st, codeVerifier: cv, nonce: n, returnPath: rd, redirectUri: ru };
}
