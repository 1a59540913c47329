/**
 * An IdP that is down when the sidecar starts is not fatal: logins answer 503 while discovery is
 * retried in the background, one log line marks each change of state, and sessions the sidecar
 * already issued keep working, since their cookie is the sidecar's own.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../../../src/auth/oidc/cookies.ts';
import { createSessionAuth } from '../../../../src/auth/oidc/session-auth.ts';
import type { SessionAuth } from '../../../../src/auth/oidc/session-auth.ts';
import { startOidcProvider } from '../../../support/oidc-provider.ts';
import type { TestIdp } from '../../../support/oidc-provider.ts';
import { eventually } from '../../../support/wait.ts';
import { cookieSecret, ORIGIN, PREFIX, startRig, TTL_S } from './setup.ts';

const info = { client: '127.0.0.1', https: false };
const navigation = () => new Request(`${ORIGIN}/`, { headers: { accept: 'text/html' } });

/** A loopback port with nothing listening on it (taken, then released). */
async function freePort(): Promise<number> {
  const server = http.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0)) await step();
});

function authFor(issuer: URL, said: string[], attempts: { count: number }, now = () => Date.now()): SessionAuth {
  const auth = createSessionAuth({
    issuer,
    clientId: 'sidecar',
    clientSecret: 'unused',
    cookieSecret,
    scopes: 'openid',
    ttlSeconds: TTL_S,
    pathPrefix: PREFIX,
    srvName: 'app',
    now,
    say: (message) => said.push(message),
    fetch: (input, init) => {
      attempts.count++;
      return fetch(input, init);
    },
  });
  cleanup.push(() => auth.close());
  return auth;
}

describe('an IdP down at start-up', () => {
  it('makes logins answer 503 with Retry-After, says so once, and lets them through once it is up', async () => {
    const port = await freePort();
    const issuer = new URL(`http://127.0.0.1:${port}`);
    const said: string[] = [];
    const attempts = { count: 0 };
    const auth = authFor(issuer, said, attempts);

    const refused = await auth.challenge(navigation(), info);
    expect(refused?.status).toBe(503);
    expect(refused?.headers.get('retry-after')).toBe('10');
    expect((await auth.handle(new Request(`${ORIGIN}${PREFIX}login`), info)).status).toBe(503);
    expect((await auth.handle(new Request(`${ORIGIN}${PREFIX}callback?code=x&state=y`), info)).status).toBe(503);
    // A request that is not a navigation still gets no challenge (the authenticator's 401).
    expect(await auth.challenge(new Request(`${ORIGIN}/api`), info)).toBeUndefined();

    // Two failed attempts (the second after the first back-off), one line.
    await eventually(
      async () => attempts.count,
      (count) => count >= 2,
      'a second discovery attempt',
    );
    expect(said).toEqual([
      expect.stringMatching(
        new RegExp(
          `^sidecar: OIDC discovery of http://127\\.0\\.0\\.1:${port}/ failed \\(.*ECONNREFUSED.*\\); logins get 503`,
        ),
      ),
    ]);

    const idp: TestIdp = await startOidcProvider({ redirectUris: [`${ORIGIN}${PREFIX}callback`], port });
    cleanup.push(() => idp.close());
    const response = await eventually(
      () => auth.challenge(navigation(), info),
      (answer) => answer?.status === 302,
      'discovery to succeed once the IdP is up',
    );
    expect(response?.headers.get('location')?.startsWith(`${issuer.origin}/auth?`)).toBe(true);
    expect(said).toHaveLength(2);
    expect(said[1]).toBe(`sidecar: OIDC discovery of http://127.0.0.1:${port}/ succeeded; logins work again`);
  });

  it('still accepts a session cookie the sidecar issued, and answers 503 only when that session needs a refresh', async () => {
    const rig = await startRig({ accessTokenTtlS: 120 });
    cleanup.push(() => rig.close());
    const start = Date.now();
    rig.clock.now = start;
    const browser = rig.browser();
    await browser.navigate(`${ORIGIN}/`);
    const cookie = `${SESSION_COOKIE}=${browser.cookie(ORIGIN, SESSION_COOKIE)}`;

    // A sidecar restarted while the IdP is down (nothing listens on the issuer's port).
    const clock = { now: start };
    const restarted = authFor(new URL(`http://127.0.0.1:${await freePort()}`), [], { count: 0 }, () => clock.now);
    const request = () => new Request(`${ORIGIN}/`, { headers: { cookie } });
    const session = await restarted.session(request(), info);
    expect(session).toMatchObject({ identity: { user: 'alice' } });

    clock.now = start + 90_000;
    expect(await restarted.session(request(), info)).toBe('unavailable');
  });
});
