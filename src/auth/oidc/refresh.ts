/**
 * A session's refresh (RFC 6749 §6; OpenID Connect Core §12): the refresh token buys a new access
 * token, and maybe a new ID token and refresh token. A new ID token goes through the same checks
 * as the login's, and must name the same user (Core §12.2). The session keeps its end: a refresh
 * lengthens the access token's life, not the session's.
 * Sessions (sessions.ts) makes sure one session has one refresh in flight.
 */
import * as oauth from 'oauth4webapi';
import { nowSeconds } from './context.ts';
import type { OidcContext } from './context.ts';
import { describeError, isIdpUnreachable } from './protocol.ts';
import { sessionFromTokens } from './session.ts';
import type { Session } from './session.ts';
import { issueSessionCookie } from './session-cookie.ts';
import type { RefreshResult } from './sessions.ts';

export async function refreshSession(context: OidcContext, session: Session): Promise<RefreshResult> {
  const metadata = context.discovery.metadata();
  if (metadata === undefined || session.refreshToken === undefined) return 'unavailable';
  try {
    const http = context.protocol.http();
    const client = context.protocol.client();
    const response = await oauth.refreshTokenGrantRequest(
      metadata,
      client,
      context.protocol.auth,
      session.refreshToken,
      http,
    );
    const tokens = await oauth.processRefreshTokenResponse(metadata, client, response);
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    if (claims !== undefined) {
      await oauth.validateApplicationLevelSignature(metadata, response, http);
      if (claims.sub !== session.sub) return 'rejected';
    }
    const nowS = nowSeconds(context);
    let next = sessionFromTokens(tokens, claims, nowS, session.expiresAt, session);
    if (!context.keepAccessToken) next = { ...next, accessToken: undefined };
    const { session: sealer } = await context.keys;
    const issued = await issueSessionCookie(sealer, next, nowS);
    return { session: issued.session, value: issued.value, setCookie: issued.header };
  } catch (error) {
    if (isIdpUnreachable(error)) {
      context.say(`sidecar: OIDC refresh failed, the identity provider is unreachable (${describeError(error)})`);
      return 'unavailable';
    }
    // invalid_grant: the refresh token was revoked or expired (the user logged out at the IdP, or
    // was disabled). The browser logs in again.
    return 'rejected';
  }
}
