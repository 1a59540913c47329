/**
 * Holds docs/behaviour.md#configuration: TARGET may be `https:`. The app here serves TLS with a
 * certificate from a test CA (test/fixtures, valid until 2126), which each runtime is told to
 * trust the way its operators would: NODE_EXTRA_CA_CERTS for Node and Bun, DENO_CERT for Deno.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { send } from '../support/http-client.ts';
import { runtimes, startSidecar } from '../support/sidecar.ts';
import { WsClient, connectWs } from '../support/ws-client.ts';
import { knownDifferences } from './known-differences.ts';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);

describe.each(runtimes)('an https TARGET, on %s', (runtime) => {
  let app: https.Server;
  let port = 0;
  const sockets = new Set<TLSSocket>();
  const seen: { host: string | undefined; proto: string | undefined }[] = [];

  beforeAll(async () => {
    app = https.createServer(
      { cert: readFileSync(fixture('upstream-cert.pem')), key: readFileSync(fixture('upstream-key.pem')) },
      (req, res) => {
        seen.push({ host: req.headers.host, proto: req.headers['x-forwarded-proto'] as string | undefined });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('Hello over TLS');
      },
    );
    // The same app's WebSocket side (wss): echoes, and records the Host it was asked for.
    new WebSocketServer({ server: app }).on('connection', (ws, req) => {
      seen.push({ host: req.headers.host, proto: req.headers['x-forwarded-proto'] as string | undefined });
      ws.on('message', (data, binary) => ws.send(data, { binary }));
    });
    // Upgraded sockets are not closed by closeAllConnections().
    app.on(
      'secureConnection',
      (socket: TLSSocket) => (sockets.add(socket), socket.on('close', () => sockets.delete(socket))),
    );
    app.listen(0, '127.0.0.1');
    await once(app, 'listening');
    port = (app.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    app.closeAllConnections();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });

  it("forwards to the app over TLS, verifying TARGET's certificate (not the client Host's), with the client Host kept", async () => {
    const ca = fixture('ca-cert.pem').pathname;
    const sidecar = await startSidecar(runtime, {
      TARGET: `https://localhost:${port}`,
      NODE_EXTRA_CA_CERTS: ca,
      DENO_CERT: ca,
    });
    try {
      const response = await send(sidecar.url, '/tls', { headers: [['Host', 'shop.example.test']] });
      if (knownDifferences.privateCaTargetRefused.has(runtime)) {
        expect(response.status).toBe(502);
        return;
      }
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe('Hello over TLS');
      expect(seen.at(-1)).toEqual({ host: 'shop.example.test', proto: 'http' });
    } finally {
      await sidecar.stop();
    }
  });

  it('speaks HTTP/1.1 to an app that also offers h2 by ALPN (an h2 upstream is not promised)', async () => {
    const versions: string[] = [];
    const h2app = http2.createSecureServer(
      {
        cert: readFileSync(fixture('upstream-cert.pem')),
        key: readFileSync(fixture('upstream-key.pem')),
        allowHTTP1: true,
      },
      (req, res) => {
        versions.push(req.httpVersion);
        res.end('Hello');
      },
    );
    h2app.listen(0, '127.0.0.1');
    await once(h2app, 'listening');
    const ca = fixture('ca-cert.pem').pathname;
    const sidecar = await startSidecar(runtime, {
      TARGET: `https://localhost:${(h2app.address() as AddressInfo).port}`,
      NODE_EXTRA_CA_CERTS: ca,
      DENO_CERT: ca,
    });
    try {
      const response = await send(sidecar.url, '/h2-offered');
      if (knownDifferences.privateCaTargetRefused.has(runtime)) {
        expect(response.status).toBe(502);
        return;
      }
      expect(response.status).toBe(200);
      expect(versions).toEqual(['1.1']);
    } finally {
      await sidecar.stop();
      await new Promise<void>((resolve) => h2app.close(() => resolve()));
    }
  });

  it('tunnels a WebSocket to the app over TLS (wss), verifying its certificate, with the client Host kept', async () => {
    const ca = fixture('ca-cert.pem').pathname;
    const sidecar = await startSidecar(runtime, {
      TARGET: `https://localhost:${port}`,
      NODE_EXTRA_CA_CERTS: ca,
      DENO_CERT: ca,
    });
    try {
      const url = `${sidecar.url.replace(/^http/, 'ws')}/wss`;
      // (Deno.serve too: its relay's client to the app is the ws package, which does trust DENO_CERT.)
      if (knownDifferences.privateCaTunnelRefused.has(runtime)) {
        expect((await new WsClient(url, { headers: { Host: 'shop.example.test' } }).refused()).status).toBe(502);
        return;
      }
      const client = await connectWs(url, { headers: { Host: 'shop.example.test' } });
      client.ws.send('over tls');
      expect((await client.message(0)).data.toString()).toBe('over tls');
      expect(seen.at(-1)).toEqual({ host: 'shop.example.test', proto: 'http' });
      client.ws.close();
      await client.closed();
    } finally {
      await sidecar.stop();
    }
  });

  it('refuses a WebSocket to an app whose certificate it cannot verify: 502 upstream_tls', async () => {
    const before = seen.length;
    const sidecar = await startSidecar(runtime, { TARGET: `https://localhost:${port}` });
    try {
      const rid = `untrusted-ws-${runtime}`;
      const refusal = await new WsClient(`${sidecar.url.replace(/^http/, 'ws')}/wss`, {
        headers: { 'X-Request-Id': rid },
      }).refused();
      expect(refusal.status).toBe(502);
      expect(seen.length).toBe(before);
      expect((await sidecar.waitForLog((e) => e.request_id === rid, 'the refused handshake')).error).toBe(
        'upstream_tls',
      );
    } finally {
      await sidecar.stop();
    }
  });

  it('refuses an app whose certificate it cannot verify: 502, never the response', async () => {
    const before = seen.length;
    const sidecar = await startSidecar(runtime, { TARGET: `https://localhost:${port}` });
    try {
      const response = await send(sidecar.url, '/untrusted', { headers: [['X-Request-Id', `untrusted-${runtime}`]] });
      expect(response.status).toBe(502);
      expect(seen.length).toBe(before);
      const entry = await sidecar.waitForLog((e) => e.request_id === `untrusted-${runtime}`, 'the refused request');
      expect(entry.error).toBe('upstream_tls');
    } finally {
      await sidecar.stop();
    }
  });
});
