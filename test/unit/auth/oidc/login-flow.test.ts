/**
 * The OIDC login end to end against a real IdP (oidc-provider on loopback): a browser is sent to
 * the IdP, logs in, comes back to the page it asked for with a session; the session is used,
 * refreshed and ended. Time moves through the injected clock only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOGIN_COOKIE, SESSION_COOKIE } from '../../../../src/auth/oidc/cookies.ts';
import { HTML } from './browser.ts';
import { HTTPS_ORIGIN, ORIGIN, PREFIX, startRig, tokenRequests, TTL_S } from './setup.ts';
import type { Rig } from './setup.ts';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig({ accounts: { alice: { email: 'alice@corp.example', groups: ['admins', 'staff'] } } });
});
afterAll(() => rig.close());

describe('a browser without a session', () => {
  it('is sent to the authorization endpoint with the code flow, PKCE S256, state, nonce and the login cookie', async () => {
    const browser = rig.browser();
    const response = await browser.request(`${ORIGIN}/reports?year=2026`);
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location') ?? '');
    expect(location.origin + location.pathname).toBe(new URL('/auth', rig.idp.issuer).href);
    const query = Object.fromEntries(location.searchParams);
    expect(query).toMatchObject({
      response_type: 'code',
      client_id: rig.idp.clientId,
      redirect_uri: `${ORIGIN}${PREFIX}callback`,
      scope: 'openid email profile',
      code_challenge_method: 'S256',
    });
    expect(query.state).toMatch(/^[\w-]{43}$/);
    expect(query.nonce).toMatch(/^[\w-]{43}$/);
    expect(query.code_challenge).toMatch(/^[\w-]{43}$/);
    const cookie = response.headers.getSetCookie();
    expect(cookie).toHaveLength(1);
    expect(cookie[0]).toMatch(
      new RegExp(
        `^${LOGIN_COOKIE}=[\\w-]+\\.\\.[\\w-]+\\.[\\w-]+\\.[\\w-]+; Max-Age=600; Path=/; Secure; HttpOnly; SameSite=Lax$`,
      ),
    );
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it('is not given a login page for an API call, a script, or a non-GET request', async () => {
    const info = { client: '127.0.0.1', https: false };
    const cases: RequestInit[] = [
      { headers: { accept: 'application/json' } },
      { headers: { accept: '*/*' } },
      {},
      { method: 'POST', headers: { accept: HTML } },
      { method: 'DELETE', headers: { accept: 'text/html' } },
    ];
    for (const init of cases) {
      expect(await rig.auth.challenge(new Request(`${ORIGIN}/api`, init), info), JSON.stringify(init)).toBeUndefined();
    }
    const head = await rig.auth.challenge(
      new Request(`${ORIGIN}/page`, { method: 'HEAD', headers: { accept: 'text/html;q=0.9' } }),
      info,
    );
    expect(head?.status).toBe(302);
  });
});

describe('the login', () => {
  it('brings the browser back to the page it asked for, with the identity from the ID token', async () => {
    const browser = rig.browser();
    const response = await browser.navigate(`${ORIGIN}/reports?year=2026`);
    expect(response.status).toBe(200);
    const identity = await response.json();
    expect(identity).toMatchObject({
      path: '/reports',
      user: 'alice',
      email: 'alice@corp.example',
      groups: ['admins', 'staff'],
    });
    expect(identity.accessToken).toEqual(expect.any(String));
    const callback = browser.visits.find((visit) => visit.url.startsWith(`${ORIGIN}${PREFIX}callback`));
    expect(callback).toMatchObject({ status: 302, location: '/reports?year=2026' });
  });

  it('exchanges the code with client_secret_basic and the PKCE verifier', async () => {
    const before = tokenRequests(rig).length;
    await rig.browser().navigate(`${ORIGIN}/`);
    const [exchange] = tokenRequests(rig).slice(before);
    // RFC 6749 §2.3.1: id and secret form-encoded, then Basic (oauth4webapi encodes even `-`).
    const [scheme, credentials] = exchange?.authorization?.split(' ') ?? [];
    expect(scheme).toBe('Basic');
    expect(
      atob(credentials ?? '')
        .split(':')
        .map(decodeURIComponent),
    ).toEqual([rig.idp.clientId, rig.idp.clientSecret]);
    const form = new URLSearchParams(exchange?.body);
    expect(form.get('grant_type')).toBe('authorization_code');
    expect(form.get('code_verifier')).toMatch(/^[\w-]{43}$/);
    expect(form.get('client_secret')).toBeNull();
  });

  it('sets the session cookie with __Host- attributes for the session TTL, under 4 KiB, and clears the login cookie', async () => {
    const browser = rig.browser();
    await browser.navigate(`${ORIGIN}/`);
    const fromCallback = browser.sidecarSetCookies.slice(-2);
    expect(fromCallback[0]).toMatch(
      new RegExp(`^${SESSION_COOKIE}=[\\w.-]+; Max-Age=${TTL_S}; Path=/; Secure; HttpOnly; SameSite=Lax$`),
    );
    expect(fromCallback[0]!.length).toBeLessThan(4096);
    expect(fromCallback[1]).toBe(`${LOGIN_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax`);
    expect(browser.cookie(ORIGIN, LOGIN_COOKIE)).toBeUndefined();
    const session = await rig.sessionOf(browser);
    expect(session).toMatchObject({ sub: 'alice', expiresAt: Math.floor(rig.clock.now / 1000) + TTL_S });
    expect(session?.refreshToken).toEqual(expect.any(String));
    expect(session?.idToken).toEqual(expect.any(String));
  });

  it('uses https in the redirect_uri when the browser came over HTTPS', async () => {
    const browser = rig.browser({ client: '203.0.113.7', https: true }, HTTPS_ORIGIN);
    const response = await browser.navigate(`${HTTPS_ORIGIN}/secure`);
    expect(await response.json()).toMatchObject({ user: 'alice', path: '/secure' });
    const start = new URL(browser.visits[0]?.location ?? '');
    expect(start.searchParams.get('redirect_uri')).toBe(`${HTTPS_ORIGIN}${PREFIX}callback`);
  });

  it('starts from the login route and returns to its rd parameter', async () => {
    const browser = rig.browser();
    const response = await browser.navigate(`${ORIGIN}${PREFIX}login?rd=${encodeURIComponent('/after?x=1')}`);
    expect(await response.json()).toMatchObject({ user: 'alice', path: '/after' });
    expect(browser.visits.find((visit) => visit.url.includes('/callback'))?.location).toBe('/after?x=1');
  });
});

describe('a session', () => {
  it('serves repeat requests from the cookie without asking the IdP', async () => {
    const browser = rig.browser();
    await browser.navigate(`${ORIGIN}/`);
    const before = rig.sent.length;
    for (let i = 0; i < 5; i++) {
      const response = await browser.request(`${ORIGIN}/again`, { accept: 'application/json' });
      expect(response.status).toBe(200);
      expect(response.headers.getSetCookie()).toEqual([]);
    }
    expect(rig.sent.length).toBe(before);
  });

  it('ends after the session TTL: the browser is sent to log in again', async () => {
    const browser = rig.browser();
    await browser.navigate(`${ORIGIN}/`);
    const start = rig.clock.now;
    try {
      rig.clock.now = start + TTL_S * 1000 - 1000;
      expect((await browser.request(`${ORIGIN}/`, { accept: 'application/json' })).status).not.toBe(401);
      rig.clock.now = start + TTL_S * 1000;
      expect((await browser.request(`${ORIGIN}/`, { accept: 'application/json' })).status).toBe(401);
      expect((await browser.request(`${ORIGIN}/`)).status).toBe(302);
    } finally {
      rig.clock.now = start;
    }
  });
});

describe('logout', () => {
  it("clears the session and sends the browser to the IdP's end_session_endpoint with id_token_hint", async () => {
    const browser = rig.browser();
    await browser.navigate(`${ORIGIN}/`);
    const oldCookie = browser.cookie(ORIGIN, SESSION_COOKIE);
    const idToken = (await rig.sessionOf(browser))?.idToken;
    const response = await browser.request(`${ORIGIN}${PREFIX}logout`);
    expect(response.status).toBe(302);
    expect(response.headers.getSetCookie()).toContain(
      `${SESSION_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax`,
    );
    const location = new URL(response.headers.get('location') ?? '');
    expect(location.href.startsWith(new URL('/session/end', rig.idp.issuer).href)).toBe(true);
    expect(Object.fromEntries(location.searchParams)).toEqual({
      id_token_hint: idToken,
      client_id: rig.idp.clientId,
      post_logout_redirect_uri: `${ORIGIN}/`,
    });
    expect(browser.cookie(ORIGIN, SESSION_COOKIE)).toBeUndefined();

    // Through the IdP's confirmation back to '/', where there is no session any more (so the
    // browser is sent to log in), and the old cookie, replayed, opens nothing in this process.
    const home = await browser.navigate(location.href, { stopAt: (url) => url.href === `${ORIGIN}/` });
    expect(home.status).toBe(302);
    expect(home.headers.get('location')?.startsWith(new URL('/auth?', rig.idp.issuer).href)).toBe(true);
    const replayed = await rig.auth.session(
      new Request(`${ORIGIN}/`, { headers: { cookie: `${SESSION_COOKIE}=${oldCookie}` } }),
      { client: '127.0.0.1', https: false },
    );
    expect(replayed).toBeUndefined();
  });

  it('logged out at the IdP, the next login shows its login form again', async () => {
    const browser = rig.browser();
    await browser.navigate(`${ORIGIN}/`);
    await browser.navigate(`${ORIGIN}${PREFIX}logout`, { stopAt: (url) => url.href === `${ORIGIN}/` });
    const visitsBefore = browser.visits.length;
    const response = await browser.navigate(`${ORIGIN}/again`, { login: 'bob' });
    expect(await response.json()).toMatchObject({ user: 'bob' });
    expect(browser.visits.slice(visitsBefore).some((visit) => visit.url.includes('/interaction/'))).toBe(true);
  });
});
