/**
 * Holds docs/behaviour.md#access-control on every runtime, over real sockets: a JWT issuer on
 * loopback (discovery and JWKS over HTTP, tokens signed with jose), htpasswd files made by Apache's
 * `htpasswd -B` (Debian apache2-utils), a real OpenID provider (oidc-provider, ../support/oidc-provider.ts)
 * for the browser login's redirect and cookies, and the app behind (../support/upstream.ts) telling
 * what it received. Path tricks go as raw request-targets, so no client library tidies them first.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerValues, rawExchange, rawRequest, send } from '../support/http-client.ts';
import type { HeaderList } from '../support/http-client.ts';
import { startOidcProvider } from '../support/oidc-provider.ts';
import type { TestIdp } from '../support/oidc-provider.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus.ts';
import { closedPort, runUntilExit, startSidecar } from '../support/sidecar.ts';
import type { LogEntry, Sidecar } from '../support/sidecar.ts';
import { requireTool, systemTools } from '../support/system-tool.ts';
import { setCookies } from '../support/upstream.ts';
import { WsClient, connectWs } from '../support/ws-client.ts';
import type { Conformance } from './context.ts';
import { SRV_NAME, one } from './context.ts';
import { wsUrl } from './websocket.ts';

const AUDIENCE = 'conformance-app';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** An issuer on loopback: discovery and a JWKS with one ES256 key, and tokens signed with it. */
async function startIssuer() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const stranger = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const server = http.createServer((req, res) => {
    const body =
      req.url === '/.well-known/openid-configuration'
        ? { issuer, jwks_uri: `${issuer}/jwks` }
        : req.url === '/jwks'
          ? { keys: [jwk] }
          : undefined;
    res.writeHead(body ? 200 : 404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body ?? {}));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sign = (claims: JWTPayload, key = privateKey, kid = 'k1') => {
    const now = Math.floor(Date.now() / 1000);
    // Claims given win over the defaults (an `exp` in the past makes an expired token).
    return new SignJWT({ iss: issuer, aud: AUDIENCE, iat: now, exp: now + 600, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid })
      .sign(key);
  };
  return {
    issuer,
    sign,
    signByStranger: (claims: JWTPayload) => sign(claims, stranger.privateKey),
    close: () => (server.closeAllConnections(), new Promise((resolve) => server.close(resolve))),
  };
}

/** A directory laid out as kubelet mounts a Secret, `htpasswd -> ..data/htpasswd`, and its atomic swap. */
function mountedSecret(root: string, name: string, text: string) {
  mkdirSync(root);
  let generation = 0;
  const publish = (contents: string) => {
    const version = `..v${++generation}`;
    mkdirSync(join(root, version));
    writeFileSync(join(root, version, name), `${contents}\n`);
    symlinkSync(version, join(root, '..data_tmp'));
    renameSync(join(root, '..data_tmp'), join(root, '..data'));
  };
  publish(text);
  symlinkSync(`..data/${name}`, join(root, name));
  return { path: join(root, name), publish };
}

async function metricsOf(s: Sidecar) {
  return parsePrometheusText(await (await fetch(`${s.adminUrl}/metrics`)).text());
}

export function accessControlTests(t: Conformance): void {
  describe('access control', () => {
    let issuer: Awaited<ReturnType<typeof startIssuer>>;
    let idp: TestIdp;
    let directory: string;
    let htpasswd: ReturnType<typeof mountedSecret>;
    let entry: (user: string, password: string) => string;
    const sidecars: Promise<Sidecar>[] = [];
    let door: () => Promise<Sidecar>;
    let allowLists: () => Promise<Sidecar>;
    let idpDown: () => Promise<Sidecar>;
    let oidcDown: () => Promise<Sidecar>;
    let behindProxy: () => Promise<Sidecar>;
    let secrets: { client: string; cookie: string };

    const launch = (env: Record<string, string>) => {
      const promise = startSidecar(t.runtime, { TARGET: t.upstream.url, SRV_NAME, LOG_FORMAT: 'json', ...env });
      promise.catch(() => undefined);
      sidecars.push(promise);
      return () => promise;
    };

    beforeAll(async () => {
      const tool = await requireTool(systemTools.htpasswd);
      entry = (user, password) => execFileSync(tool, ['-nbB', user, password], { encoding: 'utf8' }).trim();
      directory = mkdtempSync(join(tmpdir(), `access-control-${t.runtime}-`));
      htpasswd = mountedSecret(join(directory, 'basic'), 'htpasswd', entry('bob', 'bob-password'));
      mkdirSync(join(directory, 'oidc'));
      secrets = { client: join(directory, 'oidc', 'client-secret'), cookie: join(directory, 'oidc', 'cookie-secret') };
      [issuer, idp] = await Promise.all([startIssuer(), startOidcProvider({ redirectUris: [] })]);
      writeFileSync(secrets.client, `${idp.clientSecret}\n`);
      writeFileSync(secrets.cookie, 'a-cookie-secret-of-at-least-32-bytes-for-tests\n');
      door = launch({
        AUTH_JWT_ISSUER: issuer.issuer,
        AUTH_JWT_AUDIENCE: AUDIENCE,
        AUTH_BASIC_FILE: htpasswd.path,
        AUTH_SKIP_PATHS: '/public/,/healthz',
        AUTH_OIDC_ISSUER: idp.issuer.href.replace(/\/$/, ''),
        AUTH_OIDC_CLIENT_ID: idp.clientId,
        AUTH_OIDC_CLIENT_SECRET_FILE: secrets.client,
        AUTH_COOKIE_SECRET_FILE: secrets.cookie,
      });
      allowLists = launch({
        AUTH_JWT_ISSUER: issuer.issuer,
        AUTH_JWT_AUDIENCE: AUDIENCE,
        AUTH_ALLOWED_GROUPS: 'admins,ops',
        AUTH_ALLOWED_EMAIL_DOMAINS: 'example.com',
      });
      const oidc = {
        AUTH_OIDC_CLIENT_ID: idp.clientId,
        AUTH_OIDC_CLIENT_SECRET_FILE: secrets.client,
        AUTH_COOKIE_SECRET_FILE: secrets.cookie,
      };
      oidcDown = launch({
        ...oidc,
        AUTH_OIDC_ISSUER: `http://127.0.0.1:${await closedPort()}`,
        AUTH_BASIC_FILE: htpasswd.path,
      });
      behindProxy = launch({
        ...oidc,
        AUTH_OIDC_ISSUER: idp.issuer.href.replace(/\/$/, ''),
        TRUSTED_PROXIES: '127.0.0.1',
      });
      idpDown = launch({
        AUTH_JWT_ISSUER: `http://127.0.0.1:${await closedPort()}`,
        AUTH_JWT_AUDIENCE: AUDIENCE,
        AUTH_SKIP_PATHS: '/public/',
      });
    });

    afterAll(async () => {
      await Promise.allSettled(sidecars.map((p) => p.then((s) => s.stop())));
      await Promise.allSettled([issuer?.close(), idp?.close()]);
      if (directory) rmSync(directory, { recursive: true, force: true });
    });

    const logOf = (s: Sidecar, id: string) =>
      s.waitForLog((e: LogEntry) => String(e.path).includes(id), `the line of ${id}`);
    const appGot = (id: string) => t.upstream.byId(id);

    describe('who may pass', () => {
      it('a JWT from the issuer passes; the app gets who it is and the Authorization header; the log names the user', async () => {
        const s = await door();
        const token = await issuer.sign({ sub: 'alice', email: 'alice@example.com', groups: ['admins', 'dev'] });
        const id = t.id('jwt');
        const { echo } = await t.echo(s, `/_/echo?id=${id}`, { headers: [['Authorization', `Bearer ${token}`]] });
        expect(one(echo.headers['x-forwarded-user'])).toBe('alice');
        expect(one(echo.headers['x-forwarded-email'])).toBe('alice@example.com');
        expect(one(echo.headers['x-forwarded-groups'])).toBe('admins,dev');
        expect(one(echo.headers.authorization)).toBe(`Bearer ${token}`);
        expect(echo.headers['x-forwarded-access-token']).toBeUndefined();
        const line = await logOf(s, id);
        expect(line.user).toBe('alice');
        expect(line.error).toBeUndefined();
        expect(JSON.stringify(line)).not.toContain(token);
      });

      it.each([
        ['signed by a key the issuer never published', () => issuer.signByStranger({ sub: 'mallory' })],
        ['for another audience', () => issuer.sign({ sub: 'mallory', aud: 'another-app' })],
        ['expired', () => issuer.sign({ sub: 'mallory', exp: Math.floor(Date.now() / 1000) - 3600 })],
        ['with alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'mallory', aud: AUDIENCE })}.`],
      ])(
        'a JWT %s gets 401 with WWW-Authenticate: Bearer error="invalid_token", and the app gets nothing',
        async (_kind, token) => {
          const s = await door();
          const id = t.id('jwt-bad');
          const res = await send(s.url, `/_/echo?id=${id}`, {
            headers: [['Authorization', `Bearer ${await token()}`]],
          });
          expect(res.status).toBe(401);
          expect(headerValues(res.rawHeaders, 'www-authenticate').join(', ')).toMatch(
            /Bearer [^,]*error="invalid_token"/,
          );
          expect(appGot(id)).toEqual([]);
          const line = await logOf(s, id);
          expect(line.error).toBe('unauthenticated');
          expect(line.status).toBe(401);
        },
      );

      it('an htpasswd -B user passes with Basic; a wrong password or an unknown user gets 401 with the Basic challenge', async () => {
        const s = await door();
        const id = t.id('basic');
        const { echo } = await t.echo(s, `/_/echo?id=${id}`, {
          headers: [['Authorization', basic('bob', 'bob-password')]],
        });
        expect(one(echo.headers['x-forwarded-user'])).toBe('bob');
        expect((await logOf(s, id)).user).toBe('bob');
        for (const [user, password] of [
          ['bob', 'wrong'],
          ['nobody', 'bob-password'],
        ] as const) {
          const bad = t.id('basic-bad');
          const res = await send(s.url, `/_/echo?id=${bad}`, { headers: [['Authorization', basic(user, password)]] });
          expect(res.status).toBe(401);
          expect(headerValues(res.rawHeaders, 'www-authenticate').join(', ')).toContain(
            `Basic realm="${SRV_NAME}", charset="UTF-8"`,
          );
          expect(appGot(bad)).toEqual([]);
        }
      });

      it('no credentials: 401 with a challenge for each of Bearer and Basic, counted as method none', async () => {
        const s = await door();
        const id = t.id('anonymous');
        const res = await send(s.url, `/_/echo?id=${id}`);
        expect(res.status).toBe(401);
        const challenges = headerValues(res.rawHeaders, 'www-authenticate').join(', ');
        expect(challenges).toMatch(/Bearer/);
        expect(challenges).toContain(`Basic realm="${SRV_NAME}"`);
        expect(appGot(id)).toEqual([]);
        expect(
          sampleValue(await metricsOf(s), 'sidecar_auth_total', { method: 'none', result: 'unauthenticated' }),
        ).toBeGreaterThan(0);
      });

      it('a browser navigation without a session is redirected to the IdP with PKCE S256, state and nonce', async () => {
        const s = await door();
        const id = t.id('navigate');
        const res = await send(s.url, `/app/page?id=${id}`, { headers: [['Accept', 'text/html,*/*;q=0.8']] });
        expect(res.status).toBe(302);
        const location = new URL(String(res.headers.location));
        expect(location.origin).toBe(idp.issuer.origin);
        expect(location.searchParams.get('code_challenge_method')).toBe('S256');
        expect(location.searchParams.get('state')).toBeTruthy();
        expect(location.searchParams.get('nonce')).toBeTruthy();
        expect(location.searchParams.get('redirect_uri')).toBe(`${s.url}/.sidecar/auth/callback`);
        expect(appGot(id)).toEqual([]);
      });

      it('skip paths pass without credentials, judged on the path alone', async () => {
        const s = await door();
        for (const path of ['/public/style.css', '/healthz']) {
          const id = t.id('skip');
          await t.echo(s, `${path}?id=${id}`);
          expect(appGot(id)).toHaveLength(1);
        }
        expect(sampleValue(await metricsOf(s), 'sidecar_auth_total', { method: 'skip', result: 'ok' })).toBeGreaterThan(
          0,
        );
      });

      it.each([
        ['dot-segments', '/public/../admin'],
        ['encoded dots', '/public/%2e%2e/admin'],
        ['an encoded slash', '/public/..%2fadmin'],
        ['a skip path in the query', '/admin?x=/public/'],
        ["Tomcat's ..;", '/public/..;/admin'],
        ['a backslash', '/public/..\\admin'],
        ['a prefix without its slash', '/publicity'],
        ['an exact path with more after it', '/healthz/secret'],
      ])('a bypass attempt with %s (%s) is not skipped: refused, and the app never sees it', async (_kind, target) => {
        const s = await door();
        const id = t.id('bypass');
        const withId = `${target}${target.includes('?') ? '&' : '?'}id=${id}`;
        const res = await rawExchange(
          s.url,
          rawRequest(`GET ${withId} HTTP/1.1`, [
            ['Host', `${s.host}:${s.port}`],
            ['Connection', 'close'],
          ]),
        );
        // 401 from access control, or 400 from a parser that refuses the target outright.
        expect([400, 401]).toContain(res?.status);
        expect(appGot(id)).toEqual([]);
      });
    });

    describe('who is allowed', () => {
      it.each([
        ['outside the allowed groups', { sub: 'carol', email: 'carol@example.com', groups: ['users'] }],
        ['from another e-mail domain', { sub: 'dave', email: 'dave@example.org', groups: ['admins'] }],
        ['without groups', { sub: 'erin', email: 'erin@example.com' }],
      ])('a user %s gets 403, logged with the user and error forbidden', async (_kind, claims) => {
        const s = await allowLists();
        const id = t.id('forbidden');
        const res = await send(s.url, `/_/echo?id=${id}`, {
          headers: [['Authorization', `Bearer ${await issuer.sign(claims)}`]],
        });
        expect(res.status).toBe(403);
        expect(appGot(id)).toEqual([]);
        const line = await logOf(s, id);
        expect(line.user).toBe(claims.sub);
        expect(line.error).toBe('forbidden');
      });

      it('a user in an allowed group with an allowed e-mail domain passes (the domain compared case-insensitively)', async () => {
        const s = await allowLists();
        const token = await issuer.sign({ sub: 'frank', email: 'frank@EXAMPLE.com', groups: ['ops'] });
        const { echo } = await t.echo(s, `/_/echo?id=${t.id('allowed')}`, {
          headers: [['Authorization', `Bearer ${token}`]],
        });
        expect(one(echo.headers['x-forwarded-user'])).toBe('frank');
        const metrics = await metricsOf(s);
        expect(sampleValue(metrics, 'sidecar_auth_total', { method: 'jwt', result: 'forbidden' })).toBeGreaterThan(0);
        expect(sampleValue(metrics, 'sidecar_auth_total', { method: 'jwt', result: 'ok' })).toBeGreaterThan(0);
      });
    });

    describe('what the app receives', () => {
      const spoofed: HeaderList = [
        ['X-Forwarded-User', 'mallory'],
        ['X_Forwarded_User', 'mallory'],
        ['x-forwarded-email', 'mallory@evil.example'],
        ['X-Forwarded-Groups', 'admins'],
        ['X_Forwarded_Groups', 'admins'],
        ['X-Forwarded-Access-Token', 'stolen'],
      ];

      it('spoofed identity headers (and their _ spellings) never reach the app, whether it passes by Basic or a skip path', async () => {
        const s = await door();
        const id = t.id('spoof');
        const { echo } = await t.echo(s, `/_/echo?id=${id}`, {
          headers: [...spoofed, ['Authorization', basic('bob', 'bob-password')]],
        });
        expect(one(echo.headers['x-forwarded-user'])).toBe('bob');
        expect(echo.headers['x-forwarded-email']).toBeUndefined();
        expect(echo.headers['x-forwarded-groups']).toBeUndefined();
        expect(echo.headers['x-forwarded-access-token']).toBeUndefined();
        expect(echo.rawHeaders.filter((name) => /^x_forwarded_/i.test(name))).toEqual([]);

        const skipped = await t.echo(s, `/public/page?id=${t.id('spoof-skip')}`, { headers: spoofed });
        expect(
          skipped.echo.rawHeaders.filter((name) => /^x[-_]forwarded[-_](user|email|groups|access)/i.test(name)),
        ).toEqual([]);
      });

      it("the sidecar's cookies never reach the app; the app's cookies pass both ways untouched", async () => {
        const s = await door();
        const id = t.id('cookies');
        const { echo } = await t.echo(s, `/_/echo?id=${id}`, {
          headers: [
            ['Authorization', basic('bob', 'bob-password')],
            ['Cookie', 'app=1; __Host-sidecar_session=forged; theme=dark'],
            ['Cookie', '__Host-sidecar_login=forged'],
          ],
        });
        const cookie = one(echo.headers.cookie) ?? '';
        expect(cookie).toContain('app=1');
        expect(cookie).toContain('theme=dark');
        expect(cookie).not.toContain('sidecar_');
        const res = await send(s.url, `/_/cookies?id=${t.id('set-cookies')}`, {
          headers: [['Authorization', basic('bob', 'bob-password')]],
        });
        expect(res.status).toBe(200);
        expect(res.headers['set-cookie']).toEqual([...setCookies]);
      });
    });

    describe('WebSocket handshakes', () => {
      it('without credentials: refused with 401 before the app sees anything', async () => {
        const s = await door();
        const id = t.id('ws-anonymous');
        const client = new WsClient(wsUrl(s, `/ws/echo?id=${id}`));
        const refusal = await client.waitFor(() => client.refusal, 'the refusal');
        expect(refusal.status).toBe(401);
        expect(t.upstream.ws.byId(id)).toBeUndefined();
        expect(appGot(id)).toEqual([]);
        expect((await logOf(s, id)).error).toBe('unauthenticated');
      });

      it('with credentials: the tunnel opens and the app sees who the user is', async () => {
        const s = await door();
        const id = t.id('ws-basic');
        const client = await connectWs(wsUrl(s, `/ws/echo?id=${id}`), {
          headers: { Authorization: basic('bob', 'bob-password'), 'X-Forwarded-User': 'mallory' },
        });
        const app = await t.upstream.waitForTunnel(id, (a) => a.ws !== undefined, 'the app side to open');
        expect(one(app.headers['x-forwarded-user'])).toBe('bob');
        client.ws.close();
        expect((await logOf(s, id)).user).toBe('bob');
      });
    });

    describe('AUTH_BASIC_FILE', () => {
      it("is re-read when the mounted Secret's ..data link is swapped: a new user passes without a restart", async () => {
        const s = await door();
        const before = await send(s.url, `/_/echo?id=${t.id('dave-before')}`, {
          headers: [['Authorization', basic('dave', 'dave-password')]],
        });
        expect(before.status).toBe(401);
        htpasswd.publish(`${entry('bob', 'bob-password')}\n${entry('dave', 'dave-password')}`);
        await s.waitForStderr(/AUTH_BASIC_FILE reloaded: 2 user\(s\)/, 'the reload');
        const { echo } = await t.echo(s, `/_/echo?id=${t.id('dave-after')}`, {
          headers: [['Authorization', basic('dave', 'dave-password')]],
        });
        expect(one(echo.headers['x-forwarded-user'])).toBe('dave');
      });
    });

    describe('failure modes', () => {
      it('an issuer down at start-up: the sidecar serves, JWTs get 503 with Retry-After, other rules still decide', async () => {
        const s = await idpDown();
        const token = await issuer.sign({ sub: 'alice' });
        const id = t.id('idp-down');
        const res = await send(s.url, `/_/echo?id=${id}`, { headers: [['Authorization', `Bearer ${token}`]] });
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']).toMatch(/^\d+$/);
        expect(appGot(id)).toEqual([]);
        expect((await send(s.url, `/_/echo?id=${t.id('idp-down-anon')}`)).status).toBe(401);
        await t.echo(s, `/public/x?id=${t.id('idp-down-skip')}`);
        const stats = (await (await fetch(`${s.adminUrl}/stats.json`)).json()) as { auth?: { ready?: boolean } };
        expect(stats.auth?.ready).toBe(false);
      });

      it('an OpenID provider down at start-up: the sidecar serves, a browser navigation gets 503, Basic still decides', async () => {
        const s = await oidcDown();
        const id = t.id('oidc-down');
        const res = await send(s.url, `/app?id=${id}`, { headers: [['Accept', 'text/html']] });
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']).toMatch(/^\d+$/);
        expect(appGot(id)).toEqual([]);
        const { echo } = await t.echo(s, `/_/echo?id=${t.id('oidc-down-basic')}`, {
          headers: [['Authorization', basic('bob', 'bob-password')]],
        });
        expect(one(echo.headers['x-forwarded-user'])).toBe('bob');
      });

      it('the login is refused (400) to a remote client over plain http, and offered once a trusted proxy says https', async () => {
        const s = await behindProxy();
        // The peer (127.0.0.1) is a trusted proxy: the client is the remote address it names.
        const remote: [string, string] = ['X-Forwarded-For', '203.0.113.7'];
        const plain = await send(s.url, `/app?id=${t.id('login-http')}`, {
          headers: [['Accept', 'text/html'], remote],
        });
        expect(plain.status).toBe(400);
        expect(plain.headers['set-cookie']).toBeUndefined();
        const https = await send(s.url, `/app?id=${t.id('login-https')}`, {
          headers: [['Accept', 'text/html'], remote, ['X-Forwarded-Proto', 'https']],
        });
        expect(https.status).toBe(302);
        expect(String(https.headers['set-cookie'])).toMatch(/^__Host-sidecar_login=[^;]+;.*Secure/);
      });

      it.each([
        ['a missing AUTH_BASIC_FILE', 'AUTH_BASIC_FILE', () => ({ AUTH_BASIC_FILE: join(directory, 'no-such-file') })],
        [
          'a cookie secret under 32 bytes',
          'AUTH_COOKIE_SECRET_FILE',
          () => {
            const short = join(directory, 'short-cookie-secret');
            writeFileSync(short, 'too-short\n');
            return {
              AUTH_OIDC_ISSUER: idp.issuer.href.replace(/\/$/, ''),
              AUTH_OIDC_CLIENT_ID: idp.clientId,
              AUTH_OIDC_CLIENT_SECRET_FILE: secrets.client,
              AUTH_COOKIE_SECRET_FILE: short,
            };
          },
        ],
      ])('%s stops the start-up: exit 1, one stderr line naming %s', async (_kind, variable, env) => {
        const exit = await runUntilExit(t.runtime, { TARGET: 'http://127.0.0.1:9', ...env() });
        expect(exit.code, `stderr:\n${exit.stderr}`).toBe(1);
        const lines = exit.stderr.split('\n').filter((line) => line.trim() !== '');
        expect(lines, exit.stderr).toHaveLength(1);
        expect(lines[0]).toContain(variable);
      });
    });
  });
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
