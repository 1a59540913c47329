/**
 * Refresh against the real IdP, whose access tokens here live 60 s: the sidecar refreshes 30 s
 * before they expire (half their life, for one this short). The clock is the injected one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../../../src/auth/oidc/cookies.ts';
import type { Browser } from './browser.ts';
import { ORIGIN, startRig, tokenRequests, TTL_S } from './setup.ts';
import type { Rig } from './setup.ts';

const ACCESS_TOKEN_TTL_S = 60;

/** Whether the IdP can be reached: off makes every fetch of the sidecar fail as a refused connection would. */
const idpReachable = { on: true };

let rig: Rig;
beforeAll(async () => {
  rig = await startRig(
    { accessTokenTtlS: ACCESS_TOKEN_TTL_S },
    {
      fetch: (input, init) =>
        idpReachable.on
          ? fetch(input, init)
          : Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })),
    },
  );
});
afterAll(() => rig.close());

async function loggedIn(): Promise<{ browser: Browser; start: number; accessToken: string }> {
  const browser = rig.browser();
  const start = Date.now();
  rig.clock.now = start;
  const identity = await (await browser.navigate(`${ORIGIN}/`)).json();
  return { browser, start, accessToken: identity.accessToken };
}

function api(browser: Browser): Promise<Response> {
  return browser.request(`${ORIGIN}/api`, { accept: 'application/json' });
}

function refreshes(): number {
  return tokenRequests(rig).filter((request) => new URLSearchParams(request.body).get('grant_type') === 'refresh_token')
    .length;
}

describe('refresh', () => {
  it('waits until the access token is due, then refreshes it once and re-issues the cookie for the rest of the session', async () => {
    const { browser, start, accessToken } = await loggedIn();
    const before = refreshes();
    rig.clock.now = start + 29_000;
    const early = await api(browser);
    expect(early.headers.getSetCookie()).toEqual([]);
    expect(refreshes()).toBe(before);

    rig.clock.now = start + 30_000;
    const due = await api(browser);
    expect(due.status).toBe(200);
    const identity = await due.json();
    expect(identity.user).toBe('alice');
    expect(identity.accessToken).toEqual(expect.any(String));
    expect(identity.accessToken).not.toBe(accessToken);
    const [cookie] = due.headers.getSetCookie();
    expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[\\w.-]+; Max-Age=${TTL_S - 30}; Path=/; Secure; HttpOnly;`));
    expect(refreshes()).toBe(before + 1);
    const refresh = tokenRequests(rig).at(-1);
    expect(refresh?.authorization).toMatch(/^Basic /);

    // The new cookie is used from now on, and is good until its own refresh time.
    const after = await api(browser);
    expect(after.headers.getSetCookie()).toEqual([]);
    expect((await after.json()).accessToken).toBe(identity.accessToken);
    expect((await rig.sessionOf(browser))?.expiresAt).toBe(Math.floor(start / 1000) + TTL_S);
  });

  it('makes one refresh for concurrent requests of one session, and answers each with the new cookie', async () => {
    const { browser, start } = await loggedIn();
    const before = refreshes();
    rig.clock.now = start + 45_000;
    const responses = await Promise.all(Array.from({ length: 5 }, () => api(browser)));
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
    const cookies = new Set(responses.map((response) => response.headers.getSetCookie()[0]));
    expect(cookies.size).toBe(1);
    expect(refreshes()).toBe(before + 1);
  });

  it('gives a request still carrying the old cookie the new session, without refreshing again', async () => {
    const { browser, start } = await loggedIn();
    const old = browser.cookie(ORIGIN, SESSION_COOKIE);
    rig.clock.now = start + 45_000;
    const refreshed = await api(browser);
    const before = refreshes();
    browser.setCookie(ORIGIN, SESSION_COOKIE, old ?? '');
    const late = await api(browser);
    expect(late.status).toBe(200);
    expect(late.headers.getSetCookie()).toEqual(refreshed.headers.getSetCookie());
    expect(refreshes()).toBe(before);
  });

  it('ends the session when the IdP refuses the refresh token (revoked): the browser logs in again', async () => {
    const { browser, start } = await loggedIn();
    const refreshToken = (await rig.sessionOf(browser))?.refreshToken ?? '';
    const revoked = await fetch(new URL('/token/revocation', rig.idp.issuer), {
      method: 'POST',
      headers: { authorization: `Basic ${btoa(`${rig.idp.clientId}:${rig.idp.clientSecret}`)}` },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }),
    });
    expect(revoked.status).toBe(200);
    rig.clock.now = start + 45_000;
    const before = refreshes();
    expect((await api(browser)).status).toBe(401);
    expect((await api(browser)).status).toBe(401);
    expect(refreshes()).toBe(before + 1);
    expect((await browser.request(`${ORIGIN}/page`)).status).toBe(302);
  });

  it('answers 503 while the IdP cannot be reached for a due refresh, and refreshes once it is back', async () => {
    const { browser, start } = await loggedIn();
    rig.clock.now = start + 45_000;
    idpReachable.on = false;
    try {
      expect((await api(browser)).status).toBe(503);
      expect(rig.said.at(-1)).toMatch(
        /^sidecar: OIDC refresh failed, the identity provider is unreachable \(.*ECONNREFUSED/,
      );
    } finally {
      idpReachable.on = true;
    }
    const back = await api(browser);
    expect(back.status).toBe(200);
    expect(back.headers.getSetCookie()).toHaveLength(1);
  });
});
