// An OTLP/HTTP receiver that discards: the collector for the "sidecar on Node, export on" row,
// so the row measures the exporter's cost (spans made, batched, encoded, posted), not a backend's.
// Env: PORT, HOST. Answers every POST with 200 and an empty ExportTraceServiceResponse (full
// success, opentelemetry-proto docs/specification.md), GET / with 200 for the readiness wait.
import http from 'node:http';

const host = process.env.HOST ?? '127.0.0.1';
let spansBytes = 0;
let exports = 0;

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    res.end(`otlp sink: ${exports} exports, ${spansBytes} bytes\n`);
    return;
  }
  req.on('data', (chunk: Buffer) => (spansBytes += chunk.length));
  req.on('end', () => {
    exports++;
    res.writeHead(200, {
      'content-type': req.headers['content-type'] ?? 'application/x-protobuf',
      'content-length': '0',
    });
    res.end();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 4318), host, () =>
  process.stderr.write(`otlp sink listening on ${host}:${process.env.PORT ?? 4318}\n`),
);
process.on('SIGTERM', () => {
  process.stderr.write(`otlp sink: ${exports} exports, ${spansBytes} bytes\n`);
  server.close();
  server.closeAllConnections();
});
