/**
 * The TLS rules of src/tls/certificate.ts, src/tls/watcher.ts and src/tls/https.ts in-process: the certificate watcher with fake
 * files (its checks driven by hand, so "once per pair, not per check" is exact), the redirect's
 * host handling. Over real sockets on every runtime: test/tls/.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRedirect, hostWithoutPort } from '../../../src/tls/https.ts';
import { CertificateWatcher } from '../../../src/tls/watcher.ts';
import { CertificateError, tlsMetrics } from '../../../src/tls/certificate.ts';
import type { CertificatePair, LoadedPair, TlsFiles } from '../../../src/tls/certificate.ts';

const facts = (serial: string) => ({
  notAfter: new Date(Date.UTC(2030, 0, Number(serial))),
  subject: 'CN=localhost',
  serialNumber: serial,
});

/** Files in memory: `cert-N` and `key-N` match when N is equal; `unreadable` cannot be read. */
class FakeFiles implements TlsFiles {
  contents = new Map<string, string>([
    ['/tls/tls.crt', 'cert-1'],
    ['/tls/tls.key', 'key-1'],
  ]);
  onChange: (() => void) | undefined;
  watchFails = false;
  async read(path: string): Promise<string> {
    const text = this.contents.get(path);
    if (text === undefined || text === 'unreadable') throw new Error(`ENOENT: no such file, open '${path}'`);
    return text;
  }
  inspect({ cert, key }: CertificatePair) {
    if (!cert.startsWith('cert-')) throw new CertificateError('cert', 'not a valid certificate');
    if (cert.slice(5) !== key.slice(4))
      throw new CertificateError('key', 'the key does not match the certificate in TLS_CERT_FILE');
    return facts(cert.slice(5));
  }
  watch(_directory: string, onChange: () => void) {
    if (this.watchFails) throw new Error('EACCES');
    this.onChange = onChange;
    return { close: () => (this.onChange = undefined) };
  }
  set(cert: string, key: string) {
    this.contents.set('/tls/tls.crt', cert);
    this.contents.set('/tls/tls.key', key);
  }
}

const watchers: CertificateWatcher[] = [];
afterEach(() => watchers.splice(0).forEach((w) => w.close()));

function setup(apply: (pair: LoadedPair) => void = () => {}, pollMs = 60_000) {
  const files = new FakeFiles();
  const lines: string[] = [];
  const applied: string[] = [];
  const watcher = new CertificateWatcher({
    paths: { TLS_CERT_FILE: '/tls/tls.crt', TLS_KEY_FILE: '/tls/tls.key' },
    files,
    initial: { cert: 'cert-1', key: 'key-1', facts: facts('1') },
    apply: (pair) => {
      apply(pair);
      applied.push(pair.facts.serialNumber);
    },
    say: (line) => lines.push(line),
    pollMs,
  });
  watchers.push(watcher);
  return { files, lines, applied, watcher };
}

describe('CertificateWatcher', () => {
  it('puts a new good pair into service, and the metrics follow it', async () => {
    const { files, lines, applied, watcher } = setup();
    files.set('cert-2', 'key-2');
    await watcher.check();
    expect(applied).toEqual(['2']);
    expect(watcher.current.facts.serialNumber).toBe('2');
    expect(lines).toEqual([
      expect.stringMatching(/^sidecar: TLS certificate reloaded: CN=localhost \(serial 2, expires 2030-01-02/),
    ]);
    const [expiry, errors] = tlsMetrics(watcher);
    expect(expiry?.read()).toBe(Date.UTC(2030, 0, 2) / 1000);
    expect(errors?.read()).toBe(0);
  });

  it('reports a failing pair once, however often the files are checked, and counts it once', async () => {
    const { files, lines, applied, watcher } = setup();
    files.set('cert-2', 'key-1');
    for (let i = 0; i < 5; i++) await watcher.check();
    expect(applied).toEqual([]);
    expect(watcher.current.facts.serialNumber).toBe('1');
    expect(watcher.reloadErrors).toBe(1);
    expect(lines).toEqual([
      'sidecar: TLS certificate reload failed, still serving CN=localhost (serial 1, expires 2030-01-01T00:00:00.000Z): TLS_KEY_FILE: the key does not match the certificate in TLS_CERT_FILE',
    ]);
    // The second half of the write arrives: the pair is whole and goes into service.
    files.set('cert-2', 'key-2');
    await watcher.check();
    expect(applied).toEqual(['2']);
    expect(watcher.reloadErrors).toBe(1);
  });

  it('counts each different failing pair, an unreadable file included, and a failure to apply', async () => {
    const { files, lines, watcher } = setup((pair) => {
      if (pair.facts.serialNumber === '3') throw new Error('the runtime refused the pair');
    });
    files.set('garbage', 'key-1');
    await watcher.check();
    files.set('unreadable', 'key-1');
    await watcher.check();
    await watcher.check();
    files.set('cert-3', 'key-3');
    await watcher.check();
    await watcher.check();
    expect(watcher.reloadErrors).toBe(3);
    expect(lines.map((line) => line.replace(/^.*?still serving .*?Z\): /, ''))).toEqual([
      'TLS_CERT_FILE: not a valid certificate',
      "TLS_CERT_FILE: cannot read /tls/tls.crt: ENOENT: no such file, open '/tls/tls.crt'",
      'the runtime refused the pair',
    ]);
    expect(watcher.current.facts.serialNumber).toBe('1');
  });

  it('does nothing when the files go back to the serving pair', async () => {
    const { files, lines, applied, watcher } = setup();
    files.set('cert-2', 'key-1');
    await watcher.check();
    files.set('cert-1', 'key-1');
    await watcher.check();
    expect(applied).toEqual([]);
    expect(lines).toHaveLength(1);
  });

  it('checks after a burst of directory events settles', async () => {
    const { files, applied } = setup();
    files.set('cert-2', 'key-2');
    for (let i = 0; i < 3; i++) files.onChange?.();
    const deadline = Date.now() + 5000;
    while (applied.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(applied).toEqual(['2']);
  });

  it('finds a change by polling the contents when no watch event comes', async () => {
    const { files, applied } = setup(undefined, 20);
    files.set('cert-2', 'key-2');
    const deadline = Date.now() + 5000;
    while (applied.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(applied).toEqual(['2']);
  });

  it('says once that it polls only when the directory cannot be watched', () => {
    const files = new FakeFiles();
    files.watchFails = true;
    const lines: string[] = [];
    watchers.push(
      new CertificateWatcher({
        paths: { TLS_CERT_FILE: '/tls/tls.crt', TLS_KEY_FILE: '/tls/tls.key' },
        files,
        initial: { cert: 'cert-1', key: 'key-1', facts: facts('1') },
        apply: () => {},
        say: (l) => lines.push(l),
      }),
    );
    expect(lines).toEqual(['sidecar: cannot watch /tls (EACCES); checking the certificate files every 2 s only']);
  });
});

describe('the redirect to https', () => {
  it.each([
    ['shop.example:8080', 'shop.example'],
    ['shop.example', 'shop.example'],
    ['[::1]:8080', '[::1]'],
    ['10.0.0.1:80', '10.0.0.1'],
  ])('takes the host name of %s without its port: %s', (host, name) => {
    expect(hostWithoutPort(host)).toBe(name);
  });

  it.each([null, '', 'evil.example/path', 'user@evil.example', 'a b', '[::1'])('refuses Host %j', (host) => {
    expect(hostWithoutPort(host)).toBeUndefined();
  });

  it('answers 308 with the path and query, and 400 without a usable Host', async () => {
    const app = createRedirect();
    const moved = await app.fetch(
      new Request('http://shop.example:8080/a?b=1', {
        method: 'PUT',
        headers: { host: 'shop.example:8080' },
        body: 'x',
      }),
    );
    expect(moved.status).toBe(308);
    expect(moved.headers.get('location')).toBe('https://shop.example/a?b=1');
    expect((await app.fetch(new Request('http://x/', { headers: { host: 'evil/x' } }))).status).toBe(400);
  });
});
