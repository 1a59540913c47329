/**
 * The demo legacy app: the thing the sidecar stands in front of. It answers "Hello you!" on
 * GET / and 404 elsewhere, on PORT (default 8080). Kept deliberately plain: it is the app nobody
 * may change, and it reads only PORT.
 */
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`legacy: PORT must be a port number, got ${JSON.stringify(process.env.PORT)}\n`);
  process.exit(1);
}

const server = createServer((req, res) => {
  if (req.url === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Hello you!');
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('Not found');
});

server.listen(port, () => {
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  process.stderr.write(`legacy: listening on http://localhost:${actual}\n`);
});

const stop = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
