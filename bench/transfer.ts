// One large body through a proxy, run as its own process so the orchestrator stays idle while it
// samples the proxy's memory. Data is generated on the fly (one reused 64 KiB chunk, written with
// backpressure): nothing near the body's size is ever held in memory.
//   node bench/transfer.ts download http://127.0.0.1:PORT/big <bytes> <timeoutMs>
//   node bench/transfer.ts upload   http://127.0.0.1:PORT/upload <bytes> <timeoutMs>
// Prints one line: TRANSFER_JSON {"ok":..,"bytes":..,"ms":..,"status":..,"error":..}
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

export interface TransferResult {
  ok: boolean;
  /** Bytes the client received (download) or the upstream counted (upload). */
  bytes: number;
  ms: number;
  status: number;
  error?: string;
}

const CHUNK = Buffer.alloc(64 * 1024, 'the quick brown fox jumps over the lazy dog\n');

function download(url: string, total: number): Promise<TransferResult> {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = http.get(`${url}?bytes=${total}`, { agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      res.on('end', () =>
        resolve({
          ok: res.statusCode === 200 && bytes === total,
          bytes,
          ms: performance.now() - start,
          status: res.statusCode ?? 0,
        }),
      );
      res.on('error', (err) =>
        resolve({ ok: false, bytes, ms: performance.now() - start, status: res.statusCode ?? 0, error: err.message }),
      );
    });
    req.on('error', (err) =>
      resolve({ ok: false, bytes: 0, ms: performance.now() - start, status: 0, error: err.message }),
    );
  });
}

function upload(url: string, total: number): Promise<TransferResult> {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(total) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => (body += s));
        res.on('end', () => {
          let bytes = -1;
          try {
            bytes = (JSON.parse(body) as { bytes: number }).bytes;
          } catch {
            // not the upstream's answer (an error page from the proxy)
          }
          resolve({
            ok: res.statusCode === 200 && bytes === total,
            bytes,
            ms: performance.now() - start,
            status: res.statusCode ?? 0,
            ...(bytes < 0 ? { error: body.slice(0, 200) } : {}),
          });
        });
      },
    );
    req.on('error', (err) =>
      resolve({ ok: false, bytes: 0, ms: performance.now() - start, status: 0, error: err.message }),
    );
    let left = total;
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!req.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** This file run as the transfer client, in its own process; its one line read back. */
export function runTransfer(
  direction: 'download' | 'upload',
  url: string,
  bytes: number,
  timeoutMs: number,
): Promise<TransferResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), direction, url, String(bytes), String(timeoutMs)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-2000)));
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 10_000);
    child.on('close', (code) => {
      clearTimeout(killer);
      const line = /^TRANSFER_JSON (\{.*\})$/m.exec(out)?.[1];
      if (line) resolvePromise(JSON.parse(line) as TransferResult);
      else
        resolvePromise({
          ok: false,
          bytes: 0,
          ms: 0,
          status: 0,
          error: `transfer client exited ${code}: ${err.trim()}`,
        });
    });
  });
}

if (import.meta.main) {
  const [mode, url, bytesArg, timeoutArg] = process.argv.slice(2);
  const total = Number(bytesArg);
  if ((mode !== 'download' && mode !== 'upload') || url === undefined || !Number.isSafeInteger(total)) {
    process.stderr.write('usage: transfer.ts download|upload URL BYTES [TIMEOUT_MS]\n');
    process.exit(2);
  }
  const timeoutMs = Number(timeoutArg ?? '120000');
  const timer = setTimeout(() => {
    process.stdout.write(
      `TRANSFER_JSON ${JSON.stringify({ ok: false, bytes: 0, ms: timeoutMs, status: 0, error: `timeout after ${timeoutMs} ms` })}\n`,
    );
    process.exit(0);
  }, timeoutMs);
  const result = await (mode === 'download' ? download(url, total) : upload(url, total));
  clearTimeout(timer);
  process.stdout.write(`TRANSFER_JSON ${JSON.stringify(result)}\n`);
}
