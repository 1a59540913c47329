/**
 * Holds docs/behaviour.md#proxying: framing information is never lost or invented. A response the
 * app sent with Content-Length reaches the client with the same Content-Length however it streams;
 * a HEAD answer carries the app's Content-Length or none.
 */
import { describe, expect, it } from 'vitest';
import { open, RawConnection, rawRequest } from '../support/http-client.ts';
import { encodedBodies } from '../support/upstream.ts';
import type { Conformance } from './context.ts';
import { headers } from './context.ts';
import { knownDifferences } from './known-differences.ts';

const MiB = 1024 * 1024;

export function framingTests(t: Conformance): void {
  describe('framing is never lost or invented', () => {
    async function head(path: string) {
      const s = await t.main();
      const connection = await RawConnection.open(s.url);
      try {
        connection.write(
          rawRequest(`HEAD ${path} HTTP/1.1`, headers(['Host', 'example.test'], ['Accept-Encoding', 'gzip'])),
        );
        const response = await connection.readResponse({ head: true });
        expect(response?.status, `answer: ${response?.statusLine}`).toBe(200);
        return response;
      } finally {
        connection.destroy();
      }
    }

    it("a streamed response keeps the app's Content-Length", async () => {
      const s = await t.main();
      // Several MiB written in 64 KiB chunks with backpressure: the sidecar cannot have it whole.
      const total = 8 * MiB;
      const { req, res } = await open(s.url, `/_/firehose?id=${t.id('streamed-length')}&total=${total}`);
      try {
        let received = 0;
        for await (const chunk of res) received += (chunk as Buffer).length;
        expect(res.complete).toBe(true);
        expect(received).toBe(total);
        if (knownDifferences.streamedContentLengthDropped.has(t.runtime)) {
          // As it stands (known-differences.ts): chunked instead, the body still whole.
          expect(res.headers['content-length']).toBeUndefined();
          expect(res.headers['transfer-encoding']).toBe('chunked');
        } else {
          expect(res.headers['content-length']).toBe(String(total));
          expect(res.headers['transfer-encoding']).toBeUndefined();
        }
      } finally {
        req.destroy();
      }
    });

    it("a HEAD answer carries the app's Content-Length", async () => {
      const response = await head(`/_/bytes?n=5000&id=${t.id('head-length')}`);
      expect(response?.getAll('content-length')).toEqual(['5000']);
      expect(response?.body.length).toBe(0);
    });

    it('a HEAD answer the app sent without Content-Length carries none', async () => {
      const response = await head(`/_/unsized?id=${t.id('head-unsized')}`);
      expect(response?.get('content-encoding')).toBe('gzip');
      expect(response?.getAll('content-length'), 'a Content-Length the app never sent').toEqual([]);
      // Bun says how a GET would be framed instead (RFC 9112 §6.1 allows it; known-differences.ts).
      const chunked = knownDifferences.headWithoutLengthSaysChunked.has(t.runtime);
      expect(response?.getAll('transfer-encoding')).toEqual(chunked ? ['chunked'] : []);
    });

    it('the same resource by GET reaches the client whole, framed without a length', async () => {
      const s = await t.main();
      const { req, res } = await open(s.url, `/_/unsized?id=${t.id('get-unsized')}`);
      try {
        const chunks: Buffer[] = [];
        for await (const chunk of res) chunks.push(chunk as Buffer);
        expect(Buffer.concat(chunks).equals(encodedBodies.gzip)).toBe(true);
        expect(res.complete).toBe(true);
      } finally {
        req.destroy();
      }
    });
  });
}
