/**
 * The return path after a login stays on this origin (CWE-601). Each refused input is a known
 * open-redirect trick (oauth2-proxy: bitly/oauth2_proxy#228, GHSA-qqxw-m5fj-f7gv,
 * GHSA-j7px-6hwj-hpjg, GHSA-5m6c-jp6f-2vcv); the kept ones are ordinary paths, unchanged.
 */
import { describe, expect, it } from 'vitest';
import { safeReturnPath } from '../../../../src/auth/oidc/return-path.ts';

describe('safeReturnPath', () => {
  const offSite: [string, string][] = [
    ['a network-path reference', '//evil.example'],
    ['a network-path reference with a path', '//evil.example/login'],
    ['an absolute URL', 'https://evil.example/'],
    ['a scheme-relative URL with a backslash', '/\\evil.example'],
    ['backslashes only', '\\\\evil.example'],
    ['a tab between the slashes (the URL parser drops it)', '/\t/evil.example'],
    ['a newline between the slashes', '/\n/evil.example'],
    ['a dot segment that collapses into //', '/.//evil.example'],
    ['a dot-dot segment that collapses into //', '/a/..//evil.example'],
    ['a javascript: URL', 'javascript:alert(1)'],
    ['a data: URL', 'data:text/html,<script>alert(1)</script>'],
    ['a relative path without a leading slash', 'evil.example'],
    ['userinfo on our host', '/@evil.example'.replace('/', '//')],
    ['empty', ''],
  ];
  for (const [name, asked] of offSite) {
    it(`returns / for ${name}`, () => {
      expect(safeReturnPath(asked)).toBe('/');
    });
  }

  it('returns / when there is no return path', () => {
    expect(safeReturnPath(null)).toBe('/');
    expect(safeReturnPath(undefined)).toBe('/');
  });

  const kept: [string, string][] = [
    ['/', '/'],
    ['/reports', '/reports'],
    ['/reports?year=2026&q=a%20b', '/reports?year=2026&q=a%20b'],
    ['/a/./b/../c', '/a/c'],
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
    ['/path with space', '/path%20with%20space'],
    ['/#fragment', '/'],
  ];
  for (const [asked, expected] of kept) {
    it(`keeps the local path ${JSON.stringify(asked)} as ${expected}`, () => {
      expect(safeReturnPath(asked)).toBe(expected);
    });
  }
});
