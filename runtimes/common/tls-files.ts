/**
 * The TlsFiles capability (src/tls/certificate.ts) for all three runtimes: node:fs and node:crypto's
 * X509Certificate, which Node, Bun and Deno all implement (checkPrivateKey included).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { CertificateError } from '../../src/tls/certificate.ts';
import type { CertificatePair, CertificateFacts, TlsFiles } from '../../src/tls/certificate.ts';

/** PEM blocks of one kind, in order (the cert file holds the leaf first, then its chain). */
const pemBlocks = (text: string, label: RegExp) =>
  [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)]
    .filter((m) => label.test(m[1] ?? ''))
    .map((m) => m[0]);

export function inspectPair({ cert, key }: CertificatePair): CertificateFacts {
  const [leafPem] = pemBlocks(cert, /^CERTIFICATE$/);
  if (leafPem === undefined) throw new CertificateError('cert', 'no PEM certificate in the file');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafPem);
  } catch (error) {
    throw new CertificateError('cert', `not a valid certificate: ${(error as Error).message}`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new CertificateError('key', `not a valid private key: ${(error as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey))
    throw new CertificateError('key', 'the key does not match the certificate in TLS_CERT_FILE');
  return { notAfter: new Date(leaf.validTo), subject: leaf.subject, serialNumber: leaf.serialNumber };
}

export const tlsFiles: TlsFiles = {
  read: (path) => readFile(path, 'utf8'),
  inspect: inspectPair,
  watch(directory, onChange) {
    const watcher = watch(directory, { persistent: false }, () => onChange());
    // A directory that goes away (unmounted) ends the watch; the poll carries on.
    watcher.on('error', () => watcher.close());
    return watcher;
  },
};

/**
 * Mozilla's "intermediate" configuration, v6.0 (mozilla/ssl-config-generator,
 * src/static/guidelines/6.0.json): TLS 1.2 suites that are all ECDHE (forward secret) and AEAD.
 * TLS 1.3's suites are all both by design (RFC 8446 §1.2).
 */
export const tls12Ciphers = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
