/**
 * The seam with real parts: the OpenID provider of the OIDC tests (oidc-provider on 127.0.0.1,
 * test/support/oidc-provider.ts) and the real OIDC login (src/auth/oidc/) behind authenticate.
 * The bearer check finds the provider's keys by discovery and verifies the RFC 9068 access tokens
 * it issues; a browser logs in, and its session cookie then passes authenticate.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAuthenticator } from '../../../src/auth/authenticate.ts';
import type { Authenticator } from '../../../src/auth/authenticate.ts';
import type { AuthConfig } from '../../../src/auth/config.ts';
import { SESSION_COOKIE } from '../../../src/auth/oidc/cookies.ts';
import { ORIGIN, PREFIX, startRig } from './oidc/setup.ts';
import type { Rig } from './oidc/setup.ts';

const base: AuthConfig & { SRV_NAME: string } = {
  SRV_NAME: 'app',
  AUTH_OIDC_SCOPES: 'openid email profile',
  AUTH_SESSION_TTL_S: 28_800,
  AUTH_PATH_PREFIX: PREFIX,
  AUTH_PASS_ACCESS_TOKEN: false,
};
const local = { client: '127.0.0.1', https: false };

let rig: Rig | undefined;
let auth: Authenticator | undefined;
afterEach(async () => {
  auth?.close();
  await rig?.close();
  rig = auth = undefined;
});

/** Logs a scripted browser in through the real login; returns it with its session's access token. */
async function loggedIn() {
  rig = await startRig({ jwtAccessTokens: true, accounts: { alice: { groups: ['staff'] } } });
  const browser = rig.browser();
  expect((await browser.navigate(`${ORIGIN}/`)).status).toBe(200);
  const session = await rig.sessionOf(browser);
  return { rig, browser, accessToken: session?.accessToken as string };
}

describe('bearer JWTs from a real OpenID provider', () => {
  it('finds the keys by discovery and passes the access token it issued; refuses it for another audience', async () => {
    const { rig, accessToken } = await loggedIn();
    const issuer = rig.idp.issuer.href.replace(/\/$/, '');
    expect(accessToken.split('.')).toHaveLength(3);
    const configFor = (audience: string) => ({
      ...base,
      AUTH_JWT_ISSUER: issuer,
      AUTH_JWT_AUDIENCE: [audience],
    });
    auth = createAuthenticator(configFor('urn:test:api'), { fetch, secrets: {} })!;
    await vi.waitFor(() => expect(auth?.ready).toBe(true), { timeout: 5000 });
    const request = () => new Request(`${ORIGIN}/api`, { headers: { authorization: `Bearer ${accessToken}` } });
    const outcome = await auth.authenticate(request(), local);
    expect(outcome).toMatchObject({ pass: true, method: 'jwt', identity: { user: 'alice' } });

    const other = createAuthenticator(configFor('another-api'), { fetch, secrets: {} })!;
    try {
      await vi.waitFor(() => expect(other.ready).toBe(true), { timeout: 5000 });
      const refused = await other.authenticate(request(), local);
      expect(refused.pass).toBe(false);
      expect(refused.pass || refused.response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    } finally {
      other.close();
    }
  });
});

describe('the real OIDC login behind authenticate', () => {
  it('redirects a browser to the IdP, serves the login routes, and passes the session cookie', async () => {
    const { rig, browser } = await loggedIn();
    const config = {
      ...base,
      AUTH_OIDC_ISSUER: rig.idp.issuer.href,
      AUTH_OIDC_CLIENT_ID: rig.idp.clientId,
      AUTH_OIDC_CLIENT_SECRET_FILE: '/unused',
      AUTH_COOKIE_SECRET_FILE: '/unused',
      AUTH_ALLOWED_GROUPS: ['staff'],
    };
    auth = createAuthenticator(config, { fetch, secrets: {}, session: rig.auth })!;

    const navigation = new Request(`${ORIGIN}/page`, { headers: { accept: 'text/html' } });
    const redirect = await auth.authenticate(navigation, local);
    expect(redirect).toMatchObject({ pass: false, method: 'session', result: 'unauthenticated' });
    expect(redirect.pass || new URL(redirect.response.headers.get('location') ?? '').origin).toBe(
      rig.idp.issuer.origin,
    );

    const cookie = `${SESSION_COOKIE}=${browser.cookie(ORIGIN, SESSION_COOKIE)}; app=1`;
    const withSession = new Request(`${ORIGIN}/page`, { headers: { accept: 'text/html', cookie } });
    const outcome = await auth.authenticate(withSession, local);
    expect(outcome).toMatchObject({ pass: true, method: 'session', identity: { user: 'alice', groups: ['staff'] } });
    const headers = new Headers(withSession.headers);
    auth.forwardHeaders(headers, outcome.pass ? outcome.identity : undefined);
    expect(headers.get('cookie')).toBe('app=1');
    expect(headers.get('x-forwarded-user')).toBe('alice');
    expect(headers.get('x-forwarded-email')).toBe('alice@example.com');

    const logout = await auth.authenticate(new Request(`${ORIGIN}${PREFIX}logout`, { headers: { cookie } }), local);
    expect(logout).toMatchObject({ pass: false, method: 'session', result: 'route' });
  });
});
