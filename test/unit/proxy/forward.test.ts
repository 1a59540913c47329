import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import { pathAndQueryOf, requestTarget, stripHopByHop, upstreamUrl } from '../../../src/proxy/forward.ts';

describe('upstream URL', () => {
  const target = loadConfig({ TARGET: 'http://app:8080/base' }).TARGET;
  it.each([
    ['http://sidecar/x?y=1', '/x?y=1'],
    ['http://sidecar//evil.example/x', '//evil.example/x'],
    ['http://other.example/abs?q', '/abs?q'],
    ['http://sidecar', '/'],
    ['http://sidecar?q=1', '/?q=1'],
    ['http://sidecar/p#frag', '/p'],
  ])('takes only the path and query of %s', (url, path) => {
    expect(pathAndQueryOf(url)).toBe(path);
    expect(new URL(upstreamUrl(target, pathAndQueryOf(url))).host).toBe('app:8080');
  });

  it('joins TARGET prefix and path as strings', () => {
    expect(upstreamUrl(target, '//evil.example/x')).toBe('http://app:8080/base//evil.example/x');
  });
});

describe('stripHopByHop', () => {
  it('removes the fixed list and every header Connection names, case-insensitively', () => {
    const h = stripHopByHop(
      new Headers({
        Connection: 'X-A , close,,x-b',
        'x-a': '1',
        'x-b': '2',
        'x-c': '3',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        te: 'trailers',
      }),
    );
    expect([...h.keys()]).toEqual(['x-c']);
  });
});

describe('requestTarget', () => {
  it("forwards the raw target byte for byte when it is safe (no re-encoding of ' in a query)", () => {
    expect(requestTarget("/a/it's?q='x'&s=%2f", "http://h/a/it's?q=%27x%27&s=%2f")).toBe("/a/it's?q='x'&s=%2f");
  });
  it.each(['/a/../b', '/a/%2e%2e/b', '/a/.', '/a/%2E/b?x', '/a\\b'])(
    'falls back to the normalised URL for %s',
    (raw) => {
      expect(requestTarget(raw, 'http://h/b')).toBe('/b');
    },
  );
  it('falls back for absolute-form and missing raw targets', () => {
    expect(requestTarget('http://other/x', 'http://other/x')).toBe('/x');
    expect(requestTarget(undefined, 'http://h/y?z')).toBe('/y?z');
  });
});

describe('dot segments from runtimes that pass them on', () => {
  it.each([
    ['http://h/base/../../x', '/x'],
    ['http://h/a/%2e%2e/%2E%2E/x?q=/../', '/x?q=/../'],
    ['http://h//evil.example/../x', '//x'],
  ])('resolves %s to %s, on TARGET', (url, expected) => {
    expect(requestTarget(undefined, url)).toBe(expected);
  });
});
