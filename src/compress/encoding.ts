/**
 * The content codings the sidecar can apply (RFC 9110 §8.4.1: `gzip`; RFC 7932: `br`; RFC 8878
 * and RFC 9659: `zstd`), in the spelling `Accept-Encoding` and `Content-Encoding` use. A file of
 * its own so that runtimes/ can name them without loading the config schema.
 */
export const encodingNames = ['br', 'gzip', 'zstd'] as const;

export type Encoding = (typeof encodingNames)[number];

export function isEncoding(name: string): name is Encoding {
  return (encodingNames as readonly string[]).includes(name);
}
