/**
 * Tier 1 and 2: MAX_REQUEST_BODY_BYTES (src/limits/body-limit.ts). The declared-length check, the
 * stream wrapper alone (exact limit, overflow, backpressure), and the wrapper under a real upload
 * over loopback, where the app records whether it ever saw a complete body.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BodyTooLargeError, checkDeclaredLength, limitBody } from '../../../src/limits/body-limit.ts';

/** A body of `chunks` chunks of `size` bytes, pulled one at a time; counts the pulls; `cancelled` settles with a cancel's reason. */
function source(chunks: number, size: number) {
  const cancel = Promise.withResolvers<unknown>();
  const state = { pulls: 0, cancelled: cancel.promise };
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        state.pulls++;
        if (sent === chunks) controller.close();
        else controller.enqueue(new Uint8Array(size).fill(sent++ & 255));
      },
      cancel(reason) {
        cancel.resolve(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<{ bytes: number; error?: unknown }> {
  let bytes = 0;
  try {
    for await (const chunk of stream) bytes += chunk.byteLength;
    return { bytes };
  } catch (error) {
    return { bytes, error };
  }
}

describe('checkDeclaredLength', () => {
  it.each([
    ['100', 'within'],
    ['0', 'within'],
    ['101', 'over'],
    [' 101 ', 'over'],
    ['99999999999999999999999', 'over'],
    ['100, 100', 'within'],
    ['101,101', 'over'],
    ['100, 101', 'unknown'],
    ['', 'unknown'],
    ['-1', 'unknown'],
    ['1e3', 'unknown'],
    ['0x10', 'unknown'],
    ['10 0', 'unknown'],
  ] as const)('Content-Length %j against a limit of 100: %s', (value, outcome) => {
    expect(checkDeclaredLength(value, 100)).toBe(outcome);
  });

  it('leaves a request without Content-Length to the streaming check', () => {
    expect(checkDeclaredLength(null, 100)).toBe('unknown');
  });
});

describe('limitBody', () => {
  it('passes a body of exactly the limit through whole, and never calls onOverflow', async () => {
    const { stream } = source(4, 25);
    let overflows = 0;
    const result = await readAll(limitBody(stream, 100, () => overflows++));
    expect(result).toEqual({ bytes: 100 });
    expect(overflows).toBe(0);
  });

  it('errors the stream at the chunk that would pass the limit, once, without passing that chunk on', async () => {
    const { stream, state } = source(10, 25);
    const seen: BodyTooLargeError[] = [];
    const result = await readAll(limitBody(stream, 99, (error) => seen.push(error)));
    expect(result.bytes).toBe(75);
    expect(result.error).toBeInstanceOf(BodyTooLargeError);
    expect(seen).toEqual([result.error]);
    expect(seen[0]?.limit).toBe(99);
    // The client's body is cancelled too, with the same error: the sidecar stops reading it.
    expect(await state.cancelled).toBe(result.error);
  });

  it('keeps backpressure: an unread body is not pulled ahead', async () => {
    const { stream, state } = source(1000, 1024);
    const limited = limitBody(stream, 10_000_000, () => {});
    const reader = limited.getReader();
    await reader.read();
    for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    // One chunk read, one each in the transform's two queues, one in flight: never the whole body.
    expect(state.pulls).toBeLessThanOrEqual(4);
    reader.releaseLock();
    expect((await readAll(limited)).bytes).toBe(1000 * 1024 - 1024);
  });

  it('gives a body consumer an error instead of a complete body', async () => {
    const { stream } = source(5, 40);
    const request = new Request('http://app.invalid/upload', {
      method: 'POST',
      body: limitBody(stream, 100, () => {}),
      duplex: 'half',
    } as RequestInit);
    await expect(request.arrayBuffer()).rejects.toBeInstanceOf(BodyTooLargeError);
  });
});

describe('limitBody under a real upload (loopback)', () => {
  it('aborts the upstream request mid-body: the app never sees the end of it', async () => {
    const seenByApp = { bytes: 0, ended: false };
    const closed = Promise.withResolvers<void>();
    const app = createServer((req, res) => {
      req.on('data', (chunk: Buffer) => (seenByApp.bytes += chunk.length));
      req.on('end', () => {
        seenByApp.ended = true;
        res.end('got it all');
      });
      req.on('close', () => closed.resolve());
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = app.address() as AddressInfo;
      const limit = 256 * 1024;
      const { stream } = source(64, 16 * 1024); // 1 MiB, chunked: no Content-Length
      let overflow: BodyTooLargeError | undefined;
      const upload = fetch(`http://127.0.0.1:${port}/upload`, {
        method: 'POST',
        body: limitBody(stream, limit, (error) => (overflow = error)),
        duplex: 'half',
      } as RequestInit);
      await expect(upload).rejects.toThrow();
      await closed.promise;
      expect(overflow).toBeInstanceOf(BodyTooLargeError);
      expect(seenByApp.ended).toBe(false);
      expect(seenByApp.bytes).toBeLessThanOrEqual(limit);
    } finally {
      app.closeAllConnections();
      await new Promise((resolve) => app.close(resolve));
    }
  });
});
