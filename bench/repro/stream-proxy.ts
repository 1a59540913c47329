// A minimal streaming proxy on node:http alone (no Hono, no web streams, none of the sidecar's
// code): GET / is fetched from UPSTREAM with node:http's client and piped to the client, with
// pipe()'s backpressure. Run the same file on Node and on Deno and read a long download slowly
// (bench/README.md, "Deno's 1 GiB download"): what each runtime keeps while streaming is its own.
// With V8's gc exposed, a scavenge every 4 MiB streamed, as runtimes/node/collect.ts does.
//   PORT=18200 UPSTREAM=http://127.0.0.1:18080 node [--expose-gc] bench/repro/stream-proxy.ts
//   PORT=18200 UPSTREAM=http://127.0.0.1:18080 deno run [--v8-flags=--expose-gc] --allow-net --allow-env bench/repro/stream-proxy.ts
import http from 'node:http';
import process from 'node:process';

const upstream = new URL(process.env.UPSTREAM ?? 'http://127.0.0.1:18080');
const agent = new http.Agent({ keepAlive: true });
const gc = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;
let sinceGc = 0;
const count = (chunk: Uint8Array) => {
  sinceGc += chunk.length;
  if (gc === undefined || sinceGc < 4 * 1024 * 1024) return;
  sinceGc = 0;
  gc({ type: 'minor' });
};

http
  .createServer((req, res) => {
    const out = http.get({ host: upstream.hostname, port: upstream.port, path: req.url, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.on('data', count);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    res.on('close', () => out.destroy());
  })
  .listen(Number(process.env.PORT ?? 18200), '127.0.0.1', () => process.stderr.write('listening\n'));
