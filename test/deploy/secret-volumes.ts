/**
 * The overlays' Secrets as kubelet mounts them (test/deploy/pod-test.ts): the TLS overlay's, with
 * test/support/certificates.ts's certificates (openssl), and an HTTPS client that trusts their
 * CA; the auth overlay's, with a client secret, a cookie secret and an htpasswd file of one user.
 */
import { chmodSync, chownSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { hashSync } from 'bcryptjs';
import { work } from './podman-work.ts';
import { makePki } from '../support/certificates.ts';
import type { TestPki } from '../support/certificates.ts';

/**
 * A Secret volume folder as kubelet writes it, readable by the pod's uid 1000 only: each key a
 * link to `..data/KEY`, `..data` a link to a timestamped folder; an update writes a new folder
 * and renames a new `..data` link over the old one (the one atomic step).
 */
function kubeletSecret(dir: string): { dir: string; put(files: Record<string, string>): void } {
  mkdirSync(dir);
  let generation = 0;
  return {
    dir,
    put(files) {
      const stamp = `..2026_12_01_00_00_0${++generation}.1`;
      mkdirSync(join(dir, stamp));
      for (const [name, content] of Object.entries(files)) {
        writeFileSync(join(dir, stamp, name), content);
        chownSync(join(dir, stamp, name), 1000, 1000);
        chmodSync(join(dir, stamp, name), 0o400);
      }
      symlinkSync(stamp, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      if (generation === 1) for (const name of Object.keys(files)) symlinkSync(`..data/${name}`, join(dir, name));
    },
  };
}

/** The TLS overlay's `legacy-app-tls` Secret: a test CA and two certificates for localhost (serials 1001, 1002). */
export const secretVolume = (() => {
  const volume = kubeletSecret(join(work, 'tls-secret'));
  let pki: TestPki | undefined;
  const made = (): TestPki => {
    if (!pki) throw new Error('the certificates are not made yet (make())');
    return pki;
  };
  return {
    dir: volume.dir,
    ca: () => made().ca,
    async make(): Promise<void> {
      pki = await makePki();
    },
    put(name: 'first' | 'second'): void {
      const { cert, key } = made()[name];
      volume.put({ 'tls.crt': cert, 'tls.key': key });
    },
    remove: () => pki?.remove(),
  };
})();

/** An HTTPS GET to 127.0.0.1 as localhost, verified against the test CA; the serial the server showed. */
export function httpsGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown>; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        servername: 'localhost',
        headers: { host: 'localhost', ...headers },
        ca: secretVolume.ca(),
        agent: false,
        timeout: 5000,
      },
      (res) => {
        const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, serial }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** The auth overlay's `legacy-app-auth` Secret: what the overlay mounts, one user in its htpasswd. */
export const authSecretVolume = (() => {
  const volume = kubeletSecret(join(work, 'auth-secret'));
  const user = 'ci-robot';
  const password = `pod-test-${process.pid}`;
  return {
    dir: volume.dir,
    user,
    /** The `Authorization` header of that user. */
    basic: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    make(): void {
      volume.put({
        'client-secret': 'no IdP in the pod test',
        'cookie-secret': Buffer.from(`pod-test cookie secret of ${process.pid}, 32 bytes or more`).toString('base64'),
        htpasswd: `${user}:${hashSync(password, 8)}\n`,
      });
    },
  };
})();
