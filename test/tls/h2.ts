/**
 * HTTP/2 from the client to the sidecar, HTTP/1.1 from the sidecar to the app, on each runtime:
 * the exchanges where the two protocols differ (several Set-Cookie, connection-specific headers,
 * streams sharing a connection, a stream cancelled by the client, large bodies both ways, a
 * failing app).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTALL_TIMEOUT_MS, requireTool, systemTools } from '../support/system-tool.ts';
import type { TestPki } from '../support/certificates.ts';
import type { Runtime, Sidecar } from '../support/sidecar.ts';
import { hopResponseHeaders, setCookies } from '../support/upstream.ts';
import type { Upstream } from '../support/upstream.ts';
import { startTlsRig } from './rig.ts';
import type { TlsRig } from './rig.ts';

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

function exchange(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    if (body !== undefined) stream.end(body);
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => (head = h));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
  });
}

export function addH2Tests(runtime: Runtime): void {
  describe(`HTTP/2 clients on ${runtime}`, () => {
    let rig: TlsRig | undefined;
    let pki: TestPki;
    let upstream: Upstream;
    let sidecar: Sidecar;
    let session: http2.ClientHttp2Session;
    const get = (path: string) => exchange(session, { ':method': 'GET', ':path': path });

    // The certificates are openssl's: installed when missing (as root), else one line naming it.
    beforeAll(() => requireTool(systemTools.openssl), INSTALL_TIMEOUT_MS);
    beforeAll(async () => {
      rig = await startTlsRig(runtime, 'h2');
      ({ pki, upstream, sidecar } = rig);
      session = http2.connect(`https://localhost:${sidecar.port}`, {
        ca: pki.ca,
        host: '127.0.0.1',
      } as http2.SecureClientSessionOptions);
      await once(session, 'connect');
    });
    afterAll(async () => {
      session?.close();
      await rig?.close();
    });

    it('gives each of the app’s Set-Cookie headers to the client', async () => {
      const answer = await get('/_/cookies?id=h2-cookies');
      expect(answer.status).toBe(200);
      expect(answer.headers['set-cookie']).toEqual([...setCookies]);
    });

    it('gives the app one Cookie header, the client’s cookie fields joined with "; " (RFC 9113 §8.2.3)', async () => {
      // HTTP/2 clients send each cookie as a field of its own; joined with ", " they would read
      // as one cookie whose value runs into the next.
      const answer = await exchange(session, {
        ':method': 'GET',
        ':path': '/_/echo?id=h2-cookie',
        cookie: ['a=1', 'b=2'],
      });
      expect(answer.status).toBe(200);
      const echo = JSON.parse(answer.body.toString()) as { rawHeaders: string[] };
      const cookies = echo.rawHeaders.filter(
        (_, i) => echo.rawHeaders[i - 1]?.toLowerCase() === 'cookie' && i % 2 === 1,
      );
      expect(cookies).toEqual(['a=1; b=2']);
    });

    it('drops the app’s connection-specific headers, which HTTP/2 forbids (RFC 9113 §8.2.2), and keeps the rest', async () => {
      const answer = await get('/_/hop-response?id=h2-hop');
      expect(answer.status).toBe(200);
      for (const name of Object.keys(hopResponseHeaders.hopByHop))
        expect(answer.headers[name.toLowerCase()], name).toBeUndefined();
      expect(answer.headers['x-upstream-hop']).toBeUndefined();
      expect(answer.headers['x-end-to-end']).toBe('kept');
    });

    it('serves concurrent streams of one connection, each a request of its own to the app', async () => {
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => get(`/_/echo?id=h2-multiplex-${i}`)));
      expect(answers.map((a) => a.status)).toEqual(new Array(10).fill(200));
      for (let i = 0; i < 10; i++) expect(upstream.byId(`h2-multiplex-${i}`)).toHaveLength(1);
    });

    it('streams a 5 MiB response and a 5 MiB upload whole', async () => {
      const size = 5 * 1024 * 1024;
      const download = await get(`/_/bytes?id=h2-download&n=${size}`);
      expect(download.body.length).toBe(size);
      const upload = Buffer.alloc(size, 'xyz');
      const answer = await exchange(
        session,
        { ':method': 'POST', ':path': '/_/upload?id=h2-upload', 'content-type': 'application/octet-stream' },
        upload,
      );
      expect(JSON.parse(answer.body.toString())).toEqual({
        bytes: size,
        sha256: createHash('sha256').update(upload).digest('hex'),
      });
    });

    it('aborts the app’s request when the client cancels its stream, and logs 499', async () => {
      const stream = session.request({ ':method': 'GET', ':path': '/_/abort-watch?id=h2-cancel&mode=headers' });
      await once(stream, 'response');
      stream.close(http2.constants.NGHTTP2_CANCEL);
      await upstream.waitFor('h2-cancel', (r) => r.response === 'closed', 'the app’s response to be cut off');
      await sidecar.waitForLog(
        (entry) => entry.path === '/_/abort-watch?id=h2-cancel&mode=headers' && entry.status === 499,
        'the cancelled stream logged as 499',
      );
      // The connection carries on.
      expect((await get('/_/echo?id=h2-after-cancel')).status).toBe(200);
    });

    it('answers 502 on the stream when the app resets, and the connection carries on', async () => {
      const answer = await get('/_/reset?id=h2-reset');
      expect(answer.status).toBe(502);
      expect(answer.headers['x-request-id']).toBeTruthy();
      expect((await get('/_/echo?id=h2-after-reset')).status).toBe(200);
    });
  });
}
