import { z } from 'zod';
import { encodingNames, isEncoding } from './encoding.ts';
import type { Encoding } from './encoding.ts';

/**
 * The compression variables, spread into the sidecar's schema (src/config.ts) as
 * config-otel.ts's shape is. Off unless COMPRESS names an encoding: by default the sidecar passes
 * every byte unchanged, and compression is the one opt-in exception.
 */

/** What an operator lists, split on commas; entries are case-insensitive (RFC 9110 §8.4.1, §8.3.1). */
function entries(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== '');
}

const encodingList = z.string().transform((value, ctx) => {
  const chosen: Encoding[] = [];
  for (const entry of entries(value)) {
    if (!isEncoding(entry)) {
      ctx.addIssue({
        code: 'custom',
        message: `COMPRESS must list ${encodingNames.join(', ')} in order of preference, or be empty (off): ${JSON.stringify(entry)} is not one`,
      });
      return z.NEVER;
    }
    if (!chosen.includes(entry)) chosen.push(entry);
  }
  return chosen as readonly Encoding[];
});

/** RFC 9110 §8.3.1: `type "/" subtype`, both tokens (§5.6.2); no parameters. */
const mediaType = /^[!#$%&'+.^_`|~0-9a-z-]+\/[!#$%&'+.^_`|~0-9a-z-]+$/;

const typeList = z.string().transform((value, ctx) => {
  const types: string[] = [];
  for (const entry of entries(value)) {
    if (!mediaType.test(entry)) {
      // No wildcards: `text/*` is how Caddy came to compress text/event-stream (caddy#6293).
      ctx.addIssue({
        code: 'custom',
        message: `COMPRESS_TYPES must list media types such as text/html, without wildcards or parameters: ${JSON.stringify(entry)} is not one`,
      });
      return z.NEVER;
    }
    if (!types.includes(entry)) types.push(entry);
  }
  return types as readonly string[];
});

/**
 * Text formats that shrink several times over. Not images, fonts, archives or video: they are
 * compressed already. Not text/event-stream: never compressed, whatever this list says.
 */
export const defaultCompressTypes: readonly string[] = [
  'text/html',
  'text/css',
  'text/plain',
  'text/javascript',
  'application/javascript',
  'application/json',
  'application/xml',
  'image/svg+xml',
];

export const compressConfigShape = {
  /**
   * The encodings the sidecar may apply, in its order of preference (a tie between the client's
   * q-values goes to the first listed). Empty, the default: nothing is compressed.
   */
  COMPRESS: encodingList.default([]),
  /** Only these media types (compared without parameters, case-insensitively) are compressed. */
  COMPRESS_TYPES: typeList.default(defaultCompressTypes),
  /**
   * A body whose Content-Length is below this is sent as is: a compressed kilobyte saves a few
   * hundred bytes at most, less than the gzip framing and the CPU cost are worth (hono/compress
   * uses 1024 too). A body of unknown length is compressed.
   */
  COMPRESS_MIN_BYTES: z.coerce
    .number({ error: 'COMPRESS_MIN_BYTES must be a number of bytes' })
    .int('COMPRESS_MIN_BYTES must be a whole number')
    .min(0, 'COMPRESS_MIN_BYTES must be 0 or more')
    .default(1024),
};

/** The part of the parsed configuration compression reads. */
export interface CompressConfig {
  COMPRESS: readonly Encoding[];
  COMPRESS_TYPES: readonly string[];
  COMPRESS_MIN_BYTES: number;
}

/**
 * The one config line for an encoding this runtime cannot apply, or undefined when it can apply
 * every one COMPRESS lists. Each runtime's compressor reports what it supports (Node 24, Bun 1.4
 * and Deno 2.9 all do gzip, br and zstd through node:zlib); an older runtime without zstd refuses
 * it at start-up instead of failing on the first request.
 */
export function unsupportedEncoding(
  config: Pick<CompressConfig, 'COMPRESS'>,
  supported: ReadonlySet<Encoding>,
  runtime: string,
): string | undefined {
  const missing = config.COMPRESS.filter((encoding) => !supported.has(encoding));
  if (missing.length === 0) return undefined;
  const can = [...supported].join(', ') || 'none';
  return `COMPRESS: ${missing.join(', ')} is not available on ${runtime} (it can do ${can}) (got ${JSON.stringify(config.COMPRESS.join(','))})`;
}
