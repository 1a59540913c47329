/**
 * Test certificates, made at test time with the `openssl` CLI (nothing checked in expires): a CA,
 * two server certificates for localhost/127.0.0.1 with known serials, an expired one, and a key
 * that matches none of them. And a directory laid out as kubelet lays out a mounted Secret, with
 * its atomic `..data` swap (kubernetes/kubernetes pkg/volume/util/atomic_writer.go).
 */
import { execFile } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireTool, systemTools } from './system-tool.ts';

const run = promisify(execFile);

export interface Pair {
  cert: string;
  key: string;
  /** As Node's getPeerCertificate() spells it: upper-case hex. */
  serial: string;
  notAfter: Date;
}

export interface TestPki {
  dir: string;
  ca: string;
  caFile: string;
  first: Pair;
  second: Pair;
  expired: Pair;
  /** A valid key that belongs to no certificate here. */
  strayKey: string;
  remove(): void;
}

/**
 * The openssl CLI: a suite that makes certificates calls `requireTool(systemTools.openssl)` in a
 * beforeAll of its own (an install outlasts makePki's hook); this one finds it, or names its package.
 */
async function openssl(cwd: string, ...args: string[]): Promise<string> {
  const binary = await requireTool(systemTools.openssl);
  return (await run(binary, args, { cwd, timeout: 30_000 })).stdout;
}

async function serverPair(cwd: string, name: string, serial: string, days: number): Promise<Pair> {
  await openssl(
    cwd,
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    '/CN=localhost',
  );
  writeFileSync(join(cwd, `${name}.ext`), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  // -days -1 puts notAfter a day in the past: the expired certificate.
  await openssl(
    cwd,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-set_serial',
    `0x${serial}`,
    '-days',
    String(days),
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.crt`,
  );
  const enddate = (await openssl(cwd, 'x509', '-in', `${name}.crt`, '-noout', '-enddate'))
    .trim()
    .replace(/^notAfter=/, '');
  return {
    cert: readFileSync(join(cwd, `${name}.crt`), 'utf8'),
    key: readFileSync(join(cwd, `${name}.key`), 'utf8'),
    serial,
    notAfter: new Date(enddate),
  };
}

export async function makePki(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-pki-'));
  await openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '30',
    '-subj',
    '/CN=sidecar test CA',
  );
  const [first, second, expired] = await Promise.all([
    serverPair(dir, 'first', '1001', 30),
    serverPair(dir, 'second', '1002', 60),
    serverPair(dir, 'expired', '1003', -1),
  ]);
  await openssl(dir, 'genrsa', '-out', 'stray.key', '2048');
  return {
    dir,
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    caFile: join(dir, 'ca.crt'),
    first,
    second,
    expired,
    strayKey: readFileSync(join(dir, 'stray.key'), 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A Secret volume as kubelet writes it: `tls.crt -> ..data/tls.crt`, `..data -> ..<timestamp>`;
 * an update writes a new timestamped directory, points `..data_tmp` at it, renames that over
 * `..data` (the one atomic step), then removes the old directory.
 */
export class SecretVolume {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  #generation = 0;

  constructor(parent: string, name: string, content: { cert: string; key: string }) {
    this.dir = join(parent, name);
    mkdirSync(this.dir);
    this.certFile = join(this.dir, 'tls.crt');
    this.keyFile = join(this.dir, 'tls.key');
    this.update(content);
    symlinkSync('..data/tls.crt', this.certFile);
    symlinkSync('..data/tls.key', this.keyFile);
  }

  update(content: { cert: string; key: string }): void {
    const stamp = `..2026_12_01_00_00_${String(++this.#generation).padStart(2, '0')}.${process.pid}`;
    mkdirSync(join(this.dir, stamp));
    writeFileSync(join(this.dir, stamp, 'tls.crt'), content.cert);
    writeFileSync(join(this.dir, stamp, 'tls.key'), content.key);
    const data = join(this.dir, '..data');
    let old: string | undefined;
    try {
      old = readlinkSync(data);
    } catch {
      // The first write: no ..data yet.
    }
    symlinkSync(stamp, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), data);
    if (old) rmSync(join(this.dir, old), { recursive: true, force: true });
  }
}
