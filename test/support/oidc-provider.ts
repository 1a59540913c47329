/**
 * A real OpenID provider for the tests: panva's `oidc-provider` (v9, OpenID-certified), served by a
 * `node:http` server on 127.0.0.1 with one confidential client. The sidecar's OIDC login runs
 * against it exactly as it would against Keycloak or Entra ID: discovery, the authorization
 * endpoint with its (development) login form, the token endpoint, refresh and end_session.
 *
 * Settings that make it work on plain-http loopback, and why:
 * - `issuer` is `http://127.0.0.1:PORT`: oidc-provider accepts an http issuer; its cookies are then
 *   not `Secure` (it follows `ctx.secure`), which a scripted browser or Chromium on loopback accepts.
 * - The client is `application_type: 'web'` with `http://` redirect URIs: oidc-provider only insists
 *   on https (and refuses `localhost`) for web clients of the *implicit* flow; the code flow may use
 *   http (lib/helpers/client_schema.js, 'implicit-force-https').
 * - `devInteractions` (its built-in login and consent forms) accept any login name and password.
 * - Refresh tokens: oidc-provider issues one only for `offline_access` requested with
 *   `prompt=consent` (OpenID Connect Core §11); `issueRefreshToken` is overridden to issue one to
 *   every client allowed the refresh_token grant, as Keycloak does, so the sidecar's default scopes
 *   (`openid email profile`) get one.
 * - `conformIdTokenClaims: false` puts the scope-requested claims (email) into the ID token of the
 *   code flow; `groups` is mapped to the `openid` scope so it is always there, as an IdP's group
 *   mapper does.
 * - `pkce.required` always: the authorization request must carry an S256 code challenge.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import type { Configuration } from 'oidc-provider';

export interface TestIdpOptions {
  /** The sidecar's callback URLs (exact match at the IdP). */
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  /** Access token lifetime (default 3600 s); shorten it to make the sidecar refresh. */
  accessTokenTtlS?: number;
  /** Claims by login name; any other login gets `LOGIN@example.com` and groups `['users']`. */
  accounts?: Record<string, { email?: string; groups?: string[] }>;
  /** Issue access tokens as signed JWTs (as Keycloak and Entra ID do) instead of short opaque ones. */
  jwtAccessTokens?: boolean;
  /** Offer an end_session_endpoint (RP-Initiated Logout); default true. */
  endSession?: boolean;
  /** A fixed port, e.g. to bring an IdP up where a sidecar already expects it (default: any free one). */
  port?: number;
}

export interface TestIdp {
  issuer: URL;
  clientId: string;
  clientSecret: string;
  /** How many requests reached each endpoint path (e.g. '/token'), to assert what the sidecar asked. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

export const testClientId = 'sidecar';
export const testClientSecret = 'a-client-secret-of-the-sidecar-for-tests';

export async function startOidcProvider(options: TestIdpOptions): Promise<TestIdp> {
  const server = http.createServer();
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const issuer = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const provider = new Provider(issuer.href.replace(/\/$/, ''), {
    ...providerConfiguration(options),
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' }] },
  });
  const hits = new Map<string, number>();
  const callback = provider.callback();
  server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
    const path = new URL(request.url ?? '/', issuer).pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    void callback(request, response);
  });
  return {
    issuer,
    clientId: testClientId,
    clientSecret: testClientSecret,
    hits,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function providerConfiguration(options: TestIdpOptions): Configuration {
  const accessTokenTtlS = options.accessTokenTtlS ?? 3600;
  return {
    clients: [
      {
        client_id: testClientId,
        client_secret: testClientSecret,
        application_type: 'web',
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: options.redirectUris,
        post_logout_redirect_uris: options.postLogoutRedirectUris ?? [],
      },
    ],
    findAccount(_ctx, id) {
      const account = options.accounts?.[id] ?? {};
      return {
        accountId: id,
        claims: () => ({
          sub: id,
          email: account.email ?? `${id}@example.com`,
          email_verified: true,
          groups: account.groups ?? ['users'],
        }),
      };
    },
    claims: { openid: ['sub', 'groups'], email: ['email', 'email_verified'], profile: [] },
    conformIdTokenClaims: false,
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    pkce: { required: () => true },
    ttl: {
      AccessToken: accessTokenTtlS,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: 86_400,
      Session: 86_400,
      Grant: 86_400,
    },
    cookies: { keys: ['cookie-signing-key-of-the-test-idp'] },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: options.endSession ?? true },
      // RFC 7009, so a test can revoke a refresh token as an administrator would.
      revocation: { enabled: true },
      ...(options.jwtAccessTokens ? { resourceIndicators: jwtAccessTokenResource(accessTokenTtlS) } : {}),
    },
  };
}

/** Every access token for one resource server, as a signed JWT (RFC 9068), never for userinfo. */
function jwtAccessTokenResource(accessTokenTtlS: number) {
  const resource = 'urn:test:api';
  return {
    enabled: true,
    defaultResource: () => resource,
    useGrantedResource: () => true,
    getResourceServerInfo: () => ({
      scope: 'openid email profile',
      audience: resource,
      accessTokenFormat: 'jwt' as const,
      accessTokenTTL: accessTokenTtlS,
    }),
  };
}
