import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, configSchema, configVariables, loadConfig } from '../src/config.ts';

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
    });
    expect(c.TARGET).toEqual({ origin: 'http://localhost:8080', prefix: '', href: 'http://localhost:8080', secure: false, hostname: 'localhost', port: 8080 });
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
    expect(loadConfig({ TARGET: 'https://[::1]/x' }).TARGET).toMatchObject({ hostname: '::1', port: 443, secure: true, origin: 'https://[::1]' });
    expect(loadConfig({ TARGET: 'http://app' }).TARGET.port).toBe(80);
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

describe('README configuration table', () => {
  it('lists exactly the schema variables, each with the default the schema applies', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    // A variable with no default shows `—` (for example, no OTLP endpoint: no export).
    const rows = [...readme.matchAll(/^\| `([A-Z_]+)` \| (?:`([^`]*)`|—) \|/gm)].map((m) => [m[1], m[2]] as const);
    expect(rows.map(([name]) => name).sort()).toEqual([...configVariables].sort());
    const defaults = loadConfig({});
    for (const [name, shown] of rows) {
      const value = defaults[name as keyof typeof defaults];
      expect(value === undefined ? undefined : typeof value === 'object' && 'href' in value ? value.href : String(value), name).toBe(shown);
    }
    expect(Object.keys(configSchema.shape)).toEqual(configVariables);
  });
});

describe('deno task serve', () => {
  it('grants --allow-env for exactly the variables the schema reads, and no blanket permission', () => {
    const deno = JSON.parse(readFileSync(new URL('../deno.json', import.meta.url), 'utf8')) as { tasks: { serve: string } };
    const allowEnv = /--allow-env=(\S+)/.exec(deno.tasks.serve)?.[1]?.split(',') ?? [];
    expect(allowEnv.sort()).toEqual([...configVariables].sort());
    expect(deno.tasks.serve).not.toMatch(/(^| )(-A|--allow-all)( |$)/);
  });
});
