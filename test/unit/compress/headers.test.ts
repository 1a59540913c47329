import { describe, expect, it } from 'vitest';
import { addVary, encodedHeaders, weakenETag } from '../../../src/compress/headers.ts';

describe('the headers of a compressed response', () => {
  it('lose Content-Length and Accept-Ranges, and say the new Content-Encoding', () => {
    const headers = new Headers({ 'content-length': '5000', 'accept-ranges': 'bytes', 'content-type': 'text/html' });
    encodedHeaders(headers, 'br');
    expect(headers.has('content-length')).toBe(false);
    expect(headers.has('accept-ranges')).toBe(false);
    expect(headers.get('content-encoding')).toBe('br');
    expect(headers.get('content-type')).toBe('text/html');
  });

  it("replace the app's Content-Encoding: identity", () => {
    const headers = new Headers({ 'content-encoding': 'identity' });
    encodedHeaders(headers, 'gzip');
    expect(headers.get('content-encoding')).toBe('gzip');
  });

  it('carry a weak ETag and Vary: Accept-Encoding', () => {
    const headers = new Headers({ etag: '"v1"' });
    encodedHeaders(headers, 'zstd');
    expect(headers.get('etag')).toBe('W/"v1"');
    expect(headers.get('vary')).toBe('Accept-Encoding');
  });

  it('keep every Set-Cookie apart', () => {
    const headers = new Headers([
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ]);
    encodedHeaders(headers, 'gzip');
    expect(headers.getSetCookie()).toEqual(['a=1', 'b=2']);
  });
});

describe('weakenETag', () => {
  it('makes a strong ETag weak and leaves a weak one as it is', () => {
    const strong = new Headers({ etag: '"abc"' });
    weakenETag(strong);
    expect(strong.get('etag')).toBe('W/"abc"');
    const weak = new Headers({ etag: 'W/"abc"' });
    weakenETag(weak);
    expect(weak.get('etag')).toBe('W/"abc"');
    const none = new Headers();
    weakenETag(none);
    expect(none.has('etag')).toBe(false);
  });
});

describe('addVary', () => {
  it("adds Accept-Encoding after the app's values, in one field line", () => {
    const headers = new Headers({ vary: 'Origin' });
    addVary(headers, 'Accept-Encoding');
    expect(headers.get('vary')).toBe('Origin, Accept-Encoding');
  });

  it('merges several Vary field lines into one that keeps them all', () => {
    const headers = new Headers([
      ['vary', 'Origin'],
      ['vary', 'Cookie,,'],
    ]);
    addVary(headers, 'Accept-Encoding');
    expect([...headers].filter(([name]) => name === 'vary')).toEqual([['vary', 'Origin, Cookie, Accept-Encoding']]);
  });

  it('never adds the name twice, whatever its case', () => {
    const headers = new Headers({ vary: 'accept-encoding, Origin' });
    addVary(headers, 'Accept-Encoding');
    expect(headers.get('vary')).toBe('accept-encoding, Origin');
  });

  it('leaves Vary: * as it is', () => {
    const headers = new Headers({ vary: '*' });
    addVary(headers, 'Accept-Encoding');
    expect(headers.get('vary')).toBe('*');
  });

  it('sets it alone when the app sent none, or an empty one', () => {
    const none = new Headers();
    addVary(none, 'Accept-Encoding');
    expect(none.get('vary')).toBe('Accept-Encoding');
    const empty = new Headers({ vary: '' });
    addVary(empty, 'Accept-Encoding');
    expect(empty.get('vary')).toBe('Accept-Encoding');
  });
});
