// A compressible download of 1 GiB (by default) through the Node sidecar with COMPRESS set, to
// measure what compression holds in memory while it streams: the sidecar's RSS is sampled before
// and during the transfer, and the client decodes every byte to check the body arrived whole.
// A measurement, not a test: run it alone (RSS is noisy on a busy machine).
//   node bench/compressed-download.ts [gzip|br|zstd] [bytes]
// Prints one line: COMPRESSED_DOWNLOAD_JSON {...}
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { MiB, ROOT } from './context.ts';
import { readMem } from './proc.ts';

type Coding = 'gzip' | 'br' | 'zstd';

/** Every process started here, stopped however the measurement ends. */
const live: ChildProcess[] = [];
let stopping = false;

/** Starts a process and resolves with the first stderr match of `line` (its listening line). */
function startProcess(argv: string[], env: Record<string, string>, line: RegExp): Promise<[ChildProcess, string[]]> {
  const [command = '', ...args] = argv;
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  live.push(child);
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      err = (err + s).slice(-4000);
      const m = line.exec(err);
      if (m) resolve([child, m.slice(1)]);
    });
    child.on('exit', (code, signal) => {
      const message = `${argv.join(' ')} exited (code ${code}, signal ${signal}): ${err}`;
      reject(new Error(message));
      if (!stopping) process.stderr.write(`${message}\n`);
    });
  });
}

/** Downloads through the sidecar, decoding as it comes; resolves with wire and decoded bytes. */
function download(url: string, coding: Coding): Promise<{ status: number; wire: number; decoded: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers: { 'accept-encoding': coding } }, (res) => {
        if (res.headers['content-encoding'] !== coding)
          return reject(new Error(`not ${coding}: ${JSON.stringify(res.headers)}`));
        const decoder =
          coding === 'gzip'
            ? zlib.createGunzip()
            : coding === 'br'
              ? zlib.createBrotliDecompress()
              : zlib.createZstdDecompress();
        let wire = 0;
        let decoded = 0;
        res.on('data', (c: Buffer) => (wire += c.length));
        decoder.on('data', (c: Buffer) => (decoded += c.length));
        decoder.on('end', () => resolve({ status: res.statusCode ?? 0, wire, decoded }));
        decoder.on('error', reject);
        res.pipe(decoder);
      })
      .on('error', reject);
  });
}

const coding = (process.argv[2] ?? 'gzip') as Coding;
const total = Number(process.argv[3] ?? String(1024 * MiB));
try {
  const [, [upHost, upPort]] = await startProcess(
    [process.execPath, 'bench/upstream.ts'],
    { PORT: '0' },
    /upstream listening on (\S+):(\d+)/,
  );
  const [sidecar, [host, port]] = await startProcess(
    [process.execPath, join('runtimes', 'node.ts')],
    {
      TARGET: `http://${upHost}:${upPort}`,
      COMPRESS: coding,
      HOST: '127.0.0.1',
      PORT: '0',
      ADMIN_PORT: '0',
      LOG_FORMAT: 'json',
    },
    /listening on (\S+):(\d+)/,
  );
  const pid = sidecar.pid as number;
  const big = (bytes: number) => `http://${host}:${port}/big?bytes=${bytes}&type=text/plain`;
  // Warm up: the code paths loaded and JIT-compiled, a compressor made and freed, before the baseline.
  for (let i = 0; i < 3; i++) await download(big(16 * MiB), coding);
  const before = readMem(pid)?.rssKiB ?? 0;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, readMem(pid)?.rssKiB ?? 0)), 50);
  const start = performance.now();
  const result = await download(big(total), coding);
  const seconds = (performance.now() - start) / 1000;
  clearInterval(sampler);
  const after = readMem(pid)?.rssKiB ?? 0;
  peak = Math.max(peak, after);
  process.stdout.write(
    `COMPRESSED_DOWNLOAD_JSON ${JSON.stringify({
      coding,
      ok: result.status === 200 && result.decoded === total,
      decodedBytes: result.decoded,
      wireBytes: result.wire,
      seconds: Number(seconds.toFixed(1)),
      rssBeforeMiB: Number((before / 1024).toFixed(1)),
      rssPeakMiB: Number((peak / 1024).toFixed(1)),
      rssGrowthMiB: Number(((peak - before) / 1024).toFixed(1)),
    })}\n`,
  );
} finally {
  stopping = true;
  for (const child of live) child.kill('SIGTERM');
}
