import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSync } from 'bcryptjs';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config.ts';
import { authConfigShape, authEnabled, authTogether } from '../../../src/auth/config.ts';
import type { AuthConfig } from '../../../src/auth/config.ts';
import { loadAuthSecrets } from '../../../src/auth/secrets.ts';

/** The AUTH_* shape as the sidecar's schema will hold it, with loadConfig's one-line error. */
const schema = z.object(authConfigShape).superRefine(authTogether);
function load(env: Record<string, string>): AuthConfig {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ConfigError(`${String(issue?.path[0])}: ${issue?.message.replace(/^\w+ must/, 'must')}`);
}

const JWT = { AUTH_JWT_ISSUER: 'https://idp.example', AUTH_JWT_AUDIENCE: 'app' };
const OIDC = {
  AUTH_OIDC_ISSUER: 'https://idp.example/realms/x',
  AUTH_OIDC_CLIENT_ID: 'sidecar',
  AUTH_OIDC_CLIENT_SECRET_FILE: '/secrets/client-secret',
  AUTH_COOKIE_SECRET_FILE: '/secrets/cookie-secret',
};

describe('AUTH_* variables', () => {
  it('are off by default, with the documented defaults', () => {
    const c = load({});
    expect(authEnabled(c)).toBe(false);
    expect(c).toMatchObject({
      AUTH_OIDC_SCOPES: 'openid email profile',
      AUTH_SESSION_TTL_S: 28_800,
      AUTH_PATH_PREFIX: '/.sidecar/auth/',
      AUTH_PASS_ACCESS_TOKEN: false,
    });
  });

  it('read comma-separated lists, lower-casing e-mail domains', () => {
    const c = load({
      ...JWT,
      AUTH_JWT_AUDIENCE: 'app, api',
      AUTH_SKIP_PATHS: '/public/, /healthz,',
      AUTH_ALLOWED_GROUPS: 'admins,ops',
      AUTH_ALLOWED_EMAIL_DOMAINS: 'Corp.Example',
      AUTH_PASS_ACCESS_TOKEN: 'TRUE',
    });
    expect(c.AUTH_JWT_AUDIENCE).toEqual(['app', 'api']);
    expect(c.AUTH_SKIP_PATHS).toEqual(['/public/', '/healthz']);
    expect(c.AUTH_ALLOWED_GROUPS).toEqual(['admins', 'ops']);
    expect(c.AUTH_ALLOWED_EMAIL_DOMAINS).toEqual(['corp.example']);
    expect(c.AUTH_PASS_ACCESS_TOKEN).toBe(true);
    expect(authEnabled(c)).toBe(true);
  });

  it('accept a plain-http issuer on a loopback host only', () => {
    for (const issuer of ['http://127.0.0.1:8080', 'http://localhost:9000/realms/x', 'http://[::1]:8080'])
      expect(load({ ...JWT, AUTH_JWT_ISSUER: issuer }).AUTH_JWT_ISSUER).toBe(issuer);
    expect(() => load({ ...JWT, AUTH_JWT_ISSUER: 'http://idp.example' })).toThrow(
      'AUTH_JWT_ISSUER: must be https: (plain http is accepted for a loopback host only)',
    );
    expect(() => load({ ...OIDC, AUTH_OIDC_ISSUER: 'http://10.0.0.5' })).toThrow(/^AUTH_OIDC_ISSUER: must be https:/);
    expect(() => load({ ...JWT, AUTH_JWKS_URL: 'http://keys.example/jwks' })).toThrow(/^AUTH_JWKS_URL: must be https:/);
  });

  it.each([
    ['not a URL', 'idp.example', 'must be an https:// URL'],
    ['a query', 'https://idp.example/?tenant=x', 'must not carry a query or a fragment'],
    ['a fragment', 'https://idp.example/#x', 'must not carry a query or a fragment'],
    ['credentials', 'https://user:pw@idp.example', 'must not carry credentials'],
  ])('refuse an issuer with %s', (_what, issuer, message) => {
    expect(() => load({ ...JWT, AUTH_JWT_ISSUER: issuer })).toThrow(`AUTH_JWT_ISSUER: ${message}`);
  });

  it('require an audience with the JWT issuer', () => {
    expect(() => load({ AUTH_JWT_ISSUER: 'https://idp.example' })).toThrow(
      /^AUTH_JWT_AUDIENCE: must be set when AUTH_JWT_ISSUER is/,
    );
  });

  it.each(['AUTH_OIDC_CLIENT_ID', 'AUTH_OIDC_CLIENT_SECRET_FILE', 'AUTH_COOKIE_SECRET_FILE'])(
    'refuse OIDC without %s, naming it',
    (name) => {
      const env: Record<string, string> = { ...OIDC };
      delete env[name];
      expect(() => load(env)).toThrow(`${name}: must be set when AUTH_OIDC_ISSUER is`);
    },
  );

  it('refuse the parts of a method without the method', () => {
    expect(() => load({ AUTH_JWKS_URL: 'https://idp.example/jwks' })).toThrow('AUTH_JWKS_URL: needs AUTH_JWT_ISSUER');
    expect(() => load({ AUTH_OIDC_CLIENT_ID: 'x' })).toThrow('AUTH_OIDC_CLIENT_ID: needs AUTH_OIDC_ISSUER');
    expect(() => load({ AUTH_ALLOWED_GROUPS: 'admins' })).toThrow(/^AUTH_ALLOWED_GROUPS: needs a way to authenticate/);
    expect(() => load({ AUTH_SKIP_PATHS: '/public/' })).toThrow(/^AUTH_SKIP_PATHS: needs a way to authenticate/);
    expect(() => load({ AUTH_PASS_ACCESS_TOKEN: 'true' })).toThrow(/^AUTH_PASS_ACCESS_TOKEN: needs/);
  });

  it.each([
    ['public/', 'must hold paths starting with / (entry "public/")'],
    ['/a/../b/', 'must hold normalised paths'],
    ['/a%2fb', 'must hold normalised paths'],
    ['/a;b', 'must hold normalised paths'],
    ['/a?x=1', 'must hold paths without a query or fragment'],
  ])('refuse the skip path %s', (entry, message) => {
    expect(() => load({ ...JWT, AUTH_SKIP_PATHS: `/ok/,${entry}` })).toThrow(`AUTH_SKIP_PATHS: ${message}`);
  });

  it('refuse a bad path prefix, TTL, scope list, boolean or domain', () => {
    expect(() => load({ ...OIDC, AUTH_PATH_PREFIX: '/auth' })).toThrow(/^AUTH_PATH_PREFIX: must be a normalised path/);
    expect(() => load({ ...OIDC, AUTH_SESSION_TTL_S: '0' })).toThrow('AUTH_SESSION_TTL_S: must be above 0');
    expect(() => load({ ...OIDC, AUTH_OIDC_SCOPES: 'email profile' })).toThrow('AUTH_OIDC_SCOPES: must include openid');
    expect(() => load({ ...JWT, AUTH_PASS_ACCESS_TOKEN: 'yes' })).toThrow(
      'AUTH_PASS_ACCESS_TOKEN: must be true or false',
    );
    expect(() => load({ ...JWT, AUTH_ALLOWED_EMAIL_DOMAINS: '@corp.example' })).toThrow(
      /^AUTH_ALLOWED_EMAIL_DOMAINS: must hold domains, without @ \(entry "@corp.example"\)$/,
    );
  });
});

describe('loadAuthSecrets', () => {
  const files = (entries: Record<string, string>) => (path: string) => {
    const text = entries[path];
    if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'\n    at stack`);
    return text;
  };
  const config = load(OIDC);
  const cookie = 'k'.repeat(32);

  it('reads the secrets, without the trailing newline an editor or echo adds', () => {
    const secrets = loadAuthSecrets(
      config,
      files({ '/secrets/client-secret': 's3cret\n', '/secrets/cookie-secret': `${cookie}\n` }),
    );
    expect(secrets.oidcClientSecret).toBe('s3cret');
    expect(secrets.cookieSecret).toEqual(new TextEncoder().encode(cookie));
  });

  it('refuses a cookie secret under 32 bytes, naming the variable and never the secret', () => {
    const read = files({ '/secrets/client-secret': 's3cret', '/secrets/cookie-secret': 'short-secret-value' });
    expect(() => loadAuthSecrets(config, read)).toThrow(ConfigError);
    expect(() => loadAuthSecrets(config, read)).toThrow(
      /^AUTH_COOKIE_SECRET_FILE: must hold at least 32 bytes, has 18 \(/,
    );
    expect(() => loadAuthSecrets(config, read)).not.toThrow(/short-secret-value/);
  });

  it('names the variable of a file it cannot read, in one line', () => {
    const read = files({ '/secrets/cookie-secret': cookie });
    expect(() => loadAuthSecrets(config, read)).toThrow(
      /^AUTH_OIDC_CLIENT_SECRET_FILE: cannot read "\/secrets\/client-secret": ENOENT[^\n]*$/,
    );
  });

  it('refuses an empty client secret', () => {
    const read = files({ '/secrets/client-secret': '\n', '/secrets/cookie-secret': cookie });
    expect(() => loadAuthSecrets(config, read)).toThrow('AUTH_OIDC_CLIENT_SECRET_FILE: the file is empty');
  });

  it('reads and checks a real htpasswd file at start-up, naming the bad line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'auth-secrets-'));
    const good = join(dir, 'htpasswd');
    writeFileSync(good, `alice:${hashSync('pw', 4)}\n`);
    const read = (path: string) => readFileSync(path, 'utf8');
    const basic = load({ AUTH_BASIC_FILE: good });
    expect(loadAuthSecrets(basic, read).htpasswd).toMatch(/^alice:\$2b\$04\$/);
    writeFileSync(good, `alice:${hashSync('pw', 4)}\nbob:{SHA}lcsL/Sl3x2EpjZYk5LTUxyo5l0o=\n`);
    expect(() => loadAuthSecrets(basic, read)).toThrow(/^AUTH_BASIC_FILE: line 2: not a bcrypt entry/);
    expect(() => loadAuthSecrets(load({ AUTH_BASIC_FILE: join(dir, 'missing') }), read)).toThrow(
      /^AUTH_BASIC_FILE: cannot read ".*missing": ENOENT/,
    );
  });
});
