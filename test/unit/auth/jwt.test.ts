import { SignJWT, UnsecuredJWT, exportSPKI } from 'jose';
import { describe, expect, it } from 'vitest';
import { KeySet } from '../../../src/auth/jwks.ts';
import { createJwtVerifier, identityFromClaims } from '../../../src/auth/jwt.ts';
import { AUDIENCE, ISSUER, T0, b64url, clock, fakeIssuer, manualTimers, sign, signingKey } from './support.ts';
import type { Algorithm, SigningKey } from './support.ts';

async function setUp(keys: SigningKey[], options: { audience?: string[] } = {}) {
  const time = clock();
  const issuer = fakeIssuer(keys);
  const keySet = new KeySet({ issuer: ISSUER, fetch: issuer.fetch, now: time.now, schedule: manualTimers().schedule });
  expect(await keySet.refresh()).toBe(true);
  const verify = createJwtVerifier({
    issuer: ISSUER,
    audience: options.audience ?? [AUDIENCE],
    keys: keySet,
    now: time.now,
  });
  return { time, issuer, keySet, verify };
}

describe('bearer JWT: algorithms', () => {
  it.each<Algorithm>(['RS256', 'PS256', 'ES256', 'EdDSA'])('accepts a token signed with %s', async (alg) => {
    const key = await signingKey(alg);
    const { verify } = await setUp([key]);
    const token = await sign(key, { email: 'alice@example.com', groups: ['admins', 'staff'] });
    expect(await verify(token)).toEqual({
      ok: true,
      identity: { user: 'alice', email: 'alice@example.com', groups: ['admins', 'staff'], accessToken: token },
    });
  });

  it('refuses an unsigned token (alg: none)', async () => {
    const key = await signingKey('RS256');
    const { verify } = await setUp([key]);
    const unsigned = new UnsecuredJWT({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: T0 + 3600 }).encode();
    expect(await verify(unsigned)).toEqual({ ok: false, reason: 'invalid_token' });
    // The same, naming the issuer's kid, as a forger would.
    const withKid = `${b64url({ alg: 'none', kid: key.kid })}.${b64url({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: T0 + 3600 })}.`;
    expect(await verify(withKid)).toEqual({ ok: false, reason: 'invalid_token' });
  });

  it('refuses an HS256 token whose secret is the issuer public key (key confusion)', async () => {
    const key = await signingKey('RS256');
    const { verify } = await setUp([key]);
    const pem = await exportSPKI(key.publicKey);
    for (const secret of [pem, JSON.stringify(key.jwk)]) {
      const forged = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: T0 + 3600 })
        .setProtectedHeader({ alg: 'HS256', kid: key.kid })
        .sign(new TextEncoder().encode(secret));
      expect(await verify(forged)).toEqual({ ok: false, reason: 'invalid_token' });
    }
  });

  it('refuses a token signed by a key the issuer does not publish, under a published kid', async () => {
    const key = await signingKey('ES256', 'shared-kid');
    const impostor = await signingKey('ES256', 'shared-kid');
    const { verify } = await setUp([key]);
    expect(await verify(await sign(impostor))).toEqual({ ok: false, reason: 'invalid_token' });
  });

  it('refuses an algorithm outside the list even when the issuer publishes a key for it (ES384)', async () => {
    const key = await signingKey('ES256');
    const { privateKey, publicKey } = await (await import('jose')).generateKeyPair('ES384', { extractable: true });
    const jwk = { ...(await (await import('jose')).exportJWK(publicKey)), kid: 'es384', alg: 'ES384' };
    const { verify, issuer, keySet } = await setUp([key]);
    issuer.state.keys = [key.jwk, jwk];
    await keySet.refresh();
    const token = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', exp: T0 + 3600 })
      .setProtectedHeader({ alg: 'ES384', kid: 'es384' })
      .sign(privateKey);
    expect(await verify(token)).toEqual({ ok: false, reason: 'invalid_token' });
  });
});

describe('bearer JWT: claims', () => {
  it('refuses a token from another issuer, or for another audience', async () => {
    const key = await signingKey('RS256');
    const { verify } = await setUp([key]);
    expect(await verify(await sign(key, { iss: 'https://evil.example' }))).toEqual({
      ok: false,
      reason: 'invalid_token',
    });
    expect(await verify(await sign(key, { iss: `${ISSUER}/` }))).toEqual({ ok: false, reason: 'invalid_token' });
    expect(await verify(await sign(key, { aud: 'another-app' }))).toEqual({ ok: false, reason: 'invalid_token' });
    expect(await verify(await sign(key, { aud: undefined }))).toEqual({ ok: false, reason: 'invalid_token' });
  });

  it('accepts a token whose aud list names one of the configured audiences', async () => {
    const key = await signingKey('RS256');
    const { verify } = await setUp([key], { audience: ['api', AUDIENCE] });
    expect((await verify(await sign(key, { aud: ['other', AUDIENCE] }))).ok).toBe(true);
  });

  it('accepts exp up to 59 s past and refuses it at 60 s (60 s skew)', async () => {
    const key = await signingKey('RS256');
    const { verify, time } = await setUp([key]);
    const token = await sign(key, { exp: T0 + 100 });
    time.set(T0 + 159);
    expect((await verify(token)).ok).toBe(true);
    time.set(T0 + 160);
    expect(await verify(token)).toEqual({ ok: false, reason: 'invalid_token' });
  });

  it('accepts nbf up to 60 s ahead and refuses it at 61 s', async () => {
    const key = await signingKey('RS256');
    const { verify, time } = await setUp([key]);
    const token = await sign(key, { nbf: T0 + 100 });
    time.set(T0 + 39);
    expect(await verify(token)).toEqual({ ok: false, reason: 'invalid_token' });
    time.set(T0 + 40);
    expect((await verify(token)).ok).toBe(true);
  });

  it('refuses a token without exp or without sub', async () => {
    const key = await signingKey('RS256');
    const { verify } = await setUp([key]);
    expect(await verify(await sign(key, { exp: undefined }))).toEqual({ ok: false, reason: 'invalid_token' });
    expect(await verify(await sign(key, { sub: undefined }))).toEqual({ ok: false, reason: 'invalid_token' });
  });

  it('refuses a token whose sub could not be a header value', async () => {
    const key = await signingKey('RS256');
    const { verify } = await setUp([key]);
    expect(await verify(await sign(key, { sub: 'alice\r\nX-Forwarded-User: admin' }))).toEqual({
      ok: false,
      reason: 'invalid_token',
    });
  });

  it('reads groups as an array of strings or one string, and drops an unverified email', () => {
    expect(identityFromClaims({ sub: 'a', groups: 'admins' })).toEqual({ user: 'a', groups: ['admins'] });
    expect(identityFromClaims({ sub: 'a', groups: ['x', 3, null, 'y'] })).toEqual({ user: 'a', groups: ['x', 'y'] });
    expect(identityFromClaims({ sub: 'a', email: 'a@corp.example', email_verified: false })).toEqual({ user: 'a' });
    expect(identityFromClaims({ sub: 'a', email: 'a@corp.example', email_verified: true })?.email).toBe(
      'a@corp.example',
    );
  });
});

describe('bearer JWT: the verified-token cache', () => {
  it('answers a repeated token without asking for its key again', async () => {
    const key = await signingKey('ES256');
    const { issuer, time } = await setUp([key]);
    let lookups = 0;
    const keySet = new KeySet({
      issuer: ISSUER,
      fetch: issuer.fetch,
      now: time.now,
      schedule: manualTimers().schedule,
    });
    await keySet.refresh();
    const counting = {
      get ready() {
        return keySet.ready;
      },
      get generation() {
        return keySet.generation;
      },
      retryAfterSeconds: () => 1,
      getKey: (...args: Parameters<KeySet['getKey']>) => (lookups++, keySet.getKey(...args)),
    };
    const verify = createJwtVerifier({ issuer: ISSUER, audience: [AUDIENCE], keys: counting, now: time.now });
    const token = await sign(key);
    for (let i = 0; i < 5; i++) expect((await verify(token)).ok).toBe(true);
    expect(lookups).toBe(1);
  });

  it('stops answering from the cache at the moment a fresh check would refuse the token', async () => {
    const key = await signingKey('RS256');
    const { verify, time } = await setUp([key]);
    const token = await sign(key, { exp: T0 + 100 });
    expect((await verify(token)).ok).toBe(true);
    time.set(T0 + 160);
    expect(await verify(token)).toEqual({ ok: false, reason: 'invalid_token' });
  });

  it('checks a cached token again once the issuer withdraws its key', async () => {
    const old = await signingKey('RS256', 'old');
    const next = await signingKey('RS256', 'next');
    const { verify, issuer, keySet } = await setUp([old]);
    const token = await sign(old);
    expect((await verify(token)).ok).toBe(true);
    issuer.publish([next]);
    await keySet.refresh();
    expect(await verify(token)).toEqual({ ok: false, reason: 'invalid_token' });
  });

  it('never caches a token that differs by one byte', async () => {
    const key = await signingKey('RS256');
    const { verify } = await setUp([key]);
    const token = await sign(key);
    expect((await verify(token)).ok).toBe(true);
    const [h, p, s] = token.split('.') as [string, string, string];
    const tampered = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BA' : 'AA'}`;
    expect(await verify(tampered)).toEqual({ ok: false, reason: 'invalid_token' });
  });
});

describe('bearer JWT: the first key fetch', () => {
  it('a token that arrives while the first fetch is on its way waits for it instead of getting 503', async () => {
    const key = await signingKey('ES256');
    const time = clock();
    const issuer = fakeIssuer([key]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slowFetch = (async (input: RequestInfo | URL) => {
      await gate;
      return issuer.fetch(input);
    }) as typeof fetch;
    const keySet = new KeySet({ issuer: ISSUER, fetch: slowFetch, now: time.now, schedule: manualTimers().schedule });
    const verify = createJwtVerifier({ issuer: ISSUER, audience: [AUDIENCE], keys: keySet, now: time.now });
    keySet.start();
    const verdict = verify(await sign(key));
    release();
    expect(await verdict).toMatchObject({ ok: true, identity: { user: 'alice' } });
  });

  it('without a fetch under way, a token gets unavailable at once and starts no fetch of its own', async () => {
    const key = await signingKey('ES256');
    const time = clock();
    const issuer = fakeIssuer([key]);
    issuer.state.down = true;
    const keySet = new KeySet({
      issuer: ISSUER,
      fetch: issuer.fetch,
      now: time.now,
      schedule: manualTimers().schedule,
    });
    expect(await keySet.refresh()).toBe(false);
    const verify = createJwtVerifier({ issuer: ISSUER, audience: [AUDIENCE], keys: keySet, now: time.now });
    const before = issuer.state.requests.length;
    expect(await verify(await sign(key))).toEqual({ ok: false, reason: 'unavailable' });
    expect(issuer.state.requests.length).toBe(before);
  });
});
