import { describe, expect, it } from 'vitest';
import { createSkipPaths, normalisePath } from '../../../src/auth/skip-paths.ts';

describe('normalisePath', () => {
  it.each([
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/a/b/', '/a/b/'],
    ['/a/./b', '/a/b'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/a/../../b', '/b'],
    ['/..', '/'],
    ['/a//../b', '/a/b'],
    ['/%61%62c', '/abc'],
    ['/a/%2e%2E/b', '/b'],
    ['/a/.%2e/b', '/b'],
    ['/caf%C3%A9', '/café'],
  ])('%s is %s (percent-decoded, dot-segments removed: RFC 3986 §5.2.4)', (path, expected) => {
    expect(normalisePath(path)).toBe(expected);
  });

  it.each([
    ['an encoded slash', '/a%2fb'],
    ['an encoded backslash', '/a%5cb'],
    ['a backslash', '/a\\b'],
    ['a path parameter', '/a;x/b'],
    ['an encoded semicolon', '/a%3bx'],
    ['a fragment', '/a#b'],
    ['an encoded fragment', '/a%23b'],
    ['an encoded query', '/a%3fb'],
    ['double encoding', '/a%252e'],
    ['a NUL byte', '/a%00b'],
    ['a malformed escape', '/a%zz'],
    ['no leading slash', 'a/b'],
  ])('is undefined for a path with %s: never skipped', (_what, path) => {
    expect(normalisePath(path)).toBeUndefined();
  });
});

describe('AUTH_SKIP_PATHS matching', () => {
  const skip = createSkipPaths(['/public/', '/healthz'])!;

  it('passes a path under a prefix, and an exact path', () => {
    expect(skip('/public/')).toBe(true);
    expect(skip('/public/css/site.css')).toBe(true);
    expect(skip('/healthz')).toBe(true);
    expect(skip('/healthz?verbose=1')).toBe(true);
  });

  it('does not stretch a prefix or an exact path', () => {
    expect(skip('/public')).toBe(false);
    expect(skip('/publicity')).toBe(false);
    expect(skip('/healthz/')).toBe(false);
    expect(skip('/healthz/x')).toBe(false);
    expect(skip('/healthzz')).toBe(false);
    expect(skip('/PUBLIC/x')).toBe(false);
  });

  it('judges the path after normalisation: a detour that ends under the prefix is skipped', () => {
    expect(skip('/admin/../public/x')).toBe(true);
    expect(skip('/public/./x')).toBe(true);
  });

  it('is off without entries', () => {
    expect(createSkipPaths(undefined)).toBeUndefined();
    expect(createSkipPaths([])).toBeUndefined();
  });
});
