// The peers' access log: one JSON line per finished request on stdout, close to the sidecar's
// own line, so every proxy in the benchmark pays for logging (docs/behaviour.md, Logging).
import type { IncomingMessage, ServerResponse } from 'node:http';

export function logRequest(
  service: string,
  target: string,
  req: IncomingMessage,
  res: ServerResponse,
  startMs: number,
): void {
  const line = {
    time: new Date().toISOString(),
    service,
    target,
    method: req.method,
    path: req.url,
    status: res.writableFinished ? res.statusCode : 499,
    duration_ms: Math.round((performance.now() - startMs) * 1000) / 1000,
    bytes_in: Number(req.headers['content-length'] ?? 0),
    bytes_out: Number(res.getHeader('content-length') ?? 0),
    request_id: req.headers['x-request-id'] ?? null,
    remote_addr: req.socket.remoteAddress,
    user_agent: req.headers['user-agent'] ?? null,
  };
  process.stdout.write(JSON.stringify(line) + '\n');
}

export function listenMessage(name: string, host: string, port: number): string {
  return `${name} listening on ${host}:${port}\n`;
}
