// The stop sequence every runtime shares (src/lifecycle.ts stopOnSignal): drain, then the
// sidecar's own background work stops (access control's refreshes, the status page's sampler),
// then the runtime lets go of what it holds, then exit 0.
import { expect, it } from 'vitest';
import type { Authenticator } from '../../src/auth/authenticate.ts';
import { loadConfig } from '../../src/config.ts';
import { stopOnSignal } from '../../src/lifecycle.ts';
import { createSidecar } from '../../src/sidecar.ts';

it("on SIGTERM closes access control's background work after the drain and before the runtime's release, then exits 0", async () => {
  const steps: string[] = [];
  const auth: Authenticator = {
    authenticate: () => Promise.reject(new Error('no request is sent here')),
    forwardHeaders: () => {},
    ready: true,
    htpasswd: undefined,
    close: () => steps.push('access control closed'),
  };
  const sidecar = createSidecar(loadConfig({ TARGET: 'http://127.0.0.1:9' }), {
    upstream: () => Promise.reject(new Error('no request is sent here')),
    probe: () => Promise.resolve(true),
    remoteAddress: () => '127.0.0.1',
    stdout: () => {},
    say: () => {},
    auth,
  });
  const exitCode = new Promise<number>((exit) => {
    const stop = stopOnSignal({
      sidecar,
      timeoutMs: 1000,
      say: () => {},
      exit,
      stopListening: async () => void steps.push('listeners stopped'),
      forceClose: () => steps.push('forced'),
      release: () => void steps.push('runtime released'),
    });
    stop('SIGTERM');
  });

  expect(await exitCode).toBe(0);
  expect(steps).toEqual(['listeners stopped', 'access control closed', 'runtime released']);
});
