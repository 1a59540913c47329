/**
 * The conformance suite's proxying, logging and WebSocket checks once more with TLS on, on each
 * runtime (docs/behaviour.md#tls-termination: "the app still gets plain HTTP/1.1 ... nothing else
 * changes"), so that a regression only TLS shows is seen: the request forwarded byte for byte,
 * bodies streamed whole both ways, the access-log line's fields and byte counts, the sidecar's own
 * 502, and a wss:// tunnel carrying text, binary and the close code both ways.
 */
import { createHash, randomBytes } from 'node:crypto';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPki } from '../support/certificates.ts';
import type { Runtime, Sidecar } from '../support/sidecar.ts';
import { INSTALL_TIMEOUT_MS, requireTool, systemTools } from '../support/system-tool.ts';
import type { Upstream } from '../support/upstream.ts';
import { connectWs } from '../support/ws-client.ts';
import { httpsRequest } from './clients.ts';
import { startTlsRig } from './rig.ts';
import type { TlsRig } from './rig.ts';

const MiB = 1024 * 1024;

/** A body sent as it is made (chunked), and what came back. */
function streamedUpload(port: number, ca: string, path: string, chunks: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', servername: 'localhost', port, path, method: 'POST', ca, agent: false },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

export function addTlsProxyingTests(runtime: Runtime): void {
  describe(`proxying, logging and WebSocket over TLS on ${runtime}`, () => {
    let rig: TlsRig | undefined;
    let pki: TestPki;
    let upstream: Upstream;
    let sidecar: Sidecar;
    const ids = { n: 0, next: (label: string) => `tls-${label}-${runtime}-${++ids.n}` };

    beforeAll(() => requireTool(systemTools.openssl), INSTALL_TIMEOUT_MS);
    beforeAll(async () => {
      rig = await startTlsRig(runtime, 'tls-proxying', { LOG_FORMAT: 'json' });
      ({ pki, upstream, sidecar } = rig);
    });
    afterAll(() => rig?.close());

    it('forwards the method, the request-target byte for byte and the headers, adding the forwarding ones', async () => {
      const id = ids.next('forward');
      const target = `/_/echo?id=${id}&q=a%20b&empty=&x=1`;
      const res = await httpsRequest(sidecar.port, target, {
        ca: pki.ca,
        method: 'PUT',
        headers: { 'x-request-id': id, 'x-custom': 'kept as sent', cookie: 'a=1; b=2', 'content-type': 'text/plain' },
        body: 'hello over tls',
      });
      expect(res.status).toBe(200);
      expect(res.headers['x-request-id']).toBe(id);
      const [received] = upstream.byId(id);
      expect(received?.method).toBe('PUT');
      expect(received?.url).toBe(target);
      expect(received?.httpVersion).toBe('1.1');
      expect(received?.bodyBytes).toBe('hello over tls'.length);
      expect(received?.headers).toMatchObject({
        'x-custom': 'kept as sent',
        cookie: 'a=1; b=2',
        'content-type': 'text/plain',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': `localhost:${sidecar.port}`,
        'x-forwarded-for': '127.0.0.1',
        host: `localhost:${sidecar.port}`,
      });
      expect(received?.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    });

    it('streams a body whole both ways: 8 MiB down with its length, 8 MiB up chunked, same bytes', async () => {
      const down = await httpsRequest(sidecar.port, `/_/bytes?n=${8 * MiB}`, { ca: pki.ca });
      expect(down.status).toBe(200);
      expect(Number(down.headers['content-length'])).toBe(8 * MiB);
      expect(down.body.length).toBe(8 * MiB);
      const chunks = Array.from({ length: 32 }, () => randomBytes(MiB / 4));
      const sha256 = createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
      const up = JSON.parse(await streamedUpload(sidecar.port, pki.ca, '/_/upload', chunks)) as object;
      expect(up).toEqual({ bytes: 8 * MiB, sha256 });
    });

    it('logs the exchange as over plain HTTP: its fields, and the bytes each way', async () => {
      const id = ids.next('logged');
      const res = await httpsRequest(sidecar.port, `/_/echo?id=${id}`, {
        ca: pki.ca,
        method: 'POST',
        headers: { 'x-request-id': id, 'user-agent': 'tls-conformance' },
        body: 'x'.repeat(1000),
      });
      const line = await sidecar.waitForLog((e) => e.request_id === id, 'the HTTPS request logged');
      expect(line).toMatchObject({
        method: 'POST',
        path: `/_/echo?id=${id}`,
        status: 200,
        bytes_in: 1000,
        bytes_out: Buffer.byteLength(res.body),
        user_agent: 'tls-conformance',
      });
      expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(line.span_id).toMatch(/^[0-9a-f]{16}$/);
    });

    it('answers 502 itself when the app resets, logged with the bytes of its body', async () => {
      const id = ids.next('reset');
      const res = await httpsRequest(sidecar.port, '/_/reset', { ca: pki.ca, headers: { 'x-request-id': id } });
      expect(res.status).toBe(502);
      expect(res.headers['x-request-id']).toBe(id);
      const line = await sidecar.waitForLog((e) => e.request_id === id, 'the 502 logged');
      expect([line.status, line.error, line.bytes_out]).toEqual([502, 'upstream_reset', Buffer.byteLength(res.body)]);
    });

    it('tunnels wss:// as ws://: text and a 1 MiB binary message both ways unchanged, the close code passed on', async () => {
      const id = ids.next('wss');
      const client = await connectWs(`wss://localhost:${sidecar.port}/ws/echo?id=${id}`, { ca: pki.ca });
      const app = await upstream.waitForTunnel(id, (a) => a.ws !== undefined, 'the app side to open');
      const binary = randomBytes(MiB);
      client.ws.send('text over tls');
      client.ws.send(binary);
      await client.waitFor(() => (client.messages.length === 2 ? true : undefined), 'both echoes');
      expect(client.messages.map((m) => [m.binary, m.data.length])).toEqual([
        [false, 'text over tls'.length],
        [true, MiB],
      ]);
      expect(client.messages[0]?.data.toString()).toBe('text over tls');
      expect(client.messages[1]?.data.equals(binary)).toBe(true);
      expect(app.messages.map((m) => m.binary)).toEqual([false, true]);
      client.ws.close(4001, 'done here');
      const seen = await upstream.waitForTunnel(id, (a) => a.close !== undefined, 'the app to see the close');
      expect(seen.close).toEqual({ code: 4001, reason: 'done here' });
      expect((await client.waitFor(() => client.close, 'the close back')).code).toBe(4001);
    });
  });
}
