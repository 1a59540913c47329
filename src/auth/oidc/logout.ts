/**
 * `{prefix}logout`: the session cookie is cleared, and the browser goes on to the IdP's
 * `end_session_endpoint` when it has one (OpenID Connect RP-Initiated Logout 1.0), so that the
 * IdP's own session ends too; clearing only the local cookie would log the user straight back in
 * (oauth2-proxy/oauth2-proxy#884). `id_token_hint` when the cookie kept the ID token,
 * `client_id` always, and `post_logout_redirect_uri` = this origin's `/` (to be registered at
 * the IdP). Without an end_session_endpoint (or before discovery), the browser goes to `/`.
 */
import type { OidcContext } from './context.ts';
import { clearCookie, LOGIN_COOKIE, readCookie, SESSION_COOKIE } from './cookies.ts';
import { browserOrigin } from './request-info.ts';
import type { RequestInfo } from './request-info.ts';
import { redirect } from './responses.ts';
import { openSessionCookie } from './session-cookie.ts';

export async function logout(context: OidcContext, request: Request, info: RequestInfo): Promise<Response> {
  const value = readCookie(request, SESSION_COOKIE);
  let idToken: string | undefined;
  if (value !== undefined) {
    const { session: sealer } = await context.keys;
    idToken = (await openSessionCookie(sealer, value, context.nowMs()))?.idToken;
    context.sessions.end(value);
  }
  const cleared = [clearCookie(SESSION_COOKIE), clearCookie(LOGIN_COOKIE)];
  const endSession = context.discovery.metadata()?.end_session_endpoint;
  if (endSession === undefined) return redirect('/', cleared);
  const location = new URL(endSession);
  if (idToken !== undefined) location.searchParams.set('id_token_hint', idToken);
  location.searchParams.set('client_id', context.protocol.client().client_id);
  location.searchParams.set('post_logout_redirect_uri', `${browserOrigin(request, info)}/`);
  return redirect(location.href, cleared);
}
