/**
 * The zlib compressor on each runtime, run for real: fixtures/zlib-check.ts streams chunks
 * through it for every encoding and reports what a client could decode, and when.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runToEnd } from './runtimes.ts';
import type { Runtime } from './runtimes.ts';

interface EncodingFacts {
  /** Per chunk: the output read before the next chunk was written decoded to every chunk so far. */
  decodedInTime: boolean[];
  /** The whole output is one complete stream that decodes to the whole input. */
  complete: boolean;
  /** How many chunks an endless source was pulled ahead of a reader taking one output at a time. */
  lead: number;
  cancelReachedSource: boolean;
}

interface Facts {
  runtime: string;
  encodings: string[];
  results: Record<string, EncodingFacts>;
}

const runtimes: Runtime[] = ['node', 'bun', 'deno'];

describe.each(runtimes)('the zlib compressor on %s', (runtime) => {
  let facts: Facts;
  beforeAll(async () => {
    facts = (await runToEnd(runtime, 'zlib-check.ts', 30_000)) as Facts;
  }, 40_000);

  it('offers br, gzip and zstd', () => {
    expect(facts.runtime.startsWith(runtime)).toBe(true);
    expect([...facts.encodings].sort()).toEqual(['br', 'gzip', 'zstd']);
  });

  describe.each(['br', 'gzip', 'zstd'])('with %s', (encoding) => {
    it('makes each chunk decodable before the next one is written', () => {
      expect(facts.results[encoding]?.decodedInTime).toEqual([true, true, true, true, true]);
    });

    it('ends with a complete stream of the whole input', () => {
      expect(facts.results[encoding]?.complete).toBe(true);
    });

    it('stops pulling the source while the reader does not read', () => {
      // The source's own queue, the pipe's read in flight and the writable side's one chunk.
      expect(facts.results[encoding]?.lead).toBeLessThanOrEqual(3);
    });

    it('passes a cancel on to the source', () => {
      expect(facts.results[encoding]?.cancelReachedSource).toBe(true);
    });
  });
});
