/**
 * A stand-in for a brittle app, for the tests of MAX_CONCURRENT_REQUESTS: a real `node:http`
 * server on 127.0.0.1:0 that counts its own concurrency (requests being served, and connections
 * that carried a request, now and at most) and records the order requests arrived in. Every
 * request with `?id=` is held, before any response byte, until the test calls release(id); a
 * request without an id is answered at once. With `&stream=1` the headers and a first chunk go out
 * at once, and the body ends on release(id). Tests wait on its events, never on sleeps.
 */
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { waitUntil } from './wait.ts';

export interface CrowdApp {
  url: string;
  /** Requests being served now (arrived, response not finished), and the most ever at once. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** Connections that carried a request and are still open, and the most ever at once (a bare TCP probe is not one). */
  readonly connections: number;
  readonly maxConnections: number;
  /** The ids of the requests that reached the app, in arrival order. */
  readonly arrivals: readonly string[];
  /** Resolves once `check` holds (re-checked on every arrival, answer and close); bounded. */
  until(check: () => boolean, what: string): Promise<void>;
  /** Answers the request with this id (now, or as soon as it arrives). */
  release(id: string): void;
  /** Answers every request held now. */
  releaseAll(): void;
  close(): Promise<void>;
}

export async function startCrowdApp(): Promise<CrowdApp> {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const changed = () => events.emit('change');
  const arrivals: string[] = [];
  const held = new Map<string, () => void>();
  const released = new Set<string>();
  const carrying = new Set<Socket>();
  let inFlight = 0;
  let maxInFlight = 0;
  let maxConnections = 0;

  const server = http.createServer((req, res) => {
    const socket = req.socket;
    if (!carrying.has(socket)) {
      carrying.add(socket);
      maxConnections = Math.max(maxConnections, carrying.size);
      socket.once('close', () => {
        carrying.delete(socket);
        changed();
      });
    }
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      inFlight--;
      changed();
    };
    res.once('finish', done);
    res.once('close', done);
    const query = new URL(req.url ?? '/', 'http://app').searchParams;
    const id = query.get('id');
    const streaming = query.get('stream') === '1';
    if (streaming) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('first\n');
    }
    const answer = () => {
      held.delete(id ?? '');
      const body = `done ${id ?? ''}\n`;
      if (!streaming) res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    req.resume();
    if (id === null) {
      answer();
      return;
    }
    arrivals.push(id);
    if (released.has(id)) answer();
    else held.set(id, answer);
    changed();
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get connections() {
      return carrying.size;
    },
    get maxConnections() {
      return maxConnections;
    },
    arrivals,
    until: (check, what) =>
      waitUntil(
        events,
        () => (check() ? true : undefined),
        what,
        undefined,
        () => `arrivals: ${JSON.stringify(arrivals)}, in flight: ${inFlight}`,
      ).then(() => undefined),
    release(id) {
      released.add(id);
      held.get(id)?.();
    },
    releaseAll() {
      for (const [id, answer] of [...held]) {
        released.add(id);
        answer();
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
