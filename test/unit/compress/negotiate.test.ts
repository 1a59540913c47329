import { describe, expect, it } from 'vitest';
import type { Encoding } from '../../../src/compress/encoding.ts';
import { createNegotiator } from '../../../src/compress/negotiate.ts';

const brGzip: Encoding[] = ['br', 'gzip'];

describe('Accept-Encoding negotiation (RFC 9110 §12.5.3)', () => {
  it.each<[string | null, Encoding[], Encoding | undefined]>([
    // No header: curl and scripts that cannot decode get the body as it is.
    [null, brGzip, undefined],
    // An empty value asks for no coding at all.
    ['', brGzip, undefined],
    ['gzip', brGzip, 'gzip'],
    ['br', ['gzip'], undefined],
    ['deflate', brGzip, undefined],
  ])('Accept-Encoding %j with COMPRESS %j chooses %s', (header, offered, chosen) => {
    expect(createNegotiator(offered)(header)).toBe(chosen);
  });

  it('breaks ties between equal weights by the order of COMPRESS', () => {
    expect(createNegotiator(['br', 'gzip'])('gzip, deflate, br, zstd')).toBe('br');
    expect(createNegotiator(['gzip', 'br'])('gzip, deflate, br, zstd')).toBe('gzip');
    expect(createNegotiator(['zstd', 'gzip'])('zstd, gzip')).toBe('zstd');
    expect(createNegotiator(['br', 'gzip', 'zstd'])('zstd, gzip')).toBe('gzip');
  });

  it("lets the client's q-values win over the order of COMPRESS", () => {
    expect(createNegotiator(brGzip)('br;q=0.5, gzip')).toBe('gzip');
    expect(createNegotiator(brGzip)('gzip;q=0.001, br;q=0.002')).toBe('br');
    expect(createNegotiator(brGzip)('gzip;q=1.000, br;q=0.999')).toBe('gzip');
  });

  it('never chooses a coding refused with q=0', () => {
    expect(createNegotiator(brGzip)('br;q=0, gzip;q=0')).toBeUndefined();
    expect(createNegotiator(brGzip)('br;q=0, gzip')).toBe('gzip');
    expect(createNegotiator(brGzip)('br;q=0.0, gzip;q=0.000')).toBeUndefined();
  });

  it('reads tokens and q case-insensitively and around any whitespace and empty members', () => {
    expect(createNegotiator(brGzip)(' GZIP ;  Q=0.8 , Br;q=0.9')).toBe('br');
    expect(createNegotiator(brGzip)(', ,gzip\t,')).toBe('gzip');
  });

  it('lets * stand for every coding not listed by name', () => {
    expect(createNegotiator(brGzip)('*')).toBe('br');
    expect(createNegotiator(brGzip)('br;q=0, *')).toBe('gzip');
    expect(createNegotiator(['br'])('br;q=0, *')).toBeUndefined();
    expect(createNegotiator(brGzip)('*;q=0')).toBeUndefined();
    expect(createNegotiator(brGzip)('gzip;q=0.5, *;q=0.1')).toBe('gzip');
  });

  it('sends identity when the client weighs it above every offered coding', () => {
    expect(createNegotiator(brGzip)('identity')).toBeUndefined();
    expect(createNegotiator(brGzip)('gzip;q=0.5, identity')).toBeUndefined();
    expect(createNegotiator(['gzip'])('gzip;q=0.5, *;q=0.9')).toBeUndefined();
  });

  it('compresses when identity weighs the same as a coding, or is refused', () => {
    expect(createNegotiator(brGzip)('gzip, identity')).toBe('gzip');
    expect(createNegotiator(brGzip)('gzip;q=0.5, identity;q=0')).toBe('gzip');
    expect(createNegotiator(brGzip)('identity;q=0, *;q=0.2')).toBe('br');
  });

  it('treats x-gzip as gzip (RFC 9110 §8.4.1.3)', () => {
    expect(createNegotiator(brGzip)('x-gzip')).toBe('gzip');
  });

  it('ignores a member whose q is not a qvalue, so it accepts nothing', () => {
    for (const header of ['gzip;q=2', 'gzip;q=0.1234', 'gzip;q=high', 'gzip;q=', 'gzip;q=1.5'])
      expect(createNegotiator(brGzip)(header), header).toBeUndefined();
    expect(createNegotiator(brGzip)('br;q=-1, gzip;q=0.1')).toBe('gzip');
  });

  it('keeps the first weight of a coding listed twice', () => {
    expect(createNegotiator(brGzip)('gzip;q=0, gzip')).toBeUndefined();
    expect(createNegotiator(brGzip)('gzip, gzip;q=0')).toBe('gzip');
  });

  it('gives the same answers from its cache, also once the cache has been emptied', () => {
    const headers = ['gzip', 'br;q=0, gzip', 'gzip, deflate, br', 'identity', 'br;q=0.1, gzip;q=0.2', 'zstd'];
    const fresh = headers.map((header) => createNegotiator(brGzip, 2)(header));
    expect(fresh).toEqual(['gzip', 'gzip', 'br', undefined, 'gzip', undefined]);
    const cached = createNegotiator(brGzip, 2);
    for (let round = 0; round < 3; round++) expect(headers.map((header) => cached(header))).toEqual(fresh);
  });

  it('answers a header too long to cache as it would a short one', () => {
    const long = `${'x-custom;q=0.1, '.repeat(40)}gzip`;
    const negotiate = createNegotiator(brGzip);
    expect(negotiate(long)).toBe('gzip');
    expect(negotiate(long)).toBe('gzip');
  });
});
