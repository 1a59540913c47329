import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compressConfigShape, defaultCompressTypes, unsupportedEncoding } from '../../../src/compress/config.ts';

/** As src/config.ts's loadConfig reads the environment: empty values count as unset. */
function parse(env: Record<string, string>) {
  const input = Object.fromEntries(Object.entries(env).filter(([, value]) => value.trim() !== ''));
  return z.object(compressConfigShape).safeParse(input);
}

function firstError(env: Record<string, string>): string | undefined {
  const result = parse(env);
  return result.success ? undefined : result.error.issues[0]?.message;
}

describe('the compression variables', () => {
  it('leave compression off by default, with the documented types and 1024 bytes', () => {
    const result = parse({});
    expect(result.success && result.data).toEqual({
      COMPRESS: [],
      COMPRESS_TYPES: defaultCompressTypes,
      COMPRESS_MIN_BYTES: 1024,
    });
    expect(defaultCompressTypes).toEqual([
      'text/html',
      'text/css',
      'text/plain',
      'text/javascript',
      'application/javascript',
      'application/json',
      'application/xml',
      'image/svg+xml',
    ]);
    expect(parse({ COMPRESS: '  ' }).data?.COMPRESS).toEqual([]);
  });

  it('keep COMPRESS in the order written, case-insensitively, each encoding once', () => {
    expect(parse({ COMPRESS: 'BR, gzip ,zstd' }).data?.COMPRESS).toEqual(['br', 'gzip', 'zstd']);
    expect(parse({ COMPRESS: 'gzip,br,gzip,' }).data?.COMPRESS).toEqual(['gzip', 'br']);
  });

  it.each(['deflate', 'gzip,compress', 'identity', 'off', 'x-gzip'])(
    'refuse COMPRESS=%s with one line naming the variable and the bad entry',
    (value) => {
      const message = firstError({ COMPRESS: value });
      expect(message).toMatch(/^COMPRESS must list br, gzip, zstd in order of preference, or be empty \(off\): "/);
      expect(message).not.toContain('\n');
    },
  );

  it('take COMPRESS_TYPES as lower-case media types', () => {
    expect(parse({ COMPRESS_TYPES: 'Text/HTML, application/vnd.api+json' }).data?.COMPRESS_TYPES).toEqual([
      'text/html',
      'application/vnd.api+json',
    ]);
  });

  it.each(['text/*', '*/*', 'text/html; charset=utf-8', 'html'])(
    'refuse a COMPRESS_TYPES entry %s that is not one exact media type',
    (value) => {
      expect(firstError({ COMPRESS_TYPES: value })).toMatch(/^COMPRESS_TYPES must list media types/);
    },
  );

  it('take COMPRESS_MIN_BYTES as a whole number of bytes, 0 included', () => {
    expect(parse({ COMPRESS_MIN_BYTES: '0' }).data?.COMPRESS_MIN_BYTES).toBe(0);
    expect(firstError({ COMPRESS_MIN_BYTES: '-1' })).toBe('COMPRESS_MIN_BYTES must be 0 or more');
    expect(firstError({ COMPRESS_MIN_BYTES: '1k' })).toBe('COMPRESS_MIN_BYTES must be a number of bytes');
    expect(firstError({ COMPRESS_MIN_BYTES: '1.5' })).toBe('COMPRESS_MIN_BYTES must be a whole number');
  });
});

describe('unsupportedEncoding', () => {
  it('names an encoding the runtime cannot apply, in one line', () => {
    expect(unsupportedEncoding({ COMPRESS: ['zstd', 'gzip'] }, new Set(['br', 'gzip']), 'node 22.12.0')).toBe(
      'COMPRESS: zstd is not available on node 22.12.0 (it can do br, gzip) (got "zstd,gzip")',
    );
  });

  it('says nothing when the runtime can apply every encoding listed', () => {
    expect(unsupportedEncoding({ COMPRESS: ['zstd', 'gzip'] }, new Set(['br', 'gzip', 'zstd']), 'x')).toBeUndefined();
    expect(unsupportedEncoding({ COMPRESS: [] }, new Set(), 'x')).toBeUndefined();
  });
});
