/**
 * Hostile input to access control, each test named after the attack it repeats (in the manner of
 * unjs/httpxy's test/request-smuggling.test.ts). The requests go through the one seam the handler
 * calls (authenticate, then forwardHeaders), with `target` as the handler passes it: the
 * request-target the app would receive.
 */
import { SignJWT, UnsecuredJWT, exportSPKI } from 'jose';
import { hashSync } from 'bcryptjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAuthenticator } from '../../../src/auth/authenticate.ts';
import type { Authenticator } from '../../../src/auth/authenticate.ts';
import type { AuthConfig } from '../../../src/auth/config.ts';
import { AUDIENCE, ISSUER, T0, clock, fakeIssuer, manualTimers, sign, signingKey } from './support.ts';
import type { SigningKey } from './support.ts';

const config: AuthConfig & { SRV_NAME: string } = {
  SRV_NAME: 'app',
  AUTH_SKIP_PATHS: ['/public/', '/healthz'],
  AUTH_JWT_ISSUER: ISSUER,
  AUTH_JWT_AUDIENCE: [AUDIENCE],
  AUTH_BASIC_FILE: '/secrets/htpasswd',
  AUTH_OIDC_SCOPES: 'openid email profile',
  AUTH_SESSION_TTL_S: 28_800,
  AUTH_PATH_PREFIX: '/.sidecar/auth/',
  AUTH_PASS_ACCESS_TOKEN: false,
};

let key: SigningKey;
const open: Authenticator[] = [];
afterEach(() => {
  for (const auth of open.splice(0)) auth.close();
});

async function sidecar(compare?: (password: string, hash: string) => Promise<boolean>) {
  key ??= await signingKey('RS256');
  const auth = createAuthenticator(config, {
    fetch: fakeIssuer([key]).fetch,
    secrets: { htpasswd: `alice:${hashSync('wonderland', 4)}\n` },
    now: clock().now,
    schedule: manualTimers().schedule,
    ...(compare ? { compare } : {}),
  })!;
  open.push(auth);
  await vi.waitFor(() => expect(auth.ready).toBe(true));
  return auth;
}

/** What the handler does: authenticate on the raw target; on a pass, the headers the app would get. */
async function send(auth: Authenticator, target: string, headers: Record<string, string> | [string, string][] = {}) {
  const request = new Request(`http://app.example${target.startsWith('/') ? '' : '/'}`, { headers });
  const outcome = await auth.authenticate(request, { client: '203.0.113.7', https: true, target });
  if (!outcome.pass) return { status: outcome.response.status, app: undefined };
  const forwarded = new Headers(request.headers);
  auth.forwardHeaders(forwarded, outcome.identity);
  return { status: 200, method: outcome.method, app: forwarded };
}

describe('skip-path bypasses: the path is judged after decoding and dot-segment removal (RFC 3986 §5.2.4)', () => {
  it.each([
    ['dot-segments climbing out of the prefix', '/public/../admin'],
    ['percent-encoded dot-segments', '/public/%2e%2e/admin'],
    ['mixed-case encoded dots', '/public/%2E%2e/admin'],
    ['an encoded slash after dots', '/public/..%2fadmin'],
    ["Tomcat's path parameter", '/public/..;/admin'],
    ['a path parameter on the prefix itself', '/public;x=1/../admin'],
    ['backslashes, a separator to Windows servers', '/public\\..\\admin'],
    ['double encoding that a second decoder resolves', '/public/%252e%252e/admin'],
    ['an encoded NUL byte', '/public/%00/../../admin'],
    ['a malformed escape', '/public/%zz/../admin'],
  ])('%s: %s is not skipped', async (_attack, target) => {
    expect((await send(await sidecar(), target)).status).toBe(401);
  });

  it('the prefix still passes what it names', async () => {
    expect((await send(await sidecar(), '/public/css/site.css')).status).toBe(200);
    expect((await send(await sidecar(), '/healthz')).status).toBe(200);
  });
});

describe('GHSA-7rh7-c77v-6434: oauth2-proxy matched skip rules against the query', () => {
  it('/admin?x=/public/ is /admin', async () => {
    const auth = await sidecar();
    expect((await send(auth, '/admin?x=/public/')).status).toBe(401);
    expect((await send(auth, '/admin?/public/')).status).toBe(401);
    expect((await send(auth, '/healthz?x=1')).status).toBe(200);
  });
});

describe('GHSA-pxq7-h93f-9jrg (CVE-2026-41059): a # in the path widened a skip rule', () => {
  it.each(['/public/#/../admin', '/public/%23/../../admin', '/healthz#', '/public/x#y'])(
    '%s is never skipped',
    async (target) => {
      expect((await send(await sidecar(), target)).status).toBe(401);
    },
  );
});

describe('oauth2-proxy #3506: skip rules judged on a spoofed X-Forwarded-Uri', () => {
  it('a request for /admin claiming /public/ in forwarding headers is still /admin', async () => {
    const headers = { 'x-forwarded-uri': '/public/', 'x-original-url': '/public/', 'x-rewrite-url': '/public/' };
    expect((await send(await sidecar(), '/admin', headers)).status).toBe(401);
  });
});

describe('spoofed identity headers (oauth2-proxy reverse-proxy mode header names)', () => {
  const spoofed: [string, string][] = [
    ['X-Forwarded-User', 'admin'],
    ['X-Forwarded-Email', 'admin@corp.example'],
    ['X-Forwarded-Groups', 'admins'],
    ['X-Forwarded-Access-Token', 'forged'],
    ['X-Forwarded-Preferred-Username', 'root'],
    ['X_Forwarded_User', 'admin'],
    ['x-forwarded_email', 'admin@corp.example'],
    ['X_FORWARDED_GROUPS', 'admins'],
  ];

  it('never reach the app on a skip path', async () => {
    const { status, app } = await send(await sidecar(), '/public/', spoofed);
    expect(status).toBe(200);
    expect([...app!.keys()]).toEqual([]);
  });

  it('are replaced by the real identity once authenticated', async () => {
    const basic = `Basic ${Buffer.from('alice:wonderland').toString('base64')}`;
    const { app } = await send(await sidecar(), '/admin', [...spoofed, ['authorization', basic]]);
    expect(app!.get('x-forwarded-user')).toBe('alice');
    expect([...app!.keys()].filter((name) => /^x.forwarded.(?!user$)/.test(name))).toEqual([]);
    // RFC 9110 §11.6.2: the checked Authorization still reaches the app.
    expect(app!.get('authorization')).toBe(basic);
  });
});

describe('forged bearer tokens (RFC 8725 §2.1, §3.1)', () => {
  it('alg "none": an unsigned token is refused', async () => {
    const token = new UnsecuredJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: T0 + 60 }).encode();
    expect((await send(await sidecar(), '/admin', { authorization: `Bearer ${token}` })).status).toBe(401);
  });

  it("key confusion (CVE-2015-9235): HS256 signed with the issuer's public key is refused", async () => {
    const auth = await sidecar();
    const secret = new TextEncoder().encode(await exportSPKI(key.publicKey));
    const token = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: T0 + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: key.kid })
      .sign(secret);
    expect((await send(auth, '/admin', { authorization: `Bearer ${token}` })).status).toBe(401);
  });

  it('a token for another app of the same IdP (audience substitution, RFC 8725 §3.9) is refused', async () => {
    const auth = await sidecar();
    const token = await sign(key, { aud: 'another-app' });
    expect((await send(auth, '/admin', { authorization: `Bearer ${token}` })).status).toBe(401);
  });

  it('a token in the query string is no credential (RFC 6750 §2.3 is not offered)', async () => {
    const auth = await sidecar();
    expect((await send(auth, `/admin?access_token=${await sign(key)}`)).status).toBe(401);
  });

  it('two Authorization headers, one good, are refused as one malformed value', async () => {
    const auth = await sidecar();
    const headers: [string, string][] = [
      ['authorization', `Bearer ${await sign(key)}`],
      ['authorization', 'Basic Zm9vOmJhcg=='],
    ];
    expect((await send(auth, '/admin', headers)).status).toBe(401);
  });
});

describe('Basic user enumeration by timing (CWE-208)', () => {
  it('an unknown user costs one bcrypt compare, as a known one does', async () => {
    const compare = vi.fn(async (_password: string, _hash: string) => false);
    const auth = await sidecar(compare);
    await send(auth, '/admin', { authorization: `Basic ${Buffer.from('mallory:x').toString('base64')}` });
    await send(auth, '/admin', { authorization: `Basic ${Buffer.from('alice:x').toString('base64')}` });
    expect(compare).toHaveBeenCalledTimes(2);
    const [unknownHash, knownHash] = compare.mock.calls.map((call) => call[1] as string);
    // The same cost: bcrypt's work depends on it alone.
    expect(unknownHash?.slice(4, 7)).toBe(knownHash?.slice(4, 7));
  });
});

describe("the sidecar's own cookies", () => {
  it('never reach the app, whose cookies pass byte for byte', async () => {
    const auth = createAuthenticator(
      {
        ...config,
        AUTH_BASIC_FILE: undefined,
        AUTH_JWT_ISSUER: undefined,
        AUTH_JWT_AUDIENCE: undefined,
        AUTH_OIDC_ISSUER: 'https://idp.example',
        AUTH_OIDC_CLIENT_ID: 'c',
        AUTH_OIDC_CLIENT_SECRET_FILE: '/s',
        AUTH_COOKIE_SECRET_FILE: '/k',
      },
      {
        fetch,
        secrets: {},
        session: {
          cookieNames: ['__Host-sidecar_session', '__Host-sidecar_login'],
          handles: () => false,
          handle: async () => new Response(null, { status: 404 }),
          session: async () => ({ identity: { user: 'alice' } }),
          challenge: () => undefined,
        },
      },
    )!;
    const cookie = 'a="x y"; __Host-sidecar_session=stolen-if-forwarded; b=%41; __Host-sidecar_login=s';
    const { app } = await send(auth, '/', { cookie });
    expect(app!.get('cookie')).toBe('a="x y"; b=%41');
  });
});
