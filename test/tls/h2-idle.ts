/**
 * Idle and draining HTTP/2 connections, on each runtime: a session with no open stream for
 * CLIENT_IDLE_TIMEOUT_MS gets GOAWAY and closes, as an idle HTTP/1.1 keep-alive connection does; a
 * stream that is open but quiet (a response waiting on the app) is never cut for it. The test's
 * clock is the idle session's own GOAWAY: no sleeps. On SIGTERM, GOAWAY (HTTP/2's Connection:
 * close) and the stream in flight finishes.
 */
import { once } from 'node:events';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knownDifferences } from '../conformance/known-differences.ts';
import type { SecretVolume, TestPki } from '../support/certificates.ts';
import { startSidecar } from '../support/sidecar.ts';
import type { Runtime, Sidecar } from '../support/sidecar.ts';
import type { Upstream } from '../support/upstream.ts';
import { startTlsRig } from './rig.ts';
import type { TlsRig } from './rig.ts';
import { eventually, withTimeout } from '../support/wait.ts';

/** A client session and how it ended: the GOAWAY's code if one came, and whether it closed. */
function watched(session: http2.ClientHttp2Session) {
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
  const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
  session.on('error', () => undefined);
  let goawayCode: number | undefined;
  void goaway.then((code) => (goawayCode = code));
  return { session, goaway, closed, goawayCode: () => goawayCode };
}

export function addH2IdleTests(runtime: Runtime): void {
  describe(`idle HTTP/2 sessions on ${runtime}`, () => {
    let rig: TlsRig | undefined;
    let pki: TestPki;
    let upstream: Upstream;
    let sidecar: Sidecar;
    let volume: SecretVolume;
    const connect = async () => {
      const session = http2.connect(`https://localhost:${sidecar.port}`, {
        ca: pki.ca,
        host: '127.0.0.1',
      } as http2.SecureClientSessionOptions);
      await once(session, 'connect');
      return watched(session);
    };

    beforeAll(async () => {
      rig = await startTlsRig(runtime, 'h2-idle', { CLIENT_IDLE_TIMEOUT_MS: '1000' });
      ({ pki, upstream, volume, sidecar } = rig);
    });
    afterAll(() => rig?.close());

    it('closes a session with no open stream after CLIENT_IDLE_TIMEOUT_MS (GOAWAY), never one whose stream waits on the app', async () => {
      // Busy: a response whose headers and first chunk came, the rest waiting on the app.
      const busy = await connect();
      const stream = busy.session.request({ ':path': '/_/abort-watch?id=h2-idle-busy&mode=headers' });
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      const ended = new Promise<void>((resolve) => stream.once('end', () => resolve()));
      const streamError = new Promise<unknown>((resolve) => stream.once('error', resolve));
      await once(stream, 'response');
      // Idle: one exchange, then nothing. Its GOAWAY comes after CLIENT_IDLE_TIMEOUT_MS of idleness,
      // so by then the busy stream has been quiet at least that long too.
      const idle = await connect();
      const answer = idle.session.request({ ':path': '/_/echo?id=h2-idle-once' });
      answer.resume();
      await once(answer, 'end');

      if (knownDifferences.idleH2SessionsUnbounded.has(runtime)) {
        // Nothing bounds it: the session is still usable however long it waited (asserted after
        // the busy stream's quiet second below, which the idle one shared).
      } else {
        expect(await withTimeout(idle.goaway, 'GOAWAY on the idle session', 10_000)).toBe(
          http2.constants.NGHTTP2_NO_ERROR,
        );
        await withTimeout(idle.closed, 'the idle session to close');
      }

      if (knownDifferences.silentResponseCutAtIdleTimeout.has(runtime)) {
        // Bun's idleTimeout counts silence on the connection, the quiet stream's included.
        const outcome = await withTimeout(
          Promise.race([busy.closed.then(() => 'closed'), streamError.then(() => 'stream error')]),
          'the quiet stream to be cut',
        );
        expect(outcome).toMatch(/closed|stream error/);
        return;
      }
      // The quiet stream, idle as long as the other session, is open and still carries its answer.
      expect(busy.goawayCode()).toBeUndefined();
      expect(busy.session.closed).toBe(false);
      upstream.release('h2-idle-busy');
      await withTimeout(ended, 'the rest of the quiet stream');
      expect(Buffer.concat(chunks).toString()).toBe('started\nreleased\n');
      if (knownDifferences.idleH2SessionsUnbounded.has(runtime)) {
        // Still open after a quiet second longer than CLIENT_IDLE_TIMEOUT_MS.
        expect(idle.goawayCode()).toBeUndefined();
        const again = idle.session.request({ ':path': '/_/echo?id=h2-idle-again' });
        again.resume();
        await withTimeout(once(again, 'end'), 'an answer on the session left open');
        idle.session.close();
        busy.session.close();
        return;
      }
      // Now the busy session has no open stream: it goes the same way.
      expect(await withTimeout(busy.goaway, 'GOAWAY on the session once its stream ended', 10_000)).toBe(
        http2.constants.NGHTTP2_NO_ERROR,
      );
      await withTimeout(busy.closed, 'the formerly busy session to close');
    });

    it('on SIGTERM sends GOAWAY to a session with a stream in flight, lets that stream finish, and exits long before DRAIN_TIMEOUT_MS', async () => {
      const draining = await startSidecar(runtime, {
        TARGET: upstream.url,
        TLS_CERT_FILE: volume.certFile,
        TLS_KEY_FILE: volume.keyFile,
        DRAIN_TIMEOUT_MS: '20000',
      });
      try {
        const session = http2.connect(`https://localhost:${draining.port}`, {
          ca: pki.ca,
          host: '127.0.0.1',
        } as http2.SecureClientSessionOptions);
        await once(session, 'connect');
        const client = watched(session);
        // Held at the app until released: its answer is made during the drain.
        const stream = session.request({ ':path': '/_/abort-watch?id=h2-drain&mode=none' });
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        const ended = new Promise<string>((resolve) => {
          stream.once('end', () => resolve('ended'));
          stream.once('close', () => resolve(`closed (RST_STREAM ${stream.rstCode})`));
        });
        await upstream.waitFor('h2-drain', () => true, 'the request at the app');
        draining.signal('SIGTERM');
        expect(await withTimeout(client.goaway, 'GOAWAY once the drain begins')).toBe(http2.constants.NGHTTP2_NO_ERROR);
        upstream.release('h2-drain');
        const outcome = await withTimeout(ended, 'the stream in flight to end');
        expect(outcome).toBe('ended');
        expect(Buffer.concat(chunks).toString()).toBe('released\n');
        const exit = await eventually(
          async () => draining.exited(),
          (e) => e !== undefined,
          'the exit once the stream ended',
          30_000,
        );
        expect(exit?.code).toBe(0);
        expect(draining.stderr()).not.toMatch(/drain timeout reached/);
      } finally {
        await draining.stop();
      }
    });
  });
}
