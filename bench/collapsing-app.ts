// The overload scenario's app (bench/overload.ts): a legacy app that collapses above N concurrent
// requests, like a thread pool of N thrashing, or a database pool of N with lock contention. Each
// request takes WORK_MS when at most N are in flight as it arrives, and WORK_MS × (k/N)² when k > N
// are: past its limit, the more it is asked, the less it serves (k/N more requests share the
// machine, each also slowed by k/N of contention). A client that leaves frees its share at once.
//   GET /_stats   {"maxInFlight": most ever at once, "served": answered}; resets with ?reset=1
//   anything else "ok" after the computed time
// PORT (0 = any), CAPACITY (N, 8), WORK_MS (20). Prints "listening on HOST:PORT" on stderr.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const capacity = Number(process.env.CAPACITY ?? '8');
const workMs = Number(process.env.WORK_MS ?? '20');
let inFlight = 0;
let maxInFlight = 0;
let served = 0;

const server = http.createServer((req, res) => {
  if (req.url?.startsWith('/_stats')) {
    const body = JSON.stringify({ maxInFlight, served, capacity, workMs });
    if (req.url.includes('reset=1')) maxInFlight = served = 0;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  req.resume();
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  const load = inFlight / capacity;
  const ms = load <= 1 ? workMs : workMs * load * load;
  let open = true;
  const leave = () => {
    if (!open) return;
    open = false;
    inFlight--;
  };
  const timer = setTimeout(() => {
    leave();
    served++;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' });
    res.end('ok\n');
  }, ms);
  res.once('close', () => {
    clearTimeout(timer);
    leave();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? '0'), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stderr.write(`collapsing app listening on 127.0.0.1:${port} (capacity ${capacity}, ${workMs} ms)\n`);
});
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
