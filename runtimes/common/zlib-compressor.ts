/**
 * The compressor capability (src/compress/compress.ts) on `node:zlib`, which Node, Bun and Deno
 * all provide with gzip, brotli and zstd (measured: Node 24.21, Bun 1.4.5, Deno 2.9.6). The web
 * CompressionStream cannot flush on demand (whatwg/compression#56); zlib can, so each chunk the
 * app sends is flushed (Z_SYNC_FLUSH, BROTLI_OPERATION_FLUSH, ZSTD_e_flush) and reaches the client
 * decodable before the next one exists.
 */
import zlib from 'node:zlib';
import type { Compressor } from '../../src/compress/compress.ts';
import type { Encoding } from '../../src/compress/encoding.ts';
import { unsupportedEncoding } from '../../src/compress/config.ts';
import type { CompressConfig } from '../../src/compress/config.ts';
import type { ProcessControl } from '../../src/lifecycle.ts';

const { constants } = zlib;

/**
 * Levels for responses compressed while they stream, where CPU per request matters more than
 * the last percent of size (sizes measured here on a 16 KiB HTML table page; speed still to be
 * measured by the bench, which compares against nginx at the same gzip level):
 * - gzip 5: Caddy's default (nginx's is 1, zlib's own 6); 5 was under 2% larger than 6, which
 *   follows match chains four times as long (zlib's configuration table).
 * - br 4: a mid level, as on-the-fly brotli usually runs (Envoy defaults to 3); brotli's own
 *   default, 11, is meant for files compressed once and took over 100 times as long. 5 was 18%
 *   smaller on that page: a candidate if the bench shows it cheap enough.
 * - zstd 3: zstd's own default level, which Caddy's encoder also uses.
 */
export interface ZlibLevels {
  gzip: number;
  br: number;
  zstd: number;
}

export const defaultLevels: ZlibLevels = { gzip: 5, br: 4, zstd: 3 };

/**
 * Windows of 2^18 bytes for brotli and zstd bound the memory each compressing response holds
 * (about 1.2 MiB for brotli at quality 4, against 2.8 MiB with brotli's default window of 2^22;
 * about 1.3 MiB for zstd level 3, against 3 MiB with its default 2^21 window; gzip holds about
 * 0.35 MiB), so many responses at once stay within the pod's memory limit. 18 is Envoy's
 * default brotli window; zstd's stays well under the 8 MiB RFC 9659 lets clients refuse above.
 */
const windowLog = 18;

/** What this runtime's node:zlib can do: zstd arrived in Node 23.8 / 22.15. */
export function zlibEncodings(): ReadonlySet<Encoding> {
  const encodings = new Set<Encoding>(['br', 'gzip']);
  if (typeof zlib.createZstdCompress === 'function') encodings.add('zstd');
  return encodings;
}

export function createZlibCompressor(levels: Partial<ZlibLevels> = {}): Compressor {
  const level = { ...defaultLevels, ...levels };
  return (encoding) => {
    switch (encoding) {
      case 'gzip':
        return flushingStream(zlib.createGzip({ level: level.gzip }), constants.Z_SYNC_FLUSH);
      case 'br':
        return flushingStream(
          zlib.createBrotliCompress({
            params: { [constants.BROTLI_PARAM_QUALITY]: level.br, [constants.BROTLI_PARAM_LGWIN]: windowLog },
          }),
          constants.BROTLI_OPERATION_FLUSH,
        );
      case 'zstd':
        if (typeof zlib.createZstdCompress !== 'function') throw new Error('zstd is not available in this node:zlib');
        return flushingStream(
          zlib.createZstdCompress({
            params: { [constants.ZSTD_c_compressionLevel]: level.zstd, [constants.ZSTD_c_windowLog]: windowLog },
          }),
          constants.ZSTD_e_flush,
        );
    }
  };
}

type ZlibStream = zlib.Gzip | zlib.BrotliCompress | zlib.ZstdCompress;

/**
 * A web TransformStream around one zlib stream. Each transform() writes the chunk, flushes, and
 * resolves only once everything zlib produced for it is enqueued; the TransformStream calls
 * transform() again only when its reader has taken that output, so a slow client stops the
 * writer and nothing piles up beyond one chunk's output. zlib is read in paused mode and drained
 * on every 'readable', so it never waits on its own buffer either.
 */
function flushingStream(stream: ZlibStream, flushKind: number): TransformStream<Uint8Array, Uint8Array> {
  let controller: TransformStreamDefaultController<Uint8Array> | undefined;
  let failure: unknown;
  let pending: ((error: unknown) => void) | undefined;

  const fail = (error: unknown) => {
    failure ??= error;
    const reject = pending;
    pending = undefined;
    reject?.(failure);
  };
  const drain = () => {
    try {
      for (let chunk = stream.read() as Buffer | null; chunk !== null; chunk = stream.read() as Buffer | null)
        controller?.enqueue(chunk);
    } catch (error) {
      // The readable side is gone (cancelled or errored): nothing will read what zlib makes.
      stream.destroy();
      fail(error);
    }
  };
  stream.on('readable', drain);
  stream.on('error', fail);
  stream.on('close', () => fail(new Error('compressor closed')));

  /** Runs one zlib step and settles when it is done and its output enqueued, or zlib fails. */
  const step = (run: (done: () => void) => void) =>
    new Promise<void>((resolve, reject) => {
      if (failure !== undefined) return reject(failure);
      pending = reject;
      run(() => {
        if (pending !== reject) return;
        pending = undefined;
        drain();
        resolve();
      });
    });

  // `cancel` (Streams standard, 2023) runs on all three runtimes; TypeScript's DOM types lack it.
  const transformer: Transformer<Uint8Array, Uint8Array> & { cancel(): void } = {
    start(c) {
      controller = c;
    },
    transform(chunk) {
      if (chunk.byteLength === 0) return;
      return step((done) => {
        stream.write(chunk);
        stream.flush(flushKind, done);
      });
    },
    flush() {
      return step((done) => {
        stream.once('end', done);
        stream.end();
      });
    },
    // The client went away: free zlib's native memory now rather than at garbage collection.
    cancel() {
      stream.destroy();
    },
  };
  return new TransformStream(transformer);
}

/**
 * COMPRESS's compressor on this runtime: undefined when COMPRESS is off (nothing on the request
 * path), and exit 1 with one line naming COMPRESS when it asks for an encoding this runtime's
 * node:zlib lacks (zstd is experimental in Node: nodejs/node#52100).
 */
export function zlibCompressorFor(
  config: Pick<CompressConfig, 'COMPRESS'>,
  runtime: string,
  process: ProcessControl,
): Compressor | undefined {
  if (config.COMPRESS.length === 0) return undefined;
  const problem = unsupportedEncoding(config, zlibEncodings(), runtime);
  if (problem !== undefined) {
    process.say(`sidecar: invalid configuration: ${problem}`);
    process.exit(1);
  }
  return createZlibCompressor();
}
