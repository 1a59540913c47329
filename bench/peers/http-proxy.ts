// Peer: node `http-proxy` (the seed's library) done right: a keep-alive agent with a pool larger
// than the benchmark's 32 client connections, so no request waits for or reopens a socket.
// Env: TARGET, PORT, HOST. Access log: one JSON line per request on stdout.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';
import { listenMessage, logRequest } from './access-log.ts';

const target = process.env.TARGET ?? 'http://127.0.0.1:8080';
const host = process.env.HOST ?? '127.0.0.1';

const agent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
const proxy = httpProxy.createProxyServer({ target, agent, xfwd: true });

proxy.on('error', (err, _req, res) => {
  // `res` is a Socket for upgrade requests; only answer plain HTTP responses.
  if (res instanceof http.ServerResponse && !res.headersSent) {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`bad gateway: ${err.message}\n`);
  } else {
    res.destroy();
  }
});

const server = http.createServer((req, res) => {
  const start = performance.now();
  res.once('close', () => logRequest('http-proxy', target, req, res, start));
  proxy.web(req, res);
});
server.keepAliveTimeout = 65_000;

server.listen(Number(process.env.PORT ?? '0'), host, () => {
  process.stderr.write(listenMessage('http-proxy', host, (server.address() as AddressInfo).port));
});

const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  agent.destroy();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
