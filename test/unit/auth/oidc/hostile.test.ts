/**
 * Attacks on the OIDC login, each named after what it tries, against the real IdP: forged and
 * altered cookies, login CSRF through a foreign `state`, a replayed callback, open redirects
 * through the return path, and a session cookie sent in clear text.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptJWT, UnsecuredJWT } from 'jose';
import { LOGIN_COOKIE, SESSION_COOKIE } from '../../../../src/auth/oidc/cookies.ts';
import { createSealer } from '../../../../src/auth/oidc/sealed.ts';
import type { Browser } from './browser.ts';
import { cookieSecret, ORIGIN, PREFIX, startRig, tokenRequests } from './setup.ts';
import type { Rig } from './setup.ts';

const loopback = { client: '127.0.0.1', https: false };

let rig: Rig;
beforeAll(async () => {
  rig = await startRig();
});
afterAll(() => rig.close());

function withSession(value: string): Request {
  return new Request(`${ORIGIN}/`, { headers: { cookie: `${SESSION_COOKIE}=${value}` } });
}

async function validSessionCookie(): Promise<string> {
  const browser = rig.browser();
  await browser.navigate(`${ORIGIN}/`);
  return browser.cookie(ORIGIN, SESSION_COOKIE) ?? '';
}

/** The callback URL the IdP sends a browser to after its login, without following it. */
async function callbackUrlFor(browser: Browser, login: string): Promise<string> {
  const isCallback = (url: URL) => url.origin === ORIGIN && url.pathname === `${PREFIX}callback`;
  const last = await browser.navigate(`${ORIGIN}/`, { login, stopBefore: isCallback });
  return new URL(last.headers.get('location') ?? '', rig.idp.issuer).href;
}

describe('a tampered session cookie (AES-GCM authenticates the sealed session)', () => {
  it('opens no session when any part of the JWE is changed by one character', async () => {
    const value = await validSessionCookie();
    expect(await rig.auth.session(withSession(value), loopback)).toMatchObject({ identity: { user: 'alice' } });
    const parts = value.split('.');
    for (const index of [0, 2, 3, 4]) {
      const changed = [...parts];
      const part = changed[index] ?? '';
      changed[index] = part.slice(0, 5) + (part[5] === 'A' ? 'B' : 'A') + part.slice(6);
      expect(await rig.auth.session(withSession(changed.join('.')), loopback), `part ${index}`).toBeUndefined();
    }
  });

  it('opens no session from an unsecured JWT naming any user (alg: none)', async () => {
    const forged = new UnsecuredJWT({ sub: 'admin', gr: ['admins'] }).setExpirationTime('1h').encode();
    expect(await rig.auth.session(withSession(forged), loopback)).toBeUndefined();
  });

  it('opens no session from a cookie sealed with the raw cookie secret as the key', async () => {
    const forged = await new EncryptJWT({ sub: 'admin' })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setExpirationTime('1h')
      .encrypt(cookieSecret.slice(0, 32));
    expect(await rig.auth.session(withSession(forged), loopback)).toBeUndefined();
  });

  it('opens no session from a login cookie, or a session of another service sharing the secret', async () => {
    const claims = { sub: 'admin' };
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    const login = await (await createSealer(cookieSecret, 'login', 'app')).seal(claims, expiry);
    const otherService = await (await createSealer(cookieSecret, 'session', 'billing')).seal(claims, expiry);
    const same = await (await createSealer(cookieSecret, 'session', 'app')).seal(claims, expiry);
    expect(await rig.auth.session(withSession(login), loopback)).toBeUndefined();
    expect(await rig.auth.session(withSession(otherService), loopback)).toBeUndefined();
    // The control: the same claims sealed as this service's session do open.
    expect(await rig.auth.session(withSession(same), loopback)).toMatchObject({ identity: { user: 'admin' } });
  });
});

describe('login CSRF: a callback with a foreign state (RFC 6749 §10.12)', () => {
  it("refuses the attacker's code and state in the victim's browser, exchanging nothing and setting no session", async () => {
    const attacker = rig.browser();
    const planted = await callbackUrlFor(attacker, 'mallory');
    const victim = rig.browser();
    const started = await victim.request(`${ORIGIN}/`);
    expect(started.status).toBe(302);
    const exchanges = tokenRequests(rig).length;

    const response = await victim.request(planted);
    expect(response.status).toBe(403);
    expect(await response.text()).toBe('this answer does not belong to the sign-in this browser began (state)\n');
    expect(response.headers.getSetCookie()).toEqual([
      `${LOGIN_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax`,
    ]);
    expect(victim.cookie(ORIGIN, SESSION_COOKIE)).toBeUndefined();
    expect(tokenRequests(rig).length).toBe(exchanges);
  });

  it('refuses a callback in a browser that began no login', async () => {
    const planted = await callbackUrlFor(rig.browser(), 'mallory');
    const response = await rig.browser().request(planted);
    expect(response.status).toBe(400);
    expect(response.headers.getSetCookie().some((line) => line.startsWith(`${SESSION_COOKIE}=`))).toBe(false);
  });

  it('refuses a replayed callback: the login cookie is single-use, and the IdP spent the code', async () => {
    const browser = rig.browser();
    const callback = await callbackUrlFor(browser, 'alice');
    const login = browser.cookie(ORIGIN, LOGIN_COOKIE) ?? '';
    expect((await browser.request(callback)).status).toBe(302);
    expect((await browser.request(callback)).status).toBe(400);
    browser.setCookie(ORIGIN, LOGIN_COOKIE, login);
    const replay = await browser.request(callback);
    expect(replay.status).toBe(403);
    expect(await replay.text()).toMatch(/^sign-in failed: .*invalid_grant/);
    expect(replay.headers.getSetCookie().some((line) => line.startsWith(`${SESSION_COOKIE}=`))).toBe(false);
  });

  it('refuses a callback after the login cookie expired (10 minutes)', async () => {
    const browser = rig.browser();
    const callback = await callbackUrlFor(browser, 'alice');
    const start = rig.clock.now;
    rig.clock.now = start + 601_000;
    try {
      expect((await browser.request(callback)).status).toBe(400);
    } finally {
      rig.clock.now = start;
    }
  });

  it("passes on the IdP's refusal (error=access_denied) as a 403 without a session", async () => {
    const browser = rig.browser();
    const start = new URL((await browser.request(`${ORIGIN}/`)).headers.get('location') ?? '');
    const state = start.searchParams.get('state') ?? '';
    const iss = rig.idp.issuer.href.replace(/\/$/, '');
    const url = `${ORIGIN}${PREFIX}callback?error=access_denied&state=${state}&iss=${encodeURIComponent(iss)}`;
    const response = await browser.request(url);
    expect(response.status).toBe(403);
    expect(await response.text()).toBe('the identity provider refused the sign-in (access_denied)\n');
  });
});

describe('open redirect through the return path (CWE-601; oauth2-proxy GHSA-qqxw-m5fj-f7gv, GHSA-j7px-6hwj-hpjg)', () => {
  const offSite = ['//evil.example', 'https://evil.example', '/\\evil.example', '/\t/evil.example', '/.//evil.example'];
  for (const rd of offSite) {
    it(`sends the browser to / after a login asked to return to ${JSON.stringify(rd)}`, async () => {
      const browser = rig.browser();
      await browser.navigate(`${ORIGIN}${PREFIX}login?rd=${encodeURIComponent(rd)}`);
      const callback = browser.visits.find((visit) => visit.url.startsWith(`${ORIGIN}${PREFIX}callback`));
      expect(callback).toMatchObject({ status: 302, location: '/' });
    });
  }

  it('returns a navigation to a path that starts with // to / (the request path is not trusted either)', async () => {
    const response = await rig.auth.challenge(
      new Request(`${ORIGIN}//evil.example/x`, { headers: { accept: 'text/html' } }),
      loopback,
    );
    const login = response?.headers.getSetCookie()[0]?.split(';')[0]?.split('=')[1] ?? '';
    const claims = await (await createSealer(cookieSecret, 'login', 'app')).open(login, rig.clock.now);
    expect(claims?.rd).toBe('/');
  });
});

describe('the session cookie in clear text', () => {
  const remote = { client: '203.0.113.9', https: false };

  it('refuses to start a login over plain HTTP from a non-loopback client, saying why in one line', async () => {
    const navigation = await rig.auth.challenge(
      new Request(`${ORIGIN}/`, { headers: { accept: 'text/html' } }),
      remote,
    );
    const route = await rig.auth.handle(new Request(`${ORIGIN}${PREFIX}login?rd=/`), remote);
    for (const response of [navigation, route]) {
      expect(response?.status).toBe(400);
      expect(response?.headers.getSetCookie()).toEqual([]);
      const body = (await response?.text()) ?? '';
      expect(body).toMatch(/^sign-in needs HTTPS: .+\n$/);
      expect(body.split('\n')).toHaveLength(2);
    }
  });

  it('refuses to finish a login over plain HTTP from a non-loopback client', async () => {
    const browser = rig.browser();
    const callback = await callbackUrlFor(browser, 'alice');
    browser.info = remote;
    const response = await browser.request(callback);
    expect(response.status).toBe(400);
    expect(response.headers.getSetCookie()).toEqual([]);
  });

  it('lets loopback clients (127.0.0.0/8, ::1, IPv4-mapped) and HTTPS clients log in', async () => {
    const infos = [
      { client: '127.0.0.1', https: false },
      { client: '127.3.2.1', https: false },
      { client: '::1', https: false },
      { client: '::ffff:127.0.0.1', https: false },
      { client: '203.0.113.9', https: true },
    ];
    for (const info of infos) {
      const response = await rig.auth.challenge(new Request(`${ORIGIN}/`, { headers: { accept: 'text/html' } }), info);
      expect(response?.status, JSON.stringify(info)).toBe(302);
    }
  });
});

describe('the reserved prefix', () => {
  it('is all served by the sidecar: an unknown route under it is a 404, never the app', async () => {
    expect(rig.auth.handles(`${PREFIX}anything`)).toBe(true);
    expect(rig.auth.handles('/.sidecar/authx')).toBe(false);
    expect((await rig.auth.handle(new Request(`${ORIGIN}${PREFIX}anything`), loopback)).status).toBe(404);
    expect(
      (await rig.auth.handle(new Request(`${ORIGIN}${PREFIX}callback`, { method: 'POST' }), loopback)).status,
    ).toBe(405);
  });
});
