/**
 * What the TLS test files start alike: a test CA and pair made by openssl, an upstream app, the
 * pair mounted as a kubelet-style Secret volume, and a sidecar on `runtime` serving HTTPS with it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki, SecretVolume } from '../support/certificates.ts';
import type { TestPki } from '../support/certificates.ts';
import { startSidecar } from '../support/sidecar.ts';
import type { Runtime, Sidecar } from '../support/sidecar.ts';
import { startUpstream } from '../support/upstream.ts';
import type { Upstream } from '../support/upstream.ts';

export interface TlsRig {
  pki: TestPki;
  upstream: Upstream;
  volume: SecretVolume;
  sidecar: Sidecar;
  /** Stops the sidecar and the app, removes the certificates and the volume. */
  close(): Promise<void>;
}

/** Call after `requireTool(systemTools.openssl)` (its own beforeAll: an install outlasts this hook). */
export async function startTlsRig(runtime: Runtime, name: string, env: Record<string, string> = {}): Promise<TlsRig> {
  const [pki, upstream] = await Promise.all([makePki(), startUpstream()]);
  const work = mkdtempSync(join(tmpdir(), `sidecar-${name}-`));
  const volume = new SecretVolume(work, name, pki.first);
  const close = async () => {
    await sidecar?.stop();
    await upstream.close();
    pki.remove();
    rmSync(work, { recursive: true, force: true });
  };
  let sidecar: Sidecar | undefined;
  try {
    sidecar = await startSidecar(runtime, {
      TARGET: upstream.url,
      TLS_CERT_FILE: volume.certFile,
      TLS_KEY_FILE: volume.keyFile,
      ...env,
    });
  } catch (error) {
    await close();
    throw error;
  }
  return { pki, upstream, volume, sidecar, close };
}
