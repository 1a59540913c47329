/**
 * How many connections a certificate rotation costs under load, on each runtime. Bun and Deno
 * rotate by a listener swap (runtimes/common/listener-swap.ts), and Linux resets connections still in
 * the old socket's accept queue when it closes (a SO_REUSEPORT fact: nginx commit 337afd5, LWN
 * 853637); Node changes the certificate in place and should lose none. Bounded: a few clients,
 * each with one connection at a time, a fixed number of requests after each swap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSTALL_TIMEOUT_MS, requireTool, systemTools } from '../support/system-tool.ts';
import { makePki, SecretVolume } from '../support/certificates.ts';
import type { TestPki } from '../support/certificates.ts';
import { startSidecar } from '../support/sidecar.ts';
import type { Runtime, Sidecar } from '../support/sidecar.ts';
import { startUpstream } from '../support/upstream.ts';
import type { Upstream } from '../support/upstream.ts';
import { handshake, httpsRequest } from './clients.ts';

const CLIENTS = 4;
const SWAPS = 3;
/** Requests each client completes after a swap was seen, before the next swap. */
const REQUESTS_AFTER_SWAP = 25;
/** A hard cap, whatever happens. */
const MAX_REQUESTS = 4000;

export function addSwapLoadTest(runtime: Runtime): void {
  describe(`certificate rotation under load on ${runtime}`, () => {
    let pki: TestPki;
    let work: string;
    let upstream: Upstream;
    let volume: SecretVolume;
    let sidecar: Sidecar;
    // The certificates are openssl's: installed when missing (as root), else one line naming it.
    beforeAll(() => requireTool(systemTools.openssl), INSTALL_TIMEOUT_MS);
    beforeAll(async () => {
      [pki, upstream] = await Promise.all([makePki(), startUpstream()]);
      work = mkdtempSync(join(tmpdir(), 'sidecar-tls-load-'));
      volume = new SecretVolume(work, 'load', pki.first);
      sidecar = await startSidecar(runtime, {
        TARGET: upstream.url,
        TLS_CERT_FILE: volume.certFile,
        TLS_KEY_FILE: volume.keyFile,
      });
    });
    afterAll(async () => {
      await sidecar?.stop();
      await upstream?.close();
      pki?.remove();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it(`resets at most one connection per client per swap (${CLIENTS} clients, ${SWAPS} swaps), and none on Node`, async () => {
      let running = true;
      let sent = 0;
      const done = new Array<number>(CLIENTS).fill(0);
      const failures: string[] = [];
      const serials = new Set<string>();
      const client = async (index: number) => {
        while (running && sent < MAX_REQUESTS) {
          sent++;
          try {
            // A new connection per request: each one is a handshake against whichever listener the kernel picks.
            const result = await httpsRequest(sidecar.port, `/_/echo?id=load-${index}`, { ca: pki.ca });
            if (result.status !== 200) failures.push(`status ${result.status}`);
            serials.add(result.serial);
          } catch (error) {
            failures.push((error as NodeJS.ErrnoException).code ?? (error as Error).message);
          }
          done[index] = (done[index] ?? 0) + 1;
        }
      };
      const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));
      const waitForEach = async (count: number) => {
        const targets = done.map((n) => n + count);
        while (running && done.some((n, i) => n < (targets[i] ?? 0)) && sent < MAX_REQUESTS)
          await new Promise((resolve) => setTimeout(resolve, 20));
      };
      try {
        await waitForEach(REQUESTS_AFTER_SWAP);
        for (let swap = 1; swap <= SWAPS; swap++) {
          const next = swap % 2 === 1 ? pki.second : pki.first;
          volume.update(next);
          const deadline = Date.now() + 10_000;
          while ((await handshake(sidecar.port, pki.ca).catch(() => undefined))?.serial !== next.serial) {
            if (Date.now() > deadline)
              throw new Error(`swap ${swap}: the new certificate was not served within the promised 10 s`);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          await waitForEach(REQUESTS_AFTER_SWAP);
        }
      } finally {
        running = false;
        await Promise.all(clients);
      }
      const total = done.reduce((a, b) => a + b, 0);
      console.log(
        `[${runtime}] certificate rotation under load: ${failures.length} failed of ${total} requests across ${SWAPS} swaps with ${CLIENTS} clients${failures.length ? ` (${[...new Set(failures)].join(', ')})` : ''}`,
      );
      expect(sent).toBeLessThan(MAX_REQUESTS);
      expect(serials).toEqual(new Set([pki.first.serial, pki.second.serial]));
      // Node's server (on Node, Bun and Deno) changes its certificate in place: nothing fails.
      if (!runtime.endsWith('-native')) expect(failures).toEqual([]);
      // Each client has one connection at a time, so a closing accept queue holds at most CLIENTS of them.
      else expect(failures.length).toBeLessThanOrEqual(CLIENTS * SWAPS);
      expect(sidecar.exited()).toBeUndefined();
    });
  });
}
