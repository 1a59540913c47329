/**
 * The app behind the sidecar in the conformance suite: a real `node:http` server on 127.0.0.1:0
 * with one route per scenario, which records exactly what it received (raw headers included) so a
 * test can see what the app got. Tests synchronise with it through events (`waitFor`, `release`),
 * never through sleeps.
 *
 * Routes (a leading `/base` is ignored, so a sidecar with a path prefix reaches the same routes):
 *   (anything else)         echo: JSON of method, url, headers, rawHeaders, body size and sha256
 *   /_/gzip /_/br /_/zstd   a precompressed body with its Content-Encoding and Content-Length
 *   /_/cookies              three Set-Cookie headers (one with a comma in its Expires)
 *   /_/redirect?to=URL      302 with `Location: URL`
 *   /_/bytes?n=N            N bytes of text with Content-Length
 *   /_/upload               JSON {bytes, sha256} of the request body, answered after the body ended
 *   /_/slow?id=             headers and a first chunk, then the rest once the test calls release(id)
 *   /_/hop-response         a 200 carrying every hop-by-hop response header
 *   /_/reset                destroys the socket before any response byte
 *   /_/hang                 never answers
 *   /_/broken-chunked?id=   chunked headers and a first chunk; on release(id), destroys the socket
 *   /_/broken-length?id=    Content-Length 1000, 100 bytes; on release(id), destroys the socket
 *   /_/abort-watch?id=&mode=headers|none   waits forever (after headers and a chunk with mode=headers)
 *   /_/firehose?id=&total=N writes N bytes in 64 KiB chunks, honouring backpressure
 *   (an Upgrade: websocket handshake) the WebSocket app of ./ws-app.ts
 *   /_/unsized              a gzip body without Content-Length (chunked), as nginx sends a compressed answer
 *   /_/page?n=&type=&status=&length=none&h=Name:Value   n bytes of compressible HTML (pageBody), with
 *                           that status, Content-Type (type=none: none) and extra headers (h repeated); length=none: chunked
 */
import { createHash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import zlib from 'node:zlib';
import { waitUntil } from './wait.ts';
import { attachWsApp } from './ws-app.ts';
import type { AppTunnel, WsApp } from './ws-app.ts';

/** Compressible text, so every encoded body differs from it and from each other. */
export const plainText = Buffer.from('Hello you! '.repeat(400) + 'The end.\n');
export const encodedBodies = {
  gzip: zlib.gzipSync(plainText),
  br: zlib.brotliCompressSync(plainText),
  zstd: zlib.zstdCompressSync(plainText),
} as const;
export type Encoding = keyof typeof encodedBodies;

/** /_/page's body: n bytes of an HTML page that compresses well. */
export function pageBody(n: number): Buffer {
  return Buffer.alloc(n, '<tr><td class="name">row</td><td class="value">compressible</td></tr>\n');
}

export const setCookies = [
  'session=abc123; Path=/; HttpOnly',
  'prefs=dark; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Path=/',
  'lang=en; Max-Age=3600; SameSite=Lax',
] as const;

/** What the app sends on /_/hop-response: the hop-by-hop ones must not reach the client. */
export const hopResponseHeaders = {
  hopByHop: {
    Connection: 'keep-alive, X-Upstream-Hop',
    'Keep-Alive': 'timeout=5, max=7',
    'Proxy-Connection': 'keep-alive',
    'X-Upstream-Hop': 'named-in-connection',
    TE: 'trailers',
    Trailer: 'X-Checksum',
    Upgrade: 'h2c',
  },
  endToEnd: { 'X-End-To-End': 'kept' },
} as const;

export interface UpstreamRequest {
  /** The `id` query parameter, which tests use to find their request. */
  id: string | undefined;
  method: string;
  /** The request-target exactly as the app received it. */
  url: string;
  httpVersion: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  /** Which upstream connection carried it, and how many requests that connection carried before. */
  connection: number;
  requestsBeforeOnConnection: number;
  bodyBytes: number;
  bodySha256: string | undefined;
  /** receiving: body still arriving; complete: the whole request arrived; aborted: closed first. */
  state: 'receiving' | 'complete' | 'aborted';
  /** pending: response not finished; finished: fully handed to the OS; closed: closed before that. */
  response: 'pending' | 'finished' | 'closed';
  /** Response body bytes written so far (firehose), and whether the app is waiting for 'drain'. */
  bytesWritten: number;
  waitingForDrain: boolean;
}

export interface Upstream {
  url: string;
  port: number;
  requests: UpstreamRequest[];
  byId(id: string): UpstreamRequest[];
  /** Resolves with the first request with this id that satisfies `until`; rejects after a bounded wait. */
  waitFor(
    id: string,
    until: (r: UpstreamRequest) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<UpstreamRequest>;
  /** Lets the route waiting on `id` go on. */
  release(id: string): void;
  /** Every connection open now is destroyed when its next request arrives (a keep-alive close race). */
  doomOpenConnections(): void;
  /** Connections doomed earlier serve normally again. */
  spareConnections(): void;
  /** How many requests arrived on doomed connections (and were cut off). */
  doomedHits(): number;
  /** The WebSocket side (./ws-app.ts): tunnels as the app saw them. */
  ws: WsApp;
  /** Resolves with the tunnel with this id once `until` holds; rejects after a bounded wait. */
  waitForTunnel(id: string, until: (t: AppTunnel) => boolean, what: string, timeoutMs?: number): Promise<AppTunnel>;
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const requests: UpstreamRequest[] = [];
  const gates = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  const gate = (id: string) => {
    let g = gates.get(id);
    if (!g) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      g = { promise, resolve };
      gates.set(id, g);
    }
    return g;
  };
  const sockets = new Map<Socket, { connection: number; requests: number; doomed: boolean }>();
  let connections = 0;
  let doomedHits = 0;
  const changed = () => events.emit('change');

  const server = http.createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    const socketInfo = sockets.get(req.socket);
    if (socketInfo?.doomed) {
      // As if the app had closed this idle keep-alive connection just as the sidecar reused it.
      doomedHits++;
      req.socket.destroy();
      changed();
      return;
    }
    const rawUrl = req.url ?? '';
    const queryStart = rawUrl.indexOf('?');
    const query = new URLSearchParams(queryStart === -1 ? '' : rawUrl.slice(queryStart + 1));
    const pathname = (queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart)).replace(/^\/base(?=\/)/, '');
    const record: UpstreamRequest = {
      id: query.get('id') ?? undefined,
      method: req.method ?? '',
      url: rawUrl,
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      connection: socketInfo?.connection ?? -1,
      requestsBeforeOnConnection: socketInfo ? socketInfo.requests++ : -1,
      bodyBytes: 0,
      bodySha256: undefined,
      state: 'receiving',
      response: 'pending',
      bytesWritten: 0,
      waitingForDrain: false,
    };
    requests.push(record);
    const hash = createHash('sha256');
    req.on('data', (chunk: Buffer) => {
      record.bodyBytes += chunk.length;
      hash.update(chunk);
      changed();
    });
    req.on('end', () => {
      record.state = 'complete';
      record.bodySha256 = hash.digest('hex');
      changed();
    });
    req.on('close', () => {
      if (record.state === 'receiving') record.state = 'aborted';
      changed();
    });
    res.on('finish', () => {
      record.response = 'finished';
      changed();
    });
    res.on('close', () => {
      if (record.response === 'pending') record.response = 'closed';
      changed();
    });
    changed();
    const ended = () => (record.state === 'receiving' ? once(req, 'end') : Promise.resolve());
    const id = record.id ?? '';

    const routes: Record<string, () => Promise<void> | void> = {
      '/_/gzip': () => sendEncoded('gzip'),
      '/_/br': () => sendEncoded('br'),
      '/_/zstd': () => sendEncoded('zstd'),
      '/_/cookies': async () => {
        await ended();
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Set-Cookie': [...setCookies] });
        res.end('three cookies\n');
      },
      '/_/redirect': async () => {
        await ended();
        res.writeHead(302, { Location: query.get('to') ?? '/', 'Content-Type': 'text/plain' });
        res.end('Found\n');
      },
      '/_/bytes': async () => {
        await ended();
        const body = Buffer.alloc(Number(query.get('n') ?? '0'), 'abcdefghij');
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
        res.end(body);
      },
      '/_/upload': async () => {
        await ended();
        sendJson({ bytes: record.bodyBytes, sha256: record.bodySha256 });
      },
      '/_/slow': async () => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.flushHeaders();
        res.write('first chunk\n');
        await gate(id).promise;
        res.end('the rest\n');
      },
      '/_/page': async () => {
        await ended();
        const status = Number(query.get('status') ?? '200');
        // type=none: a body without a Content-Type (RFC 9110 §8.3 lets a sender leave it out).
        const type = query.get('type') ?? 'text/html; charset=utf-8';
        const fields = new Map<string, string[]>(type === 'none' ? [] : [['Content-Type', [type]]]);
        for (const field of query.getAll('h')) {
          const colon = field.indexOf(':');
          const name = field.slice(0, colon);
          fields.set(name, [...(fields.get(name) ?? []), field.slice(colon + 1)]);
        }
        for (const [name, values] of fields) res.setHeader(name, values.length === 1 ? (values[0] as string) : values);
        if (status === 204 || status === 304) {
          res.writeHead(status);
          res.end();
          return;
        }
        const body = pageBody(Number(query.get('n') ?? '4096'));
        const sized = query.get('length') !== 'none';
        if (sized) res.setHeader('Content-Length', body.length);
        res.writeHead(status);
        // Headers first: Node then frames the body chunked instead of counting it.
        if (!sized) res.flushHeaders();
        res.end(body);
      },
      '/_/hop-response': async () => {
        await ended();
        res.writeHead(200, {
          'Content-Type': 'text/plain',
          ...hopResponseHeaders.hopByHop,
          ...hopResponseHeaders.endToEnd,
        });
        res.end('hop-by-hop response\n');
      },
      '/_/hsts': async () => {
        await ended();
        res.writeHead(200, {
          'Content-Type': 'text/plain',
          'Strict-Transport-Security': 'max-age=1; includeSubDomains',
        });
        res.end('the app sets its own HSTS\n');
      },
      '/_/reset': () => {
        req.socket.destroy();
      },
      '/_/hang': () => {
        // Never answers; the test's sidecar gives up after UPSTREAM_TIMEOUT_MS.
      },
      '/_/broken-chunked': async () => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('partial body, ');
        await gate(id).promise;
        req.socket.destroy();
      },
      '/_/broken-length': async () => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 1000 });
        res.write(Buffer.alloc(100, 'x'));
        await gate(id).promise;
        req.socket.destroy();
      },
      '/_/abort-watch': async () => {
        if (query.get('mode') === 'headers') {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.write('started\n');
        }
        await gate(id).promise;
        res.end('released\n');
      },
      '/_/unsized': async () => {
        await ended();
        // Headers first, then the body: Node frames it chunked, and a HEAD answer carries no length.
        res.writeHead(200, {
          'Content-Type': 'text/plain; charset=utf-8',
          'Content-Encoding': 'gzip',
          Vary: 'Accept-Encoding',
        });
        res.flushHeaders();
        res.end(encodedBodies.gzip);
      },
      '/_/firehose': async () => {
        const total = Number(query.get('total') ?? '0');
        const chunk = Buffer.alloc(64 * 1024, 'firehose ');
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': total });
        while (record.bytesWritten < total && !res.destroyed) {
          const piece = chunk.subarray(0, Math.min(chunk.length, total - record.bytesWritten));
          const more = res.write(piece);
          record.bytesWritten += piece.length;
          if (!more) {
            record.waitingForDrain = true;
            changed();
            // Plain listeners, both removed: once() in a race would leave one behind per wait.
            await new Promise<void>((resolve) => {
              const go = () => {
                res.off('drain', go);
                res.off('close', go);
                resolve();
              };
              res.on('drain', go);
              res.on('close', go);
            });
            record.waitingForDrain = false;
          }
          changed();
        }
        res.end();
      },
    };

    function sendEncoded(encoding: Encoding) {
      return ended().then(() => {
        const body = encodedBodies[encoding];
        res.writeHead(200, {
          'Content-Type': 'text/plain; charset=utf-8',
          'Content-Encoding': encoding,
          'Content-Length': body.length,
          Vary: 'Accept-Encoding',
        });
        res.end(body);
      });
    }

    function sendJson(value: unknown) {
      const body = Buffer.from(JSON.stringify(value));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
      res.end(body);
    }

    const route = routes[pathname];
    const run = route
      ? route()
      : ended().then(() =>
          sendJson({
            server: 'upstream',
            method: record.method,
            url: record.url,
            httpVersion: record.httpVersion,
            headers: record.headers,
            rawHeaders: record.rawHeaders,
            bodyBytes: record.bodyBytes,
            bodySha256: record.bodySha256,
          }),
        );
    Promise.resolve(run).catch(() => req.socket.destroy());
  });

  const ws = attachWsApp(server, events);
  server.on('connection', (socket: Socket) => {
    sockets.set(socket, { connection: connections++, requests: 0, doomed: false });
    socket.on('close', () => sockets.delete(socket));
  });
  // The app never closes an idle connection on its own during a test: reuse races are staged on
  // purpose (doomOpenConnections), never by accident. 0 also means the app announces no
  // `Keep-Alive: timeout=`, so one the client sees is the sidecar's own (or a hop-by-hop leak from
  // /_/hop-response).
  server.keepAliveTimeout = 0;
  server.headersTimeout = 60_000;
  server.requestTimeout = 0;

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    byId: (id) => requests.filter((r) => r.id === id),
    waitFor(id, until, what, timeoutMs) {
      return waitUntil(
        events,
        () => requests.find((r) => r.id === id && until(r)),
        `upstream: ${what} (request id ${id})`,
        timeoutMs,
        () =>
          JSON.stringify(requests.filter((r) => r.id === id).map(({ headers: _h, rawHeaders: _r, ...rest }) => rest)),
      );
    },
    release: (id) => gate(id).resolve(),
    doomOpenConnections() {
      for (const info of sockets.values()) info.doomed = true;
    },
    spareConnections() {
      for (const info of sockets.values()) info.doomed = false;
    },
    doomedHits: () => doomedHits,
    ws,
    waitForTunnel(id, until, what, timeoutMs) {
      return waitUntil(
        events,
        () => {
          const tunnel = ws.byId(id);
          return tunnel && until(tunnel) ? tunnel : undefined;
        },
        `app tunnel: ${what} (id ${id})`,
        timeoutMs,
        () =>
          JSON.stringify(
            ws.byId(id) && { ...ws.byId(id), ws: undefined, raw: undefined, rawBytes: ws.byId(id)?.rawBytes.length },
          ),
      );
    },
    async close() {
      for (const g of gates.values()) g.resolve();
      server.closeAllConnections();
      ws.closeAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Canary {
  url: string;
  port: number;
  /** Every TCP connection it accepted, and every request line it read: a proxy must cause none. */
  connections(): number;
  requests: string[];
  close(): Promise<void>;
}

/** A second listener that nothing should ever reach: the host a hostile request tries to name. */
export async function startCanary(): Promise<Canary> {
  let connections = 0;
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.end('canary\n');
  });
  server.on('connection', () => connections++);
  server.on('connect', (req: http.IncomingMessage, socket: Socket) => {
    requests.push(`CONNECT ${req.url}`);
    socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: () => connections,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
