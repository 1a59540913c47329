/**
 * The session lives in one cookie under 4 KiB (RFC 6265 §6.1), whatever the IdP puts in its
 * tokens: measured on real logins (opaque and JWT access tokens, growing group lists) and on
 * sessions of chosen sizes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_SET_COOKIE_BYTES, SESSION_COOKIE } from '../../../../src/auth/oidc/cookies.ts';
import { createSealer } from '../../../../src/auth/oidc/sealed.ts';
import {
  issueSessionCookie,
  openSessionCookie,
  SessionTooLargeError,
} from '../../../../src/auth/oidc/session-cookie.ts';
import type { Session } from '../../../../src/auth/oidc/session.ts';
import { cookieSecret, ORIGIN, PREFIX, startRig } from './setup.ts';
import type { Rig } from './setup.ts';

const groups = (count: number) => Array.from({ length: count }, (_, i) => `group-number-${i}-of-the-org`);

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function loginWith(options: { jwtAccessTokens: boolean; groups: number }) {
  rig = await startRig({
    jwtAccessTokens: options.jwtAccessTokens,
    accounts: { alice: { groups: groups(options.groups) } },
  });
  const browser = rig.browser();
  const response = await browser.navigate(`${ORIGIN}/`);
  const setCookie = browser.sidecarSetCookies.find((line) => line.startsWith(`${SESSION_COOKIE}=`));
  return { rig, browser, response, setCookie, session: await rig.sessionOf(browser) };
}

describe('the session cookie of a real login', () => {
  it('keeps both tokens with an opaque access token and a few groups (about 1.5 KiB)', async () => {
    const { response, setCookie, session } = await loginWith({ jwtAccessTokens: false, groups: 2 });
    expect(response.status).toBe(200);
    expect(setCookie!.length).toBeLessThan(2048);
    expect(session?.accessToken).toEqual(expect.any(String));
    expect(session?.idToken).toEqual(expect.any(String));
  });

  it('leaves out a JWT access token when the groups leave no room for it, keeping the ID token', async () => {
    const { response, setCookie, session } = await loginWith({ jwtAccessTokens: true, groups: 30 });
    expect(setCookie!.length).toBeLessThanOrEqual(MAX_SET_COOKIE_BYTES);
    expect(session?.accessToken).toBeUndefined();
    expect(session?.idToken).toEqual(expect.any(String));
    const identity = await response.json();
    expect(identity.groups).toHaveLength(30);
    expect(identity.accessToken).toBeUndefined();
  });

  it('leaves out the ID token when the groups leave no room for it; the logout then sends client_id only', async () => {
    const { browser, setCookie, session } = await loginWith({ jwtAccessTokens: false, groups: 60 });
    expect(setCookie!.length).toBeLessThanOrEqual(MAX_SET_COOKIE_BYTES);
    expect(session?.idToken).toBeUndefined();
    expect(session?.accessToken).toEqual(expect.any(String));
    expect(session?.groups).toHaveLength(60);
    const logout = await browser.request(`${ORIGIN}${PREFIX}logout`);
    const location = new URL(logout.headers.get('location') ?? '');
    expect(location.searchParams.has('id_token_hint')).toBe(false);
    expect(location.searchParams.get('client_id')).toBe(rig?.idp.clientId);
  });

  it('refuses the login, saying why, when the groups alone overflow the cookie', async () => {
    const { response, browser } = await loginWith({ jwtAccessTokens: false, groups: 120 });
    expect(response.status).toBe(403);
    expect(await response.text()).toMatch(
      /^sign-in failed: the session cookie would be \d+ bytes even without the tokens/,
    );
    expect(rig?.said.at(-1)).toMatch(/^sidecar: OIDC sign-in refused: the session cookie would be/);
    expect(browser.cookie(ORIGIN, SESSION_COOKIE)).toBeUndefined();
  });
});

describe('the session cookie of a session of chosen size', () => {
  const base: Session = { sub: 'alice', groups: ['staff'], refreshToken: 'r'.repeat(43), expiresAt: 2_000_000_000 };
  const nowS = 1_999_990_000;

  async function issue(session: Session) {
    const sealer = await createSealer(cookieSecret, 'session', 'app');
    const issued = await issueSessionCookie(sealer, session, nowS);
    expect(issued.header.length).toBeLessThanOrEqual(MAX_SET_COOKIE_BYTES);
    // toEqual treats a property set to undefined as absent: what was dropped is not in the cookie.
    expect(await openSessionCookie(sealer, issued.value, nowS * 1000)).toEqual(issued.session);
    return issued;
  }

  it('drops nothing that fits', async () => {
    const issued = await issue({ ...base, accessToken: 'a'.repeat(1000), idToken: 'i'.repeat(1000) });
    expect(issued.dropped).toEqual([]);
  });

  it('drops the access token first, then the ID token alone if that suffices, then both', async () => {
    expect((await issue({ ...base, accessToken: 'a'.repeat(2500), idToken: 'i'.repeat(400) })).dropped).toEqual([
      'accessToken',
    ]);
    expect((await issue({ ...base, accessToken: 'a'.repeat(40), idToken: 'i'.repeat(3000) })).dropped).toEqual([
      'idToken',
    ]);
    expect((await issue({ ...base, accessToken: 'a'.repeat(3000), idToken: 'i'.repeat(3000) })).dropped).toEqual([
      'accessToken',
      'idToken',
    ]);
  });

  it('throws SessionTooLargeError when the identity alone does not fit', async () => {
    const sealer = await createSealer(cookieSecret, 'session', 'app');
    await expect(issueSessionCookie(sealer, { ...base, groups: groups(150) }, nowS)).rejects.toBeInstanceOf(
      SessionTooLargeError,
    );
  });
});
