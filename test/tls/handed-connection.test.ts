/**
 * Why Deno's sidecar has no front door on its HTTPS port (known-differences.ts,
 * plainHttpOnTlsPortUnanswered): Deno's TLS server answers the first request of a connection
 * handed to it with `emit('connection')` and then closes the connection (a few ms later, whatever
 * the client does next), so a keep-alive client's next request gets "socket hang up" unless it
 * was quicker. The same server listening itself keeps the connection. On Node the handed
 * connection is kept, which is what the front door relies on. When a Deno release fixes it, the
 * Deno half fails (its connection is still open when the bound runs out): give Deno the front
 * door back.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import tls from 'node:tls';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePki } from '../support/certificates.ts';
import type { TestPki } from '../support/certificates.ts';
import { repoRoot } from '../support/sidecar.ts';
import { INSTALL_TIMEOUT_MS, requireTool, systemTools } from '../support/system-tool.ts';

const script = path.join(repoRoot, 'test/tls/fixtures/handed-connection.mjs');
const commands = {
  node: [process.execPath, script],
  deno: [path.join(repoRoot, 'node_modules/.bin/deno'), 'run', '--allow-net', '--allow-read', script],
} as const;

/** Two requests on one keep-alive connection: what the second one got. */
async function secondOnSameConnection(port: number, ca: string): Promise<string> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (p: string) =>
    new Promise<string>((resolve) => {
      const request = https.get({ host: '127.0.0.1', servername: 'localhost', port, path: p, ca, agent }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(`${body}${request.reusedSocket ? ' (same connection)' : ''}`));
      });
      request.on('error', (error) => resolve(error.message));
    });
  try {
    expect(await get('/first')).toBe('answered /first');
    return await get('/second');
  } finally {
    agent.destroy();
  }
}

/** Bound for the close Deno makes a few ms after its answer; a Deno that keeps the connection fails here. */
const CLOSE_BOUND_MS = 10_000;

/** One request on a fresh TLS connection; resolves once the answer came and the server closed it. */
function closedAfterFirstAnswer(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', servername: 'localhost', port, ca, ALPNProtocols: ['http/1.1'] });
    let received = '';
    const bound = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`the connection was still open ${CLOSE_BOUND_MS} ms after its answer: ${JSON.stringify(received)}`),
      );
    }, CLOSE_BOUND_MS);
    socket.on('secureConnect', () => socket.write('GET /first HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(bound);
      resolve(received.includes('answered /first') ? 'answered, then closed' : `closed: ${JSON.stringify(received)}`);
    });
  });
}

describe('a TLS connection handed to the HTTPS server by a plain TCP listener', () => {
  let pki: TestPki;
  let files: string[];
  beforeAll(() => requireTool(systemTools.openssl), INSTALL_TIMEOUT_MS);
  beforeAll(async () => {
    pki = await makePki();
    files = [path.join(pki.dir, 'handed.crt'), path.join(pki.dir, 'handed.key')];
    writeFileSync(files[0]!, pki.first.cert);
    writeFileSync(files[1]!, pki.first.key);
  });
  afterAll(() => pki?.remove());

  for (const [runtime, [command, ...args]] of Object.entries(commands)) {
    it(`on ${runtime}: ${runtime === 'deno' ? 'is closed after its first answer (the server listening itself keeps it)' : 'stays open for the next request'}`, async () => {
      const child = spawn(command, [...args, ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
        const { direct, handed } = JSON.parse(line) as { direct: number; handed: number };
        expect(await secondOnSameConnection(direct, pki.ca)).toBe('answered /second (same connection)');
        if (runtime === 'deno') expect(await closedAfterFirstAnswer(handed, pki.ca)).toBe('answered, then closed');
        else expect(await secondOnSameConnection(handed, pki.ca)).toBe('answered /second (same connection)');
      } finally {
        child.kill();
      }
    });
  }
});
