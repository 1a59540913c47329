/**
 * Holds docs/behaviour.md#tls-termination, on each runtime over real sockets: HTTPS verified
 * against a test CA made by openssl, protocol versions and suites as testssl.sh would probe them,
 * ALPN and HTTP/2 to an HTTP/1.1 app, HSTS, the redirect listener, rotation through a
 * kubelet-style `..data` swap, good pairs and bad, and the drain. Start-up: startup.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knownDifferences } from '../conformance/known-differences.ts';
import { rawExchange, rawExchangeUntilClose, rawRequest } from '../support/http-client.ts';
import { startSidecar } from '../support/sidecar.ts';
import type { Runtime, Sidecar } from '../support/sidecar.ts';
import { INSTALL_TIMEOUT_MS, requireTool, systemTools } from '../support/system-tool.ts';
import { makePki, SecretVolume } from '../support/certificates.ts';
import type { TestPki } from '../support/certificates.ts';
import { startUpstream } from '../support/upstream.ts';
import { connectWs } from '../support/ws-client.ts';
import type { Upstream } from '../support/upstream.ts';
import {
  h2Request,
  handshake,
  httpsRequest,
  oldProtocol,
  openSlow,
  refusal,
  tls12Suite,
  tlsExchange,
} from './clients.ts';
import { eventually, metric, ownLines } from './observe.ts';

/**
 * docs/behaviour.md#tls-termination: new connections get a new pair within 10 s of the change (the
 * watch makes it sooner).
 */
const WITHIN_PROMISE = 10_000;

export function addTlsTests(runtime: Runtime): void {
  describe(`TLS termination on ${runtime}`, () => {
    let pki: TestPki;
    let work: string;
    let upstream: Upstream;
    let volume: SecretVolume;
    let sidecar: Sidecar;
    let redirectPort: number;

    // The certificates are openssl's: installed when missing (as root), else one line naming it.
    beforeAll(() => requireTool(systemTools.openssl), INSTALL_TIMEOUT_MS);
    beforeAll(async () => {
      [pki, upstream] = await Promise.all([makePki(), startUpstream()]);
      work = mkdtempSync(join(tmpdir(), 'sidecar-tls-'));
      volume = new SecretVolume(work, 'main', pki.first);
      sidecar = await startSidecar(runtime, {
        TARGET: upstream.url,
        TLS_CERT_FILE: volume.certFile,
        TLS_KEY_FILE: volume.keyFile,
        HSTS_MAX_AGE: '600',
        HTTP_REDIRECT_PORT: '0',
      });
      redirectPort = Number(/redirecting plain HTTP on \S+:(\d+) to https/.exec(sidecar.stderr())?.[1]);
    });
    afterAll(async () => {
      await sidecar?.stop();
      await upstream?.close();
      pki?.remove();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('serves HTTPS on PORT with a certificate that verifies against the CA, and the app sees X-Forwarded-Proto https', async () => {
      const result = await httpsRequest(sidecar.port, '/_/echo?id=tls-basic', { ca: pki.ca });
      expect(result.status).toBe(200);
      expect(result.serial).toBe(pki.first.serial);
      const [received] = upstream.byId('tls-basic');
      expect(received?.headers['x-forwarded-proto']).toBe('https');
      expect(received?.headers.host).toBe(`localhost:${sidecar.port}`);
    });

    it('answers plain HTTP sent to the HTTPS port with 400 saying the port speaks HTTPS, closes, logs it, and the app sees nothing', async () => {
      const { response, closed } = await rawExchangeUntilClose(
        `http://127.0.0.1:${sidecar.port}`,
        rawRequest('GET /_/echo?id=tls-plain HTTP/1.1', [['Host', 'localhost']]),
      ).catch(() => ({ response: undefined, closed: true }));
      expect(upstream.byId('tls-plain')).toEqual([]);
      expect(closed).toBe(true);
      const unanswered = knownDifferences.plainHttpOnTlsPortUnanswered[runtime];
      if (unanswered === 'closed') return expect(response).toBeUndefined();
      // A TLS alert record (content type 21, RFC 8446 §6), not an HTTP answer.
      if (unanswered === 'tls alert') return expect(response?.raw[0]).toBe(0x15);
      expect(response?.status).toBe(400);
      expect(response?.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(response?.get('connection')).toBe('close');
      expect(response?.body.toString()).toMatch(/plain HTTP request was sent to the HTTPS port/);
      await sidecar.waitForLog(
        (e) => e.path === '/_/echo?id=tls-plain' && e.status === 400 && e.error === 'bad_request',
        'the refusal logged',
      );
      // The port still speaks HTTPS.
      expect((await httpsRequest(sidecar.port, '/_/echo?id=tls-after-plain', { ca: pki.ca })).status).toBe(200);
    });

    it('tunnels a wss:// WebSocket like ws://: the app gets the handshake with X-Forwarded-Proto https, messages pass both ways', async () => {
      const client = await connectWs(`wss://localhost:${sidecar.port}/ws/echo?id=tls-wss`, { ca: pki.ca });
      const app = await upstream.waitForTunnel('tls-wss', (a) => a.ws !== undefined, 'the app side to open');
      expect(app.headers['x-forwarded-proto']).toBe('https');
      expect(app.headers.host).toBe(`localhost:${sidecar.port}`);
      client.ws.send('over tls');
      const echoed = await client.waitFor(() => client.messages[0], 'the echo');
      expect(echoed.data.toString()).toBe('over tls');
      client.ws.close(1000, 'done');
      const closed = await client.waitFor(() => client.close, 'the close');
      expect(closed.code).toBe(1000);
    });

    it('refuses TLS 1.0 and 1.1 and accepts TLS 1.2 and 1.3', async () => {
      for (const version of ['TLSv1', 'TLSv1.1'] as const)
        expect(await refusal(sidecar.port, pki.ca, oldProtocol(version)), version).toBeDefined();
      expect((await handshake(sidecar.port, pki.ca, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })).protocol).toBe(
        'TLSv1.2',
      );
      expect((await handshake(sidecar.port, pki.ca, { minVersion: 'TLSv1.3' })).protocol).toBe('TLSv1.3');
    });

    it('refuses TLS 1.2 suites without forward secrecy or without AEAD, and negotiates the ECDHE AEAD ones', async () => {
      const refused = [
        'AES128-GCM-SHA256',
        'AES256-GCM-SHA384',
        'AES128-SHA',
        'AES256-SHA256',
        'ECDHE-RSA-AES128-SHA',
        'ECDHE-RSA-AES256-SHA384',
        'DHE-RSA-AES128-SHA',
        'DES-CBC3-SHA',
      ];
      for (const cipher of refused)
        expect(await refusal(sidecar.port, pki.ca, tls12Suite(cipher)), cipher).toBeDefined();
      for (const cipher of [
        'ECDHE-RSA-AES128-GCM-SHA256',
        'ECDHE-RSA-AES256-GCM-SHA384',
        'ECDHE-RSA-CHACHA20-POLY1305',
      ]) {
        expect((await handshake(sidecar.port, pki.ca, tls12Suite(cipher))).cipher, cipher).toMatch(
          /^TLS_ECDHE_RSA_WITH_.*(GCM|POLY1305)/,
        );
      }
      // TLS 1.3's suites are all AEAD with ephemeral key exchange (RFC 8446 §1.2).
      expect((await handshake(sidecar.port, pki.ca, { minVersion: 'TLSv1.3' })).cipher).toMatch(
        /^TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA(256|384)$/,
      );
    });

    const clientChooses = knownDifferences.tlsClientChoosesSuite.has(runtime);
    it(
      clientChooses
        ? 'lets the client choose among the TLS 1.2 suites (known difference: no server order)'
        : 'chooses the TLS 1.2 suite in its own order, whatever the client prefers',
      async () => {
        const chosen = await handshake(
          sidecar.port,
          pki.ca,
          tls12Suite('ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256'),
        );
        expect(chosen.cipher).toBe(
          clientChooses ? 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256' : 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
        );
      },
    );

    it('offers h2 and http/1.1 by ALPN', async () => {
      expect((await handshake(sidecar.port, pki.ca, { ALPNProtocols: ['h2', 'http/1.1'] })).alpn).toBe('h2');
      expect((await handshake(sidecar.port, pki.ca, { ALPNProtocols: ['http/1.1'] })).alpn).toBe('http/1.1');
    });

    it('forwards an HTTP/2 request to the app as HTTP/1.1, with Host from :authority and no pseudo-headers', async () => {
      const authority = `app.example:${sidecar.port}`;
      const get = await h2Request(sidecar.port, pki.ca, {
        ':method': 'GET',
        ':path': '/_/echo?id=tls-h2-get',
        ':authority': authority,
        'x-custom': 'kept',
      });
      expect(get.alpn).toBe('h2');
      expect(get.status).toBe(200);
      const [received] = upstream.byId('tls-h2-get');
      expect(received?.httpVersion).toBe('1.1');
      expect(received?.headers.host).toBe(authority);
      expect(received?.headers['x-forwarded-host']).toBe(authority);
      expect(received?.headers['x-forwarded-proto']).toBe('https');
      expect(received?.headers['x-custom']).toBe('kept');
      expect(received?.rawHeaders.filter((_, i) => i % 2 === 0).filter((name) => name.startsWith(':'))).toEqual([]);
      const post = await h2Request(
        sidecar.port,
        pki.ca,
        { ':method': 'POST', ':path': '/_/echo?id=tls-h2-post', ':authority': authority, 'content-type': 'text/plain' },
        'x'.repeat(100_000),
      );
      expect(post.status).toBe(200);
      expect(upstream.byId('tls-h2-post')[0]).toMatchObject({
        httpVersion: '1.1',
        bodyBytes: 100_000,
        state: 'complete',
      });
      // The response over h2 carries the sidecar's headers and no connection-specific ones (RFC 9113 §8.2.2).
      expect(post.headers['x-request-id']).toBeTruthy();
      expect(post.headers.connection).toBeUndefined();
    });

    const hostless = knownDifferences.tlsHttp11WithoutHostForwarded.has(runtime);
    it(
      hostless
        ? 'forwards an HTTP/1.1 request without Host with the authority the runtime made up (known difference)'
        : 'answers an HTTP/1.1 request without Host over TLS with 400',
      async () => {
        const answer = await tlsExchange(
          sidecar.port,
          pki.ca,
          'GET /_/echo?id=tls-no-host HTTP/1.1\r\nConnection: close\r\n\r\n',
        );
        if (hostless) {
          expect(answer).toMatch(/^HTTP\/1\.1 200 /);
          expect(upstream.byId('tls-no-host')[0]?.headers.host).toBe(`localhost:${sidecar.port}`);
        } else {
          expect(answer).toMatch(/^HTTP\/1\.1 400 /);
          expect(upstream.byId('tls-no-host')).toEqual([]);
        }
      },
    );

    it('adds Strict-Transport-Security to HTTPS responses, its own errors included, unless the app set one', async () => {
      expect(
        (await httpsRequest(sidecar.port, '/_/echo?id=tls-hsts', { ca: pki.ca })).headers['strict-transport-security'],
      ).toBe('max-age=600');
      expect(
        (await httpsRequest(sidecar.port, '/_/hsts?id=tls-hsts-app', { ca: pki.ca })).headers[
          'strict-transport-security'
        ],
      ).toBe('max-age=1; includeSubDomains');
      // Added to an answer the app sent without a Content-Type, without adding one.
      const untyped = await httpsRequest(sidecar.port, '/_/page?id=tls-hsts-untyped&type=none&n=10', { ca: pki.ca });
      expect(untyped.headers['strict-transport-security']).toBe('max-age=600');
      expect(untyped.headers['content-type']).toBe(
        knownDifferences.untypedBytesLabelledOctetStream.has(runtime) ? 'application/octet-stream' : undefined,
      );
      const reset = await httpsRequest(sidecar.port, '/_/reset?id=tls-hsts-502', { ca: pki.ca });
      expect(reset.status).toBe(502);
      expect(reset.headers['strict-transport-security']).toBe('max-age=600');
    });

    it('answers every request on HTTP_REDIRECT_PORT with 308 to https, the host without its port, the path and query', async () => {
      expect(redirectPort).toBeGreaterThan(0);
      const url = `http://127.0.0.1:${redirectPort}`;
      const cases: [string, string, string][] = [
        ['GET /a/b?x=1&y=%20z HTTP/1.1', 'shop.example:8080', 'https://shop.example/a/b?x=1&y=%20z'],
        ['POST /form HTTP/1.1', 'shop.example', 'https://shop.example/form'],
        ['GET / HTTP/1.1', '[::1]:80', 'https://[::1]/'],
      ];
      for (const [line, host, location] of cases) {
        const response = await rawExchange(
          url,
          rawRequest(line, [
            ['Host', host],
            ['Content-Length', '0'],
          ]),
        );
        expect(response?.status, line).toBe(308);
        expect(response?.get('location'), line).toBe(location);
      }
      expect(upstream.requests.filter((r) => r.url.startsWith('/a/b') || r.url === '/form')).toEqual([]);
    });

    it('reports the serving certificate’s notAfter and no reload errors', async () => {
      expect(await metric(sidecar, 'sidecar_tls_certificate_expiry_timestamp_seconds')).toBe(
        pki.first.notAfter.getTime() / 1000,
      );
      expect(await metric(sidecar, 'sidecar_tls_reload_errors_total')).toBe(0);
    });

    const closesIdle = knownDifferences.tlsRotationClosesIdleConnections.has(runtime);
    it(`rotates through a ..data swap: new connections get the new certificate, a request in flight finishes, an idle keep-alive connection ${closesIdle ? 'is closed between requests (known difference)' : 'keeps working'}`, async () => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const before = await httpsRequest(sidecar.port, '/_/echo?id=tls-keepalive-1', { ca: pki.ca, agent });
        expect(before.serial).toBe(pki.first.serial);
        const inFlight = await openSlow(sidecar.port, pki.ca, 'tls-in-flight');
        volume.update(pki.second);
        await eventually(
          () => handshake(sidecar.port, pki.ca),
          (h) => h.serial === pki.second.serial,
          'a new connection to get the second certificate',
          WITHIN_PROMISE,
        );
        upstream.release('tls-in-flight');
        expect(await inFlight.body).toBe('first chunk\nthe rest\n');
        expect(inFlight.serial).toBe(pki.first.serial);
        const after = await httpsRequest(sidecar.port, '/_/echo?id=tls-keepalive-2', { ca: pki.ca, agent });
        expect(after.status).toBe(200);
        expect(after.reusedSocket).toBe(!closesIdle);
        expect(after.serial).toBe(closesIdle ? pki.second.serial : pki.first.serial);
        expect(await metric(sidecar, 'sidecar_tls_certificate_expiry_timestamp_seconds')).toBe(
          pki.second.notAfter.getTime() / 1000,
        );
        expect(sidecar.stderr()).toMatch(/TLS certificate reloaded/);
      } finally {
        agent.destroy();
      }
    });

    it('keeps the old pair when a new one does not load (key not matching, half-written), with one stderr line and one count per pair', async () => {
      const failures = () =>
        ownLines(sidecar.stderr()).filter((line) => line.includes('TLS certificate reload failed'));
      const errors = (await metric(sidecar, 'sidecar_tls_reload_errors_total')) ?? 0;
      const serving = (await handshake(sidecar.port, pki.ca)).serial;
      volume.update({ cert: pki.first.cert, key: pki.strayKey });
      await eventually(
        () => metric(sidecar, 'sidecar_tls_reload_errors_total'),
        (n) => n === errors + 1,
        'the mismatched pair counted',
        WITHIN_PROMISE,
      );
      expect(failures().at(-1)).toMatch(/TLS_KEY_FILE: .*does not match/);
      expect((await handshake(sidecar.port, pki.ca)).serial).toBe(serving);
      volume.update({ cert: pki.first.cert.slice(0, pki.first.cert.length / 2), key: pki.first.key });
      await eventually(
        () => metric(sidecar, 'sidecar_tls_reload_errors_total'),
        (n) => n === errors + 2,
        'the half-written pair counted',
        WITHIN_PROMISE,
      );
      expect(failures().at(-1)).toMatch(/TLS_CERT_FILE: /);
      expect((await httpsRequest(sidecar.port, '/_/echo?id=tls-after-bad', { ca: pki.ca })).serial).toBe(serving);
      // A good pair afterwards is taken; the bad ones were each reported once, however often the files were checked.
      volume.update(pki.first);
      await eventually(
        () => handshake(sidecar.port, pki.ca),
        (h) => h.serial === pki.first.serial,
        'the good pair after the bad ones',
        WITHIN_PROMISE,
      );
      expect(failures()).toHaveLength(2);
      expect(await metric(sidecar, 'sidecar_tls_reload_errors_total')).toBe(errors + 2);
    });

    it('drains on SIGTERM: a request in flight over HTTPS finishes, then the process exits 0', async () => {
      const inFlight = await openSlow(sidecar.port, pki.ca, 'tls-drain');
      sidecar.signal('SIGTERM');
      await eventually(
        async () => sidecar.stderr(),
        (text) => /draining 1 in-flight/.test(text),
        'the drain to start',
      );
      upstream.release('tls-drain');
      expect(await inFlight.body).toBe('first chunk\nthe rest\n');
      expect(
        await eventually(
          async () => sidecar.exited(),
          (exit) => exit !== undefined,
          'the process to exit',
        ),
      ).toEqual({ code: 0, signal: null });
    });
  });
}
