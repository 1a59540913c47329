import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, configSchema, configVariables, loadConfig } from '../../src/config.ts';

describe('loadConfig', () => {
  it('applies every documented default', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 8000,
      HOST: '0.0.0.0',
      ADMIN_PORT: 9901,
      SRV_NAME: 'app',
      LOG_FORMAT: 'json',
      UPSTREAM_TIMEOUT_MS: 30000,
      DRAIN_TIMEOUT_MS: 10000,
      MAX_CONCURRENT_REQUESTS: 0,
      MAX_QUEUED_REQUESTS: 1000,
      QUEUE_TIMEOUT_MS: 1000,
      CLIENT_IDLE_TIMEOUT_MS: 75000,
    });
    expect(c.TARGET).toEqual({
      origin: 'http://localhost:8080',
      prefix: '',
      href: 'http://localhost:8080',
      secure: false,
      hostname: 'localhost',
      port: 8080,
    });
  });

  it('splits a TARGET path prefix off its origin, with or without a trailing slash', () => {
    expect(loadConfig({ TARGET: 'https://app:8443/base/' }).TARGET).toEqual({
      origin: 'https://app:8443',
      prefix: '/base',
      href: 'https://app:8443/base',
      secure: true,
      hostname: 'app',
      port: 8443,
    });
    expect(loadConfig({ TARGET: 'http://app/base' }).TARGET.href).toBe('http://app/base');
  });

  it('works out the port from the scheme, and an IPv6 host without its brackets', () => {
    expect(loadConfig({ TARGET: 'https://[::1]/x' }).TARGET).toMatchObject({
      hostname: '::1',
      port: 443,
      secure: true,
      origin: 'https://[::1]',
    });
    expect(loadConfig({ TARGET: 'http://app' }).TARGET.port).toBe(80);
  });

  it('turns TLS on only with both files, and then accepts the redirect port and HSTS', () => {
    expect(loadConfig({}).TLS_CERT_FILE).toBeUndefined();
    expect(
      loadConfig({
        TLS_CERT_FILE: '/tls/tls.crt',
        TLS_KEY_FILE: '/tls/tls.key',
        HTTP_REDIRECT_PORT: '8080',
        HSTS_MAX_AGE: '63072000',
      }),
    ).toMatchObject({
      TLS_CERT_FILE: '/tls/tls.crt',
      TLS_KEY_FILE: '/tls/tls.key',
      HTTP_REDIRECT_PORT: 8080,
      HSTS_MAX_AGE: 63072000,
    });
  });

  it('ignores unknown variables and treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', UNRELATED: 'x', port: '1' }).PORT).toBe(8000);
  });

  const bad: [Record<string, string>, string][] = [
    [{ LOG_FORMAT: 'xml' }, 'LOG_FORMAT'],
    [{ TARGET: 'ftp://x' }, 'TARGET'],
    [{ TARGET: 'http://x/?q=1' }, 'TARGET'],
    [{ TARGET: 'http://x/#frag' }, 'TARGET'],
    [{ TARGET: 'http://user:pw@x/' }, 'TARGET'],
    [{ TARGET: 'not a url' }, 'TARGET'],
    [{ PORT: 'http' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ PORT: '80.5' }, 'PORT'],
    [{ ADMIN_PORT: '-1' }, 'ADMIN_PORT'],
    [{ UPSTREAM_TIMEOUT_MS: '0' }, 'UPSTREAM_TIMEOUT_MS'],
    [{ DRAIN_TIMEOUT_MS: 'soon' }, 'DRAIN_TIMEOUT_MS'],
    [{ MAX_CONCURRENT_REQUESTS: '-1' }, 'MAX_CONCURRENT_REQUESTS'],
    [{ MAX_CONCURRENT_REQUESTS: '2.5' }, 'MAX_CONCURRENT_REQUESTS'],
    [{ MAX_QUEUED_REQUESTS: 'lots' }, 'MAX_QUEUED_REQUESTS'],
    [{ QUEUE_TIMEOUT_MS: '0' }, 'QUEUE_TIMEOUT_MS'],
    [{ TLS_CERT_FILE: '/tls/tls.crt' }, 'TLS_KEY_FILE'],
    [{ TLS_KEY_FILE: '/tls/tls.key' }, 'TLS_CERT_FILE'],
    [{ HTTP_REDIRECT_PORT: '8080' }, 'HTTP_REDIRECT_PORT'],
    [{ HSTS_MAX_AGE: '600' }, 'HSTS_MAX_AGE'],
    [{ TLS_CERT_FILE: 'a', TLS_KEY_FILE: 'b', HSTS_MAX_AGE: '-1' }, 'HSTS_MAX_AGE'],
    [{ TLS_CERT_FILE: 'a', TLS_KEY_FILE: 'b', HTTP_REDIRECT_PORT: 'http' }, 'HTTP_REDIRECT_PORT'],
    [{ TLS_CERT_FILE: 'a', TLS_KEY_FILE: 'b', HTTP_REDIRECT_PORT: '8000' }, 'HTTP_REDIRECT_PORT'],
    [{ TLS_CERT_FILE: 'a', TLS_KEY_FILE: 'b', HTTP_REDIRECT_PORT: '9901' }, 'HTTP_REDIRECT_PORT'],
    [{ PORT: '8080', ADMIN_PORT: '8080' }, 'ADMIN_PORT'],
    [{ ADMIN_PORT: '8000' }, 'ADMIN_PORT'],
  ];
  it.each(bad)('rejects %j with one line naming %s', (env, name) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.startsWith(`${name}:`)).toBe(true);
    expect(message).not.toContain('\n');
  });
});

describe('CLIENT_IDLE_TIMEOUT_MS', () => {
  it('defaults to longer than the 60 s idle timeout of cloud load balancers, and can be shortened', () => {
    expect(loadConfig({}).CLIENT_IDLE_TIMEOUT_MS).toBeGreaterThanOrEqual(65_000);
    expect(loadConfig({ CLIENT_IDLE_TIMEOUT_MS: '500' }).CLIENT_IDLE_TIMEOUT_MS).toBe(500);
    expect(() => loadConfig({ CLIENT_IDLE_TIMEOUT_MS: '0' })).toThrow(/^CLIENT_IDLE_TIMEOUT_MS: /);
  });
});

describe('loadConfig across variables', () => {
  it('rejects ADMIN_PORT equal to PORT before anything listens, naming ADMIN_PORT', () => {
    expect(() => loadConfig({ PORT: '9000', ADMIN_PORT: '9000' })).toThrow(
      /^ADMIN_PORT: must differ from PORT \(both 9000\)/,
    );
  });

  it('lets PORT and ADMIN_PORT both be 0 (a free port each)', () => {
    expect(loadConfig({ PORT: '0', ADMIN_PORT: '0' })).toMatchObject({ PORT: 0, ADMIN_PORT: 0 });
  });
});

describe('TARGET written without a scheme', () => {
  it.each([
    ['localhost:8080', 'http://localhost:8080'],
    ['app:8080/base', 'http://app:8080/base'],
    ['app', 'http://app'],
  ])('%s is refused with the suggestion %s', (value, suggestion) => {
    expect(() => loadConfig({ TARGET: value })).toThrow(`did you mean "${suggestion}"?`);
  });

  it('suggests nothing for a value that has a scheme or is no host at all', () => {
    for (const value of ['ftp://x', 'not a url']) {
      expect(() => loadConfig({ TARGET: value })).toThrow(/^TARGET: /);
      expect(() => loadConfig({ TARGET: value })).not.toThrow(/did you mean/);
    }
  });
});

describe('README configuration table', () => {
  it('lists exactly the schema variables, each with the default the schema applies', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    // A variable without a default shows `unset` (not in backticks) in the default column.
    const rows = [...readme.matchAll(/^\| `([A-Z_]+)` \| (?:`([^`]*)`|(unset)) \|/gm)].map(
      (m) => [m[1], m[2] ?? m[3]] as const,
    );
    expect(rows.map(([name]) => name).sort()).toEqual([...configVariables].sort());
    const defaults = loadConfig({});
    for (const [name, shown] of rows) {
      const value = defaults[name as keyof typeof defaults];
      // A list (COMPRESS_TYPES, ALLOW_CIDRS) shows as written; an empty one is as good as unset.
      const text = value === undefined ? '' : typeof value === 'object' && 'href' in value ? value.href : String(value);
      expect(text === '' ? 'unset' : text, name).toBe(shown);
    }
    expect(Object.keys(configSchema.shape)).toEqual(configVariables);
  });
});

describe('deno task serve', () => {
  it('grants --allow-env for exactly the variables the schema reads, and no blanket permission', () => {
    const deno = JSON.parse(readFileSync(new URL('../../deno.json', import.meta.url), 'utf8')) as {
      tasks: { serve: string };
    };
    const allowEnv = /--allow-env=(\S+)/.exec(deno.tasks.serve)?.[1]?.split(',') ?? [];
    // The `ws` package (the WebSocket relay's client to the app) reads its two opt-out switches at
    // import (ws lib/buffer-util.js, lib/validation.js); without the grant Deno refuses to start.
    const wsLibraryVariables = ['WS_NO_BUFFER_UTIL', 'WS_NO_UTF_8_VALIDATE'];
    expect(allowEnv.sort()).toEqual([...configVariables, ...wsLibraryVariables].sort());
    expect(deno.tasks.serve).not.toMatch(/(^| )(-A|--allow-all)( |$)/);
  });
});
