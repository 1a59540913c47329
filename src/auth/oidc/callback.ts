/**
 * The end of a login, `{prefix}callback`: the IdP sends the browser back with `code` and `state`.
 * The order matters: the login cookie first (this browser started a login), then `state` (this
 * answer belongs to that login: a foreign state is login CSRF, RFC 6749 §10.12), then the code
 * exchange with PKCE's verifier and `client_secret_basic`, then the ID token's `iss`, `aud`, `exp`,
 * `iat`, `nonce` (oauth4webapi's processAuthorizationCodeResponse) and its signature against the
 * IdP's JWKS (validateApplicationLevelSignature). Only then is the session cookie set.
 * The login cookie is single-use: every outcome clears it.
 */
import * as oauth from 'oauth4webapi';
import { nowSeconds } from './context.ts';
import type { OidcContext } from './context.ts';
import { clearCookie, LOGIN_COOKIE, readCookie } from './cookies.ts';
import { pendingLoginFrom } from './login.ts';
import type { PendingLogin } from './login.ts';
import { describeError, isIdpUnreachable } from './protocol.ts';
import { mayCarryCookies } from './request-info.ts';
import type { RequestInfo } from './request-info.ts';
import { idpUnavailable, needsHttps, redirect, text } from './responses.ts';
import { sessionFromTokens } from './session.ts';
import { issueSessionCookie } from './session-cookie.ts';

export async function finishLogin(context: OidcContext, request: Request, info: RequestInfo): Promise<Response> {
  if (!mayCarryCookies(info)) return needsHttps();
  const metadata = context.discovery.metadata();
  if (metadata === undefined) return idpUnavailable();
  const cleared = clearCookie(LOGIN_COOKIE);
  const login = await pendingLogin(context, request);
  if (login === undefined) {
    return text(400, 'no sign-in is in progress in this browser (it expired, or began elsewhere): start again', [
      cleared,
    ]);
  }
  const client = context.protocol.client();
  let parameters: URLSearchParams;
  try {
    parameters = oauth.validateAuthResponse(metadata, client, new URL(request.url).searchParams, login.state);
  } catch (error) {
    const why =
      error instanceof oauth.AuthorizationResponseError
        ? `the identity provider refused the sign-in (${error.error})`
        : 'this answer does not belong to the sign-in this browser began (state)';
    return text(403, why, [cleared]);
  }
  try {
    const http = context.protocol.http();
    const response = await oauth.authorizationCodeGrantRequest(
      metadata,
      client,
      context.protocol.auth,
      parameters,
      login.redirectUri,
      login.codeVerifier,
      http,
    );
    const tokens = await oauth.processAuthorizationCodeResponse(metadata, client, response, {
      expectedNonce: login.nonce,
      requireIdToken: true,
    });
    await oauth.validateApplicationLevelSignature(metadata, response, http);
    const nowS = nowSeconds(context);
    let session = sessionFromTokens(tokens, oauth.getValidatedIdTokenClaims(tokens), nowS, nowS + context.ttlSeconds);
    if (!context.keepAccessToken) session = { ...session, accessToken: undefined };
    const { session: sealer } = await context.keys;
    const issued = await issueSessionCookie(sealer, session, nowS);
    return redirect(login.returnPath, [issued.header, cleared]);
  } catch (error) {
    return failed(context, error, cleared);
  }
}

async function pendingLogin(context: OidcContext, request: Request): Promise<PendingLogin | undefined> {
  const value = readCookie(request, LOGIN_COOKIE);
  if (value === undefined) return undefined;
  const { login: sealer } = await context.keys;
  return pendingLoginFrom(await sealer.open(value, context.nowMs()));
}

function failed(context: OidcContext, error: unknown, cleared: string): Response {
  if (isIdpUnreachable(error)) {
    context.say(`sidecar: OIDC code exchange failed, the identity provider is unreachable (${describeError(error)})`);
    return text(502, 'sign-in failed: the identity provider did not answer; try again', [cleared]);
  }
  // A wrong client secret (invalid_client) is the operator's to fix: say it. A replayed or
  // expired code (invalid_grant) is the browser's, and only its answer says so.
  if (!(error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant')) {
    context.say(`sidecar: OIDC sign-in refused: ${describeError(error)}`);
  }
  return text(403, `sign-in failed: ${describeError(error)}`, [cleared]);
}
