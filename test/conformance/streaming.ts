/**
 * Holds docs/behaviour.md#proxying: bodies stream both ways with backpressure; bytes pass
 * unchanged (no decompression, no re-encoding, no following redirects).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { collect, headerValues, open, send } from '../support/http-client.ts';
import { encodedBodies, plainText } from '../support/upstream.ts';
import type { Encoding } from '../support/upstream.ts';
import type { Conformance } from './context.ts';
import { headers } from './context.ts';

const MiB = 1024 * 1024;

export function streamingTests(t: Conformance): void {
  describe('streaming with backpressure', () => {
    it("a slow response's first chunk reaches the client while the app is still writing", async () => {
      const s = await t.main();
      const id = t.id('slow');
      const { res } = await open(s.url, `/_/slow?id=${id}`, { headers: headers(['X-Request-Id', id]) });
      expect(res.statusCode).toBe(200);
      const body = collect(res);
      await body.received('first chunk\n'.length, 'the first chunk, before the app finished its response');
      expect(t.upstream.byId(id)[0]?.response, 'the app has not finished yet').toBe('pending');
      t.upstream.release(id);
      const { body: all, complete } = await body.end();
      expect(complete).toBe(true);
      expect(all.toString()).toBe('first chunk\nthe rest\n');
      // Logged once the response ended, not when its headers went out.
      const entry = await s.waitForLog((e) => e.request_id === id, 'the slow response');
      expect(entry.bytes_out).toBe(all.length);
    });

    it('a request body reaches the app while the client is still sending it', async () => {
      const s = await t.main();
      const id = t.id('upload-stream');
      const first = Buffer.alloc(64 * 1024, 'a');
      const second = Buffer.alloc(64 * 1024, 'b');
      async function* body() {
        yield first;
        // Not one more byte until the app has seen the first ones: a sidecar that buffers the
        // whole request first never gets there.
        await t.upstream.waitFor(
          id,
          (r) => r.bodyBytes > 0,
          'upload bytes at the app before the client finished sending',
        );
        yield second;
      }
      const res = await send(s.url, `/_/upload?id=${id}`, {
        method: 'POST',
        headers: headers(['Content-Length', String(first.length + second.length)]),
        body: body(),
      });
      expect(res.status).toBe(200);
      const sha256 = createHash('sha256').update(first).update(second).digest('hex');
      expect(JSON.parse(res.body.toString())).toEqual({ bytes: first.length + second.length, sha256 });
    });

    it('a 200 MiB upload streamed from a generator reaches the app intact (sha256) and is logged with its size', async () => {
      const s = await t.main();
      const id = t.id('upload-200');
      const size = 200 * MiB;
      const hash = createHash('sha256');
      async function* body() {
        for (let i = 0; i < size / MiB; i++) {
          // Each MiB differs, so a dropped, repeated or reordered chunk changes the hash.
          const chunk = Buffer.alloc(MiB, `${i}:${(i * 7919) % 251}|`);
          hash.update(chunk);
          yield chunk;
        }
      }
      const res = await send(s.url, `/_/upload?id=${id}`, {
        method: 'POST',
        headers: headers(
          ['Content-Length', String(size)],
          ['X-Request-Id', id],
          ['Content-Type', 'application/octet-stream'],
        ),
        body: body(),
      });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString())).toEqual({ bytes: size, sha256: hash.digest('hex') });
      const entry = await s.waitForLog((e) => e.request_id === id, 'the upload');
      expect(entry.bytes_in).toBe(size);
    }, 120_000);

    it('a chunked upload without Content-Length reaches the app intact', async () => {
      const s = await t.main();
      const id = t.id('chunked-upload');
      const parts = [Buffer.from('one,'), Buffer.alloc(100_000, 'two,'), Buffer.from('three')];
      async function* body() {
        yield* parts;
      }
      const res = await send(s.url, `/_/upload?id=${id}`, { method: 'POST', body: body() });
      expect(res.status).toBe(200);
      const all = Buffer.concat(parts);
      expect(JSON.parse(res.body.toString())).toEqual({
        bytes: all.length,
        sha256: createHash('sha256').update(all).digest('hex'),
      });
    });

    it('a client that reads nothing stalls the app (backpressure) instead of the sidecar buffering the body', async () => {
      const s = await t.main();
      const id = t.id('firehose');
      const total = 128 * MiB;
      // Loopback socket buffers on the four sockets between app and client hold ~20 MiB at most.
      const bound = 64 * MiB;
      // node:http stops reading the socket once a paused response's buffer is full (16 KiB).
      const { req, res } = await open(s.url, `/_/firehose?id=${id}&total=${total}`);
      try {
        expect(res.statusCode).toBe(200);
        const app = await t.upstream.waitFor(id, () => true, 'the firehose request at the app');
        // Poll (bounded) until the app's writes stall or it has written everything: there is no
        // event for "nothing happens".
        let last = -1;
        let steadyPolls = 0;
        for (let polls = 0; polls < 600 && app.bytesWritten < total && steadyPolls < 20; polls++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          steadyPolls = app.waitingForDrain && app.bytesWritten === last ? steadyPolls + 1 : 0;
          last = app.bytesWritten;
        }
        expect(
          app.bytesWritten,
          `bytes the app could write while the client read almost none (of ${total})`,
        ).toBeLessThan(bound);
        expect(app.waitingForDrain, 'the app is held back by backpressure').toBe(true);
        let received = 0;
        for await (const chunk of res) received += (chunk as Buffer).length;
        expect(res.complete).toBe(true);
        expect(received).toBe(total);
      } finally {
        req.destroy();
      }
    }, 120_000);
  });

  describe('bytes pass unchanged', () => {
    for (const encoding of ['gzip', 'br', 'zstd'] as Encoding[]) {
      it(`a ${encoding} response reaches the client byte for byte with Content-Encoding: ${encoding}`, async () => {
        const s = await t.main();
        const res = await send(s.url, `/_/${encoding}?id=${t.id(encoding)}`, {
          headers: headers(['Accept-Encoding', 'gzip, br, zstd']),
        });
        expect(res.status).toBe(200);
        expect(res.headers['content-encoding']).toBe(encoding);
        expect(
          res.body.equals(encodedBodies[encoding]),
          `body is the app's ${encodedBodies[encoding].length} ${encoding} bytes, got ${res.body.length}`,
        ).toBe(true);
      });
    }

    it('a compressed response reaches a client that sent no Accept-Encoding unchanged too', async () => {
      const s = await t.main();
      const res = await send(s.url, `/_/gzip?id=${t.id('gzip-no-ae')}`);
      expect(res.headers['content-encoding']).toBe('gzip');
      expect(res.body.equals(encodedBodies.gzip)).toBe(true);
      expect(res.body.equals(plainText)).toBe(false);
    });

    it("a response's Content-Length passes unchanged", async () => {
      const s = await t.main();
      const res = await send(s.url, `/_/gzip?id=${t.id('content-length')}`);
      expect(res.headers['content-length']).toBe(String(encodedBodies.gzip.length));
      expect(res.body.length).toBe(encodedBodies.gzip.length);
    });

    it('no Accept-Encoding reaches the app that the client did not send', async () => {
      const s = await t.main();
      const { echo } = await t.echo(s, `/_/echo?id=${t.id('no-ae')}`);
      expect(headerValues(echo.rawHeaders, 'accept-encoding')).toEqual([]);
    });

    it("the client's Accept-Encoding reaches the app unchanged", async () => {
      const s = await t.main();
      const { echo } = await t.echo(s, `/_/echo?id=${t.id('ae')}`, {
        headers: headers(['Accept-Encoding', 'br;q=1.0, gzip;q=0.5, identity;q=0.1']),
      });
      expect(headerValues(echo.rawHeaders, 'accept-encoding')).toEqual(['br;q=1.0, gzip;q=0.5, identity;q=0.1']);
    });

    it('a 302 passes through with Location untouched and is not followed', async () => {
      const s = await t.main();
      // One Location on another host, one on the app's own origin (which nginx's default proxy_redirect would rewrite).
      for (const location of [
        `${t.canary.url}/followed?id=${t.id('redirect')}`,
        `${t.upstream.url}/moved?x=1`,
        '/relative/path?y=2',
      ]) {
        const res = await send(s.url, `/_/redirect?id=${t.id('redirect')}&to=${encodeURIComponent(location)}`);
        expect(res.status).toBe(302);
        expect(headerValues(res.rawHeaders, 'location')).toEqual([location]);
        expect(res.body.toString()).toBe('Found\n');
      }
      expect(t.canary.connections(), 'the redirect was followed').toBe(0);
      expect(
        t.upstream.requests.filter((r) => r.url.startsWith('/moved')),
        'the redirect was followed',
      ).toEqual([]);
    });
  });
}
