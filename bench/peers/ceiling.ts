// Peer: the ceiling for a proxy on Node (issue 14): a bare `node:http` server piped into an undici
// `Pool` with `pool.stream`, with no framework, no web Request/Response, no header copies beyond
// dropping hop-by-hop ones, and the same one JSON access-log line per request as every other row.
// It is not a proxy one could ship (no X-Forwarded-*, no timeouts, no request ids): it is what the
// sidecar's Node stack (node:http + undici) costs with nothing of the sidecar's own on top.
// Env: TARGET, PORT, HOST.
import http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { listenMessage, logRequest } from './access-log.ts';

const target = process.env.TARGET ?? 'http://127.0.0.1:8080';
const host = process.env.HOST ?? '127.0.0.1';

// The sidecar's own pool settings (runtimes/node/upstream.ts): connections unbounded, keep-alive.
const pool = new Pool(target, { headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 4_000 });

/** RFC 9110 §7.6.1; undici refuses some of them in a request anyway. */
const hopByHop = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];
function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  for (const name of hopByHop) delete headers[name];
  return headers;
}

const server = http.createServer((req, res) => {
  const start = performance.now();
  res.once('close', () => logRequest('ceiling', target, req, res, start));
  const bodiless = req.method === 'GET' || req.method === 'HEAD';
  pool.stream(
    {
      path: req.url ?? '/',
      method: req.method ?? 'GET',
      headers: endToEnd({ ...req.headers }),
      body: bodiless ? null : req,
    },
    ({ statusCode, headers }) => {
      res.writeHead(statusCode, endToEnd(headers as IncomingHttpHeaders));
      return res;
    },
    (error) => {
      if (!error) return;
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`bad gateway: ${error.message}\n`);
      } else res.destroy();
    },
  );
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? '0'), host, () => {
  process.stderr.write(listenMessage('ceiling', host, (server.address() as AddressInfo).port));
});

const stop = (): void => {
  server.close(() => void pool.close().then(() => process.exit(0)));
  server.closeIdleConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
