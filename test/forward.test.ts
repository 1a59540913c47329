import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { pathAndQueryOf, stripHopByHop, upstreamUrl } from '../src/forward.ts';

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
      new Headers({ Connection: 'X-A , close,,x-b', 'x-a': '1', 'x-b': '2', 'x-c': '3', 'transfer-encoding': 'chunked', upgrade: 'h2c', te: 'trailers' }),
    );
    expect([...h.keys()]).toEqual(['x-c']);
  });
});
