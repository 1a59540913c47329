import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KeySet } from '../../../src/auth/jwks.ts';
import { createJwtVerifier } from '../../../src/auth/jwt.ts';
import { AUDIENCE, ISSUER, T0, clock, fakeIssuer, manualTimers, sign, signingKey } from './support.ts';
import type { SigningKey } from './support.ts';

const closers: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function keySetFor(issuer: ReturnType<typeof fakeIssuer>, time = clock(), options: { jwksUrl?: string } = {}) {
  const timers = manualTimers();
  const said: string[] = [];
  const keys = new KeySet({
    issuer: ISSUER,
    fetch: issuer.fetch,
    now: time.now,
    schedule: timers.schedule,
    say: (m) => said.push(m),
    ...options,
  });
  closers.push(() => keys.close());
  const verify = createJwtVerifier({ issuer: ISSUER, audience: [AUDIENCE], keys, now: time.now });
  return { keys, verify, timers, time, said };
}

describe('JWKS: discovery', () => {
  it('finds jwks_uri in the issuer openid-configuration', async () => {
    const key = await signingKey('RS256');
    const issuer = fakeIssuer([key]);
    const { keys, verify } = keySetFor(issuer);
    expect(await keys.refresh()).toBe(true);
    expect(issuer.state.requests).toEqual([`${ISSUER}/.well-known/openid-configuration`, `${ISSUER}/jwks`]);
    expect((await verify(await sign(key))).ok).toBe(true);
  });

  it('uses AUTH_JWKS_URL as is, without discovery', async () => {
    const key = await signingKey('ES256');
    const issuer = fakeIssuer([key]);
    const { keys } = keySetFor(issuer, clock(), { jwksUrl: `${ISSUER}/jwks` });
    expect(await keys.refresh()).toBe(true);
    expect(issuer.state.requests).toEqual([`${ISSUER}/jwks`]);
  });

  it('refuses an openid-configuration that names another issuer (OIDC Discovery §4.3)', async () => {
    const key = await signingKey('RS256');
    const fetch = (async (url: RequestInfo | URL) =>
      String(url).endsWith('/openid-configuration')
        ? Response.json({ issuer: 'https://evil.example', jwks_uri: 'https://evil.example/jwks' })
        : Response.json({ keys: [key.jwk] })) as typeof globalThis.fetch;
    const { keys, said } = keySetFor({ ...fakeIssuer([]), fetch });
    expect(await keys.refresh()).toBe(false);
    expect(keys.ready).toBe(false);
    expect(said.join('\n')).toMatch(/names issuer "https:\/\/evil.example"/);
  });

  it('refuses a plain-http jwks_uri on a non-loopback host', async () => {
    const fetch = (async () =>
      Response.json({ issuer: ISSUER, jwks_uri: 'http://idp.example/jwks' })) as unknown as typeof globalThis.fetch;
    const { keys } = keySetFor({ ...fakeIssuer([]), fetch });
    expect(await keys.refresh()).toBe(false);
  });

  it('does not follow a redirect for the keys', async () => {
    let asked: RequestInit | undefined;
    const fetch = (async (_url: RequestInfo | URL, init?: RequestInit) => {
      asked = init;
      return new Response(null, { status: 302, headers: { location: 'https://evil.example/jwks' } });
    }) as typeof globalThis.fetch;
    const { keys } = keySetFor({ ...fakeIssuer([]), fetch }, clock(), { jwksUrl: `${ISSUER}/jwks` });
    expect(await keys.refresh()).toBe(false);
    expect(asked?.redirect).toBe('manual');
    expect(asked?.signal).toBeInstanceOf(AbortSignal);
  });
});

describe('JWKS: rotation and the unknown-kid limit', () => {
  it('fetches the set again when a token names a new kid (key rotation)', async () => {
    const first = await signingKey('RS256', 'k1');
    const second = await signingKey('RS256', 'k2');
    const issuer = fakeIssuer([first]);
    const { keys, verify, time } = keySetFor(issuer);
    await keys.refresh();
    issuer.publish([first, second]);
    time.advance(31);
    expect((await verify(await sign(second))).ok).toBe(true);
    expect(issuer.jwksFetches()).toBe(2);
  });

  it('fetches for unknown kids at most once every 30 s', async () => {
    const known = await signingKey('ES256', 'known');
    const issuer = fakeIssuer([known]);
    const { keys, verify, time } = keySetFor(issuer);
    await keys.refresh();
    const strangers = await Promise.all(['x1', 'x2', 'x3'].map((kid) => signingKey('ES256', kid)));
    time.advance(30);
    expect((await verify(await sign(strangers[0] as SigningKey))).ok).toBe(false);
    expect(issuer.jwksFetches()).toBe(2);
    time.advance(29);
    expect((await verify(await sign(strangers[1] as SigningKey))).ok).toBe(false);
    expect(issuer.jwksFetches()).toBe(2);
    time.advance(1);
    expect((await verify(await sign(strangers[2] as SigningKey))).ok).toBe(false);
    expect(issuer.jwksFetches()).toBe(3);
  });

  it('shares one fetch among tokens that arrive together with a new kid', async () => {
    const first = await signingKey('RS256', 'k1');
    const second = await signingKey('RS256', 'k2');
    const issuer = fakeIssuer([first]);
    const { keys, verify, time } = keySetFor(issuer);
    await keys.refresh();
    issuer.publish([first, second]);
    time.advance(60);
    const tokens = await Promise.all([1, 2, 3, 4].map((n) => sign(second, { jti: `t${n}` })));
    const results = await Promise.all(tokens.map((token) => verify(token)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(issuer.jwksFetches()).toBe(2);
  });
});

describe('JWKS: an issuer that is down', () => {
  it('keeps the cached keys when a background refresh fails', async () => {
    const key = await signingKey('EdDSA');
    const issuer = fakeIssuer([key]);
    const { keys, verify, timers, said } = keySetFor(issuer);
    keys.start();
    await keys.refresh();
    expect(keys.ready).toBe(true);
    issuer.state.down = true;
    timers.runNext();
    expect(await keys.refresh()).toBe(false);
    expect(keys.ready).toBe(true);
    expect((await verify(await sign(key, { jti: 'after-outage' }))).ok).toBe(true);
    expect(said.some((line) => /cannot fetch the JWKS .* the cached keys stay in use/.test(line))).toBe(true);
  });

  it('starts without the issuer: not ready, bearer tokens unavailable, retried with backoff until it answers', async () => {
    const key = await signingKey('RS256');
    const issuer = fakeIssuer([key]);
    issuer.state.down = true;
    const { keys, verify, timers, said } = keySetFor(issuer);
    keys.start();
    await keys.refresh();
    expect(keys.ready).toBe(false);
    expect(await verify(await sign(key))).toEqual({ ok: false, reason: 'unavailable' });
    for (let i = 0; i < 8; i++) {
      timers.runNext();
      await keys.refresh();
    }
    // 1 s doubling, capped at a minute; one stderr line for the whole outage.
    expect(timers.delays()).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    expect(said.filter((line) => line.includes('cannot fetch'))).toHaveLength(1);
    expect(said[0]).toMatch(/bearer tokens get 503 until it succeeds/);
    issuer.state.down = false;
    timers.runNext();
    await keys.refresh();
    expect(keys.ready).toBe(true);
    expect((await verify(await sign(key))).ok).toBe(true);
    // Back to the slow refresh once it answers.
    await Promise.resolve();
    expect(timers.delays().at(-1)).toBe(600_000);
  });

  it('refuses a token with an unknown kid while the issuer is down (401, not the cached keys)', async () => {
    const key = await signingKey('ES256', 'known');
    const stranger = await signingKey('ES256', 'unknown');
    const issuer = fakeIssuer([key]);
    const { keys, verify, time } = keySetFor(issuer);
    await keys.refresh();
    issuer.state.down = true;
    time.advance(31);
    expect(await verify(await sign(stranger))).toEqual({ ok: false, reason: 'invalid_token' });
    expect(issuer.state.requests.at(-1)).toBe(`${ISSUER}/jwks`);
  });

  it('keeps verifying with cached keys after a real JWKS server on loopback is closed', async () => {
    const key = await signingKey('RS256', 'real');
    const stranger = await signingKey('RS256', 'other');
    const server = createServer((request, response) => {
      if (request.url !== '/jwks') return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: [key.jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    const time = clock();
    const keys = new KeySet({ issuer: ISSUER, jwksUrl: url, fetch, now: time.now, schedule: manualTimers().schedule });
    closers.push(() => keys.close());
    const verify = createJwtVerifier({ issuer: ISSUER, audience: [AUDIENCE], keys, now: time.now });
    expect(await keys.refresh()).toBe(true);
    expect((await verify(await sign(key, { jti: 'before' }))).ok).toBe(true);

    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    expect(await keys.refresh()).toBe(false);
    // A token never seen before: verified with the key cached before the server went away.
    expect((await verify(await sign(key, { jti: 'after', iat: T0 + 5 }))).ok).toBe(true);
    time.advance(31);
    expect(await verify(await sign(stranger))).toEqual({ ok: false, reason: 'invalid_token' });
  });
});
