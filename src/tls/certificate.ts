/**
 * TLS termination's rules (docs/behaviour.md, TLS termination): the certificate pair and what it
 * must pass (both files readable, a certificate, a key that matches it), the start-up errors, the expiry
 * warning and the metrics. Reading and watching files and parsing certificates are the runtime's
 * (TlsFiles, from runtimes/); src/tls/watcher.ts keeps the serving pair current.
 */
import type { ProcessMetric } from '../metrics.ts';

export interface CertificatePair {
  cert: string;
  key: string;
}

export interface CertificateFacts {
  /** The leaf certificate's notAfter. */
  notAfter: Date;
  subject: string;
  serialNumber: string;
}

/** The runtime's file and certificate capabilities. */
export interface TlsFiles {
  /** The file's text; rejects when it cannot be read. */
  read(path: string): Promise<string>;
  /** Parses the pair; throws a CertificateError naming the file at fault (or the key, for a mismatch). */
  inspect(pair: CertificatePair): CertificateFacts;
  /** Calls onChange whenever an entry of the directory changes. */
  watch(directory: string, onChange: () => void): { close(): void };
}

/** Which file a pair fails on: `key` for a key that does not match the certificate. */
export class CertificateError extends Error {
  override name = 'CertificateError';
  readonly file: 'cert' | 'key';
  constructor(file: 'cert' | 'key', message: string) {
    super(message);
    this.file = file;
  }
}

export interface LoadedPair extends CertificatePair {
  facts: CertificateFacts;
}

export interface TlsFilePaths {
  TLS_CERT_FILE: string;
  TLS_KEY_FILE: string;
}

const variableOf = (file: 'cert' | 'key') => (file === 'cert' ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE');

/** Reads and checks both files. The error names the variable whose file is at fault, in one line. */
export async function loadPair(paths: TlsFilePaths, files: TlsFiles): Promise<LoadedPair> {
  const read = (file: 'cert' | 'key') => {
    const path = file === 'cert' ? paths.TLS_CERT_FILE : paths.TLS_KEY_FILE;
    return files.read(path).catch((error: unknown) => {
      throw new CertificateError(file, `cannot read ${path}: ${oneLine(error)}`);
    });
  };
  const [cert, key] = await Promise.all([read('cert'), read('key')]);
  try {
    return { cert, key, facts: files.inspect({ cert, key }) };
  } catch (error) {
    if (error instanceof CertificateError) throw error;
    throw new CertificateError('cert', oneLine(error));
  }
}

export function describePairError(error: unknown): string {
  return error instanceof CertificateError ? `${variableOf(error.file)}: ${error.message}` : oneLine(error);
}

export function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
}

export function describe(facts: CertificateFacts): string {
  return `${facts.subject.replace(/\n/g, ', ')} (serial ${facts.serialNumber}, expires ${facts.notAfter.toISOString()})`;
}

/**
 * An expired certificate is served all the same, as nginx does: an expired Secret must not take
 * the pod down, and clients decide what to do with it. One warning line says so.
 */
export function warnIfExpired(facts: CertificateFacts, say: (message: string) => void, now = Date.now()): void {
  if (facts.notAfter.getTime() <= now)
    say(`sidecar: warning: the TLS certificate expired at ${facts.notAfter.toISOString()}; serving it anyway`);
}

/** The two TLS metrics, read from the watcher at scrape time. */
export function tlsMetrics(watcher: { current: LoadedPair; reloadErrors: number }): ProcessMetric[] {
  return [
    {
      name: 'sidecar_tls_certificate_expiry_timestamp_seconds',
      help: "The serving TLS certificate's notAfter, in seconds since the epoch.",
      type: 'gauge',
      read: () => watcher.current.facts.notAfter.getTime() / 1000,
    },
    {
      name: 'sidecar_tls_reload_errors_total',
      help: 'New TLS certificate pairs that did not load (unreadable, unparsable, key not matching); the old pair kept serving.',
      type: 'counter',
      read: () => watcher.reloadErrors,
    },
  ];
}

/**
 * Start-up: the pair, or the process ends before anything listens (exit 1, one stderr line naming
 * the variable, as for any bad configuration). An expired certificate only warns.
 */
export async function pairOrExit(
  paths: TlsFilePaths,
  files: TlsFiles,
  process: { say(message: string): void; exit(code: number): void },
): Promise<LoadedPair> {
  try {
    const pair = await loadPair(paths, files);
    process.say(`sidecar: serving HTTPS (TLS 1.2 and 1.3) with ${describe(pair.facts)}`);
    warnIfExpired(pair.facts, process.say);
    return pair;
  } catch (error) {
    process.say(`sidecar: invalid configuration: ${describePairError(error)}`);
    process.exit(1);
    throw error;
  }
}
