/**
 * Whether the runtime's own server compresses responses, and that the sidecar's compressed
 * ones are never compressed twice. Deno.serve compresses by itself when asked
 * (`automaticCompression: true`, or DENO_SERVE_AUTOMATIC_COMPRESSION=1 in the environment:
 * Deno 2.9, denoland/deno#35253, #35486) and skips any response that has a Content-Encoding.
 * Bun.serve has no such feature. The environment variable is set here as an operator might.
 */
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from './runtimes.ts';

const page = '<!doctype html><ul>' + '<li>row</li>\n'.repeat(400) + '</ul>';
/** Chrome's Accept-Encoding. */
const chrome = 'gzip, deflate, br, zstd';

interface Answer {
  encoding: string | undefined;
  body: Buffer;
}

function get(port: number, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      { host: '127.0.0.1', port, path, agent: false, headers: { 'accept-encoding': chrome } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ encoding: response.headers['content-encoding'], body: Buffer.concat(chunks) }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
  });
}

function stop(child: ChildProcess | undefined): void {
  if (child?.exitCode === null) child.kill();
}

describe('Deno.serve (DENO_SERVE_AUTOMATIC_COMPRESSION=1 in the environment)', () => {
  let child: ChildProcess | undefined;
  let ports: { defaults: number; off: number };
  beforeAll(async () => {
    const started = await startServer('deno', 'serve-check.ts', { DENO_SERVE_AUTOMATIC_COMPRESSION: '1' });
    child = started.child;
    ports = started.ready as typeof ports;
  }, 30_000);
  afterAll(() => stop(child));

  it('compresses an uncompressed response by itself unless automaticCompression is false', async () => {
    const byDefault = await get(ports.defaults, '/plain');
    expect(byDefault.encoding).toBe('br');
    expect(zlib.brotliDecompressSync(byDefault.body).toString()).toBe(page);

    const off = await get(ports.off, '/plain');
    expect(off.encoding).toBeUndefined();
    expect(off.body.toString()).toBe(page);
  });

  it.each(['defaults', 'off'] as const)(
    'leaves a response the sidecar compressed alone (%s): one gzip, decoded once',
    async (server) => {
      const answer = await get(ports[server], '/sidecar');
      expect(answer.encoding).toBe('gzip');
      expect(zlib.gunzipSync(answer.body).toString()).toBe(page);
    },
  );
});

describe('Bun.serve', () => {
  let child: ChildProcess | undefined;
  let port: number;
  beforeAll(async () => {
    const started = await startServer('bun', 'serve-check.ts', {});
    child = started.child;
    port = (started.ready as { defaults: number }).defaults;
  }, 30_000);
  afterAll(() => stop(child));

  it('sends an uncompressed response as it is', async () => {
    const answer = await get(port, '/plain');
    expect(answer.encoding).toBeUndefined();
    expect(answer.body.toString()).toBe(page);
  });

  it('sends a response the sidecar compressed once: one gzip, decoded once', async () => {
    const answer = await get(port, '/sidecar');
    expect(answer.encoding).toBe('gzip');
    expect(zlib.gunzipSync(answer.body).toString()).toBe(page);
  });
});
