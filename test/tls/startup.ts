/**
 * TLS at start-up, on each runtime: files that cannot serve stop the process before it listens
 * (exit 1, one stderr line naming the variable); an expired certificate is served with a warning.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTALL_TIMEOUT_MS, requireTool, systemTools } from '../support/system-tool.ts';
import { makePki } from '../support/certificates.ts';
import type { TestPki } from '../support/certificates.ts';
import { runUntilExit, startSidecar } from '../support/sidecar.ts';
import type { Runtime } from '../support/sidecar.ts';
import { startUpstream } from '../support/upstream.ts';
import type { Upstream } from '../support/upstream.ts';
import { handshake, refusal } from './clients.ts';
import { metric, ownLines } from './observe.ts';

export function addTlsStartupTests(runtime: Runtime): void {
  describe(`TLS start-up on ${runtime}`, () => {
    let pki: TestPki;
    let work: string;
    let upstream: Upstream;
    // The certificates are openssl's: installed when missing (as root), else one line naming it.
    beforeAll(() => requireTool(systemTools.openssl), INSTALL_TIMEOUT_MS);
    beforeAll(async () => {
      [pki, upstream] = await Promise.all([makePki(), startUpstream()]);
      work = mkdtempSync(join(tmpdir(), 'sidecar-tls-start-'));
    });
    afterAll(async () => {
      await upstream?.close();
      pki?.remove();
      if (work) rmSync(work, { recursive: true, force: true });
    });
    const file = (name: string, content: string) => {
      const path = join(work, name);
      writeFileSync(path, content);
      return path;
    };

    it.each([
      [
        'a missing certificate file',
        'TLS_CERT_FILE',
        () => ({ TLS_CERT_FILE: join(work, 'absent.crt'), TLS_KEY_FILE: file('k1.key', pki.first.key) }),
      ],
      [
        'a missing key file',
        'TLS_KEY_FILE',
        () => ({ TLS_CERT_FILE: file('c2.crt', pki.first.cert), TLS_KEY_FILE: join(work, 'absent.key') }),
      ],
      [
        'a key that does not match',
        'TLS_KEY_FILE',
        () => ({ TLS_CERT_FILE: file('c3.crt', pki.first.cert), TLS_KEY_FILE: file('k3.key', pki.strayKey) }),
      ],
      [
        'a certificate file that holds no certificate',
        'TLS_CERT_FILE',
        () => ({ TLS_CERT_FILE: file('c4.crt', 'not a certificate\n'), TLS_KEY_FILE: file('k4.key', pki.first.key) }),
      ],
      ['only one of the two variables', 'TLS_KEY_FILE', () => ({ TLS_CERT_FILE: file('c5.crt', pki.first.cert) })],
    ])('exits 1 before listening on %s, with one stderr line naming %s', async (_, variable, env) => {
      const exit = await runUntilExit(runtime, { TARGET: upstream.url, ...env() });
      expect(exit.code).toBe(1);
      const lines = ownLines(exit.stderr);
      expect(lines, exit.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^sidecar: invalid configuration: ${variable}: `));
    });

    it('serves an expired certificate, with one warning line and the past notAfter in the metric', async () => {
      const sidecar = await startSidecar(runtime, {
        TARGET: upstream.url,
        TLS_CERT_FILE: file('expired.crt', pki.expired.cert),
        TLS_KEY_FILE: file('expired.key', pki.expired.key),
      });
      try {
        expect(
          ownLines(sidecar.stderr()).filter((line) => /warning: the TLS certificate expired at/.test(line)),
        ).toHaveLength(1);
        expect(await metric(sidecar, 'sidecar_tls_certificate_expiry_timestamp_seconds')).toBe(
          pki.expired.notAfter.getTime() / 1000,
        );
        expect(pki.expired.notAfter.getTime()).toBeLessThan(Date.now());
        // Served: the handshake completes and the client's own check is what refuses it.
        expect(await refusal(sidecar.port, pki.ca, {})).toBe('CERT_HAS_EXPIRED');
        expect((await handshake(sidecar.port, pki.ca, { rejectUnauthorized: false })).serial).toBe(pki.expired.serial);
      } finally {
        await sidecar.stop();
      }
    });
  });
}
