/**
 * Holds docs/behaviour.md#configuration: a bad value stops the process before it listens, with
 * exit status 1 and one readable stderr line naming the variable; unknown variables are ignored.
 * And docs/behaviour.md#runtimes: the sidecar really runs on the runtime under test.
 */
import { describe, expect, it } from 'vitest';
import { send } from '../support/http-client.ts';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { listeningLine, repoRoot, runUntilExit } from '../support/sidecar.ts';
import type { Conformance } from './context.ts';

const badValues: [variable: string, value: string][] = [
  ['PORT', 'http'],
  ['PORT', '70000'],
  ['ADMIN_PORT', '-1'],
  ['TARGET', 'ftp://x'],
  ['TARGET', 'http://127.0.0.1:8080/?debug=1'],
  ['TARGET', 'http://127.0.0.1:8080/#fragment'],
  ['TARGET', 'not a url'],
  ['TARGET', 'localhost:8080'],
  ['LOG_FORMAT', 'xml'],
  ['UPSTREAM_TIMEOUT_MS', 'soon'],
  ['DRAIN_TIMEOUT_MS', '-5'],
];

export function configurationTests(t: Conformance): void {
  describe('start-up', () => {
    it(`runs on ${t.runtime} and says so in its listening line on stderr`, async () => {
      const s = await t.main();
      expect(s.listening).toMatch(listeningLine);
      // The bundle is Node too: its line names node; bun-native and deno-native name Bun and Deno.
      expect(s.listening).toMatch(new RegExp(`\\b${t.runtime.replace(/-(bundle|native)$/, '')}\\b`, 'i'));
    });

    it('starts with unknown variables in its environment, and answers GET /healthz with 200 on the admin port', async () => {
      const s = await t.main();
      expect(s.env.SIDECAR_CONFORMANCE_UNKNOWN_VARIABLE).toBeDefined();
      const res = await send(s.adminUrl, '/healthz');
      expect(res.status).toBe(200);
      expect(s.adminUrl).not.toBe(s.url);
    });
  });

  describe.concurrent('bad configuration', () => {
    /** stderr's lines: every one of them the sidecar's own (no task runner's, no stack trace). */
    const ownLines = (stderr: string) =>
      stderr
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '');

    for (const [variable, value] of badValues) {
      it(`${variable}=${JSON.stringify(value)} stops it before listening: exit 1, one stderr line naming ${variable}`, async () => {
        const exit = await runUntilExit(t.runtime, { TARGET: 'http://127.0.0.1:9', [variable]: value });
        expect(exit.timedOut, `still running; stderr:\n${exit.stderr}`).toBe(false);
        expect(exit.code, `stderr:\n${exit.stderr}`).toBe(1);
        const lines = ownLines(exit.stderr);
        expect(lines, 'stderr lines').toHaveLength(1);
        expect(lines[0]).toContain(variable);
        // A host and port without a scheme: the line names the URL that was meant.
        if (value === 'localhost:8080') expect(lines[0]).toContain('did you mean "http://localhost:8080"?');
        expect(exit.stderr).not.toMatch(listeningLine);
        expect(exit.stdout, 'stdout is for access-log lines only').toBe('');
      });
    }

    // HTTP_REDIRECT_PORT needs TLS on: the test fixtures' pair (valid until 2126) serves.
    const tls = {
      TLS_CERT_FILE: path.join(repoRoot, 'test/fixtures/upstream-cert.pem'),
      TLS_KEY_FILE: path.join(repoRoot, 'test/fixtures/upstream-key.pem'),
    };
    for (const variable of ['PORT', 'ADMIN_PORT', 'HTTP_REDIRECT_PORT']) {
      it(`${variable} already in use stops it: exit 1, one plain stderr line naming the variable and the port (no stack trace, no colour)`, async () => {
        const taken = net.createServer().listen(0, '127.0.0.1');
        await once(taken, 'listening');
        const { port } = taken.address() as AddressInfo;
        try {
          const exit = await runUntilExit(t.runtime, {
            TARGET: 'http://127.0.0.1:9',
            ...(variable === 'HTTP_REDIRECT_PORT' ? tls : {}),
            [variable]: String(port),
          });
          expect(exit.timedOut, `still running; stderr:\n${exit.stderr}`).toBe(false);
          expect(exit.code, `stderr:\n${exit.stderr}`).toBe(1);
          // With TLS on, the certificate's line comes first, as at every start.
          const lines = ownLines(exit.stderr).filter((line) => !line.startsWith('sidecar: serving HTTPS'));
          expect(lines, 'stderr lines').toEqual([expect.stringMatching(/in use/i)]);
          expect(lines[0]).toContain(`127.0.0.1:${port} (${variable})`);
          expect(lines[0]).toMatch(/in use/i);
          expect(exit.stderr).not.toContain('\x1b');
          expect(exit.stdout, 'stdout is for access-log lines only').toBe('');
        } finally {
          taken.close();
        }
      });
    }

    it('a TARGET with credentials stops it without printing the password', async () => {
      const exit = await runUntilExit(t.runtime, { TARGET: 'http://admin:hunter2-secret@127.0.0.1:8080' });
      expect(exit.code, `stderr:\n${exit.stderr}`).toBe(1);
      const lines = ownLines(exit.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('TARGET');
      expect(exit.stderr).not.toContain('hunter2-secret');
    });
  });
}
