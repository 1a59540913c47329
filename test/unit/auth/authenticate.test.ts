import { hashSync } from 'bcryptjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAuthenticator } from '../../../src/auth/authenticate.ts';
import type { AuthDeps, AuthOutcome, Authenticator } from '../../../src/auth/authenticate.ts';
import type { AuthConfig } from '../../../src/auth/config.ts';
import type { SessionAuth, SessionResult } from '../../../src/auth/session-auth.ts';
import { AUDIENCE, ISSUER, clock, fakeIssuer, manualTimers, sign, signingKey } from './support.ts';
import type { SigningKey } from './support.ts';

const PASSWORD_FILE = `alice:${hashSync('wonderland', 4)}\n`;
const basicHeader = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const base: AuthConfig & { SRV_NAME: string } = {
  SRV_NAME: 'app',
  AUTH_OIDC_SCOPES: 'openid email profile',
  AUTH_SESSION_TTL_S: 28_800,
  AUTH_PATH_PREFIX: '/.sidecar/auth/',
  AUTH_PASS_ACCESS_TOKEN: false,
};
const jwtOn = { AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: [AUDIENCE] };
const basicOn = { AUTH_BASIC_FILE: '/secrets/htpasswd' };
const oidcOn = {
  AUTH_OIDC_ISSUER: 'https://idp.example',
  AUTH_OIDC_CLIENT_ID: 'sidecar',
  AUTH_OIDC_CLIENT_SECRET_FILE: '/s/c',
  AUTH_COOKIE_SECRET_FILE: '/s/k',
};

/** A stand-in for the OIDC login: it answers what the test sets. */
function standInSession(result: SessionResult = undefined, redirect?: Response) {
  const calls: string[] = [];
  const session: SessionAuth = {
    cookieNames: ['__Host-sidecar_session', '__Host-sidecar_login'],
    handles: (path) => (calls.push(`handles ${path}`), path.startsWith('/.sidecar/auth/')),
    handle: async () => new Response('callback done', { status: 302, headers: { location: '/' } }),
    session: async () => (calls.push('session'), result),
    challenge: async () => (calls.push('challenge'), redirect),
  };
  return { session, calls };
}

const open: Authenticator[] = [];
afterEach(() => {
  for (const auth of open.splice(0)) auth.close();
});

async function setUp(
  config: Partial<AuthConfig>,
  deps: Partial<AuthDeps> = {},
  keys: SigningKey[] = [],
  issuer = fakeIssuer(keys),
) {
  const auth = createAuthenticator(
    { ...base, ...config },
    {
      fetch: issuer.fetch,
      secrets: config.AUTH_BASIC_FILE ? { htpasswd: PASSWORD_FILE } : {},
      now: clock().now,
      schedule: manualTimers().schedule,
      ...deps,
    },
  )!;
  open.push(auth);
  if (config.AUTH_JWT_ISSUER && !issuer.state.down) await vi.waitFor(() => expect(auth.ready).toBe(true));
  return { auth, issuer };
}

const get = (path: string, headers: Record<string, string> = {}) =>
  new Request(`http://app.example${path}`, { headers });
const info = { client: '203.0.113.7', https: true };
const refusal = (outcome: AuthOutcome) => {
  if (outcome.pass) throw new Error(`expected a refusal, got a pass by ${outcome.method}`);
  return outcome;
};

describe('createAuthenticator', () => {
  it('is off, costing nothing, when no method is configured', () => {
    expect(createAuthenticator(base, { fetch, secrets: {} })).toBeUndefined();
  });

  it('needs the session login when AUTH_OIDC_ISSUER is set', () => {
    expect(() => createAuthenticator({ ...base, ...oidcOn }, { fetch, secrets: {} })).toThrow(/AUTH_OIDC_ISSUER/);
  });
});

describe('authenticate: the order of the rules', () => {
  it('passes a skip path without looking at credentials', async () => {
    const { auth } = await setUp({ ...basicOn, AUTH_SKIP_PATHS: ['/public/'] });
    const outcome = await auth.authenticate(get('/public/a', { authorization: basicHeader('alice', 'wrong') }), info);
    expect(outcome).toEqual({ pass: true, method: 'skip' });
  });

  it('judges skip paths on the target the app receives, not on the parsed URL', async () => {
    const { auth } = await setUp({ ...basicOn, AUTH_SKIP_PATHS: ['/public/'] });
    const request = get('/public/x');
    expect((await auth.authenticate(request, { ...info, target: '/public/..;/admin' })).pass).toBe(false);
    expect((await auth.authenticate(request, { ...info, target: '/public/x?y=1' })).pass).toBe(true);
  });

  it('passes a valid bearer token with its identity', async () => {
    const key = await signingKey('ES256');
    const { auth } = await setUp(jwtOn, {}, [key]);
    const token = await sign(key, { email: 'alice@corp.example', groups: 'staff' });
    const outcome = await auth.authenticate(get('/api', { authorization: `Bearer ${token}` }), info);
    expect(outcome).toEqual({
      pass: true,
      method: 'jwt',
      identity: { user: 'alice', email: 'alice@corp.example', groups: ['staff'], accessToken: token },
    });
  });

  it('refuses a bad bearer token with 401 and a challenge per method on (RFC 6750 §3, RFC 7617)', async () => {
    const key = await signingKey('RS256');
    const { auth } = await setUp({ ...jwtOn, ...basicOn }, {}, [key]);
    const outcome = refusal(
      await auth.authenticate(get('/api', { authorization: 'Bearer not.a.token' }), { ...info, requestId: 'r-1' }),
    );
    expect(outcome).toMatchObject({ method: 'jwt', result: 'unauthenticated' });
    expect(outcome.response.status).toBe(401);
    expect(outcome.response.headers.get('www-authenticate')).toBe(
      'Bearer error="invalid_token", Basic realm="app", charset="UTF-8"',
    );
    expect(outcome.response.headers.get('x-request-id')).toBe('r-1');
    expect(outcome.response.headers.get('cache-control')).toBe('no-store');
  });

  it('answers a request without credentials with 401 and plain challenges', async () => {
    const key = await signingKey('RS256');
    const { auth } = await setUp({ ...jwtOn, ...basicOn }, {}, [key]);
    const outcome = refusal(await auth.authenticate(get('/'), info));
    expect(outcome.method).toBeUndefined();
    expect(outcome.response.headers.get('www-authenticate')).toBe('Bearer, Basic realm="app", charset="UTF-8"');
  });

  it('passes the right Basic credentials and refuses wrong ones', async () => {
    const { auth } = await setUp(basicOn);
    expect(await auth.authenticate(get('/', { authorization: basicHeader('alice', 'wonderland') }), info)).toEqual({
      pass: true,
      method: 'basic',
      identity: { user: 'alice' },
    });
    const wrong = refusal(await auth.authenticate(get('/', { authorization: basicHeader('alice', 'x') }), info));
    expect(wrong).toMatchObject({ method: 'basic', result: 'unauthenticated' });
    expect('user' in wrong).toBe(false);
    expect(wrong.response.headers.get('www-authenticate')).toBe('Basic realm="app", charset="UTF-8"');
  });

  it('answers 503 with Retry-After for a bearer token while the keys were never fetched', async () => {
    const key = await signingKey('RS256');
    const issuer = fakeIssuer([key]);
    issuer.state.down = true;
    const { auth } = await setUp(jwtOn, {}, [], issuer);
    await vi.waitFor(() => expect(issuer.state.requests.length).toBeGreaterThan(0));
    expect(auth.ready).toBe(false);
    const outcome = refusal(await auth.authenticate(get('/', { authorization: `Bearer ${await sign(key)}` }), info));
    expect(outcome).toMatchObject({ method: 'jwt', result: 'unavailable' });
    expect(outcome.response.status).toBe(503);
    expect(Number(outcome.response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Without a token nothing needs the issuer: 401, not 503.
    expect(refusal(await auth.authenticate(get('/'), info)).response.status).toBe(401);
  });

  it('refuses with 403 and the user name whom the allow list does not name', async () => {
    const key = await signingKey('RS256');
    const { auth } = await setUp({ ...jwtOn, AUTH_ALLOWED_GROUPS: ['admins'] }, {}, [key]);
    const token = await sign(key, { sub: 'bob', groups: ['staff'] });
    const outcome = refusal(await auth.authenticate(get('/', { authorization: `Bearer ${token}` }), info));
    expect(outcome).toMatchObject({ method: 'jwt', result: 'forbidden', user: 'bob' });
    expect(outcome.response.status).toBe(403);
    expect(outcome.response.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope"');
    const admin = await sign(key, { sub: 'carol', groups: ['admins'] });
    expect((await auth.authenticate(get('/', { authorization: `Bearer ${admin}` }), info)).pass).toBe(true);
  });

  it('judges a request by what it carries: a failing bearer token is not rescued by a session', async () => {
    const key = await signingKey('RS256');
    const { session, calls } = standInSession({ identity: { user: 'alice' } });
    const { auth } = await setUp({ ...jwtOn, ...oidcOn }, { session }, [key]);
    const outcome = await auth.authenticate(get('/', { authorization: 'Bearer x.y.z' }), info);
    expect(refusal(outcome).response.status).toBe(401);
    expect(calls).not.toContain('session');
  });
});

describe('authenticate: the session seam', () => {
  it('serves the login routes under AUTH_PATH_PREFIX, judged on the normalised path', async () => {
    const { session, calls } = standInSession();
    const { auth } = await setUp(oidcOn, { session });
    const outcome = await auth.authenticate(get('/x'), { ...info, target: '/x/../.sidecar/auth/callback?code=1' });
    expect(outcome).toMatchObject({ pass: false, method: 'session', result: 'route' });
    expect(calls[0]).toBe('handles /.sidecar/auth/callback');
  });

  it('passes a session with its identity and the refreshed cookie', async () => {
    const identity = { user: 'alice', email: 'alice@corp.example' };
    const { session } = standInSession({ identity, setCookie: ['__Host-sidecar_session=new; Secure'] });
    const { auth } = await setUp(oidcOn, { session });
    expect(await auth.authenticate(get('/'), info)).toEqual({
      pass: true,
      method: 'session',
      identity,
      setCookie: ['__Host-sidecar_session=new; Secure'],
    });
  });

  it('redirects a browser without a session to the IdP, and gives others 401', async () => {
    const redirect = new Response(null, { status: 302, headers: { location: 'https://idp.example/auth' } });
    const browser = standInSession(undefined, redirect);
    const { auth } = await setUp(oidcOn, { session: browser.session });
    const outcome = refusal(await auth.authenticate(get('/', { accept: 'text/html' }), info));
    expect(outcome).toMatchObject({ method: 'session', result: 'unauthenticated' });
    expect(outcome.response.status).toBe(302);

    const api = await setUp(oidcOn, { session: standInSession(undefined, undefined).session });
    const apiOutcome = refusal(await api.auth.authenticate(get('/'), info));
    expect(apiOutcome.response.status).toBe(401);
    expect(apiOutcome.response.headers.get('www-authenticate')).toBeNull();
  });

  it("counts the login's own 503 from challenge as unavailable, not as a refusal of the user", async () => {
    const busy = new Response('identity provider not reachable yet\n', { status: 503 });
    const { auth } = await setUp(oidcOn, { session: standInSession(undefined, busy).session });
    const outcome = refusal(await auth.authenticate(get('/', { accept: 'text/html' }), info));
    expect(outcome).toMatchObject({ method: 'session', result: 'unavailable' });
    expect(outcome.response).toBe(busy);
  });

  it('stops the login with the authenticator', async () => {
    const { session } = standInSession();
    const close = vi.fn();
    const { auth } = await setUp(oidcOn, { session: { ...session, close } });
    auth.close();
    expect(close).toHaveBeenCalledOnce();
  });

  it('answers 503 while the IdP was never discovered', async () => {
    const { auth } = await setUp(oidcOn, { session: standInSession('unavailable').session });
    const outcome = refusal(await auth.authenticate(get('/'), info));
    expect(outcome).toMatchObject({ method: 'session', result: 'unavailable' });
    expect(outcome.response.status).toBe(503);
    expect(outcome.response.headers.get('retry-after')).toBe('5');
  });
});

describe('forwardHeaders', () => {
  it("strips spoofed identity headers and the sidecar's cookies, then sets the identity", async () => {
    const { auth } = await setUp(oidcOn, { session: standInSession().session });
    const headers = new Headers({
      'x-forwarded-user': 'admin',
      X_Forwarded_Groups: 'admins',
      cookie: 'app=1; __Host-sidecar_session=secret; b=2',
    });
    auth.forwardHeaders(headers, { user: 'alice', groups: ['staff'], accessToken: 'tok' });
    expect(Object.fromEntries(headers)).toEqual({
      cookie: 'app=1; b=2',
      'x-forwarded-user': 'alice',
      'x-forwarded-groups': 'staff',
    });
  });

  it('strips them for a skip path too, where there is no identity to set', async () => {
    const { auth } = await setUp({ ...basicOn, AUTH_PASS_ACCESS_TOKEN: true });
    const headers = new Headers({ 'X-Forwarded-Email': 'admin@corp.example', 'x-forwarded-access-token': 't' });
    auth.forwardHeaders(headers, undefined);
    expect([...headers]).toEqual([]);
  });
});
