/**
 * A real OTLP/HTTP receiver for the tests: a node:http server on 127.0.0.1 that accepts
 * `POST /v1/traces` (or any path, recorded) in both encodings, decodes each with the test-only
 * decoders (otlp-decode.ts), and answers as the test says: 200 by default, any status with
 * headers (503 + Retry-After), or never (a hung collector).
 */
import { EventEmitter, once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { decodeJsonRequest, decodeProtobufRequest, spansOf } from './otlp-decode.ts';
import type { DecodedRequest } from './otlp-decode.ts';
import { waitUntil } from './wait.ts';

export interface ReceivedExport {
  path: string;
  headers: IncomingHttpHeaders;
  contentType: string | undefined;
  bytes: number;
  /** What was decoded, or why it could not be. */
  request: DecodedRequest | undefined;
  error: string | undefined;
  status: number | 'hung';
}

/** How to answer the n-th export to a path (1-based): a status and headers, or 'hang' to never answer. */
export type Answer = { status: number; headers?: Record<string, string> } | 'hang';

export interface OtlpReceiver {
  url: string;
  /** Every export received so far, in order (hung ones included). */
  exports: ReceivedExport[];
  spans(): ReturnType<typeof spansOf>;
  answer(decide: (n: number, path: string) => Answer): void;
  /** Resolves with the spans once `match` holds for them; bounded. */
  waitForSpans(
    match: (spans: ReturnType<typeof spansOf>) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<ReturnType<typeof spansOf>>;
  waitForExports(n: number, timeoutMs?: number): Promise<ReceivedExport[]>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const exports: ReceivedExport[] = [];
  let decide: (n: number, path: string) => Answer = () => ({ status: 200 });
  const hung = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const contentType = req.headers['content-type'];
      let request: DecodedRequest | undefined;
      let error: string | undefined;
      try {
        if (contentType === 'application/x-protobuf') request = decodeProtobufRequest(new Uint8Array(body));
        else if (contentType === 'application/json') request = decodeJsonRequest(body.toString('utf8'));
        else error = `unexpected content-type ${contentType}`;
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
      const path = req.url ?? '';
      const answer = decide(exports.filter((e) => e.path === path).length + 1, path);
      exports.push({
        path,
        headers: req.headers,
        contentType,
        bytes: body.length,
        request,
        error,
        status: answer === 'hang' ? 'hung' : answer.status,
      });
      events.emit('change');
      if (answer === 'hang') {
        hung.add(res);
        return;
      }
      // specification.md: the response is an ExportTraceServiceResponse in the request's encoding (empty = full success).
      res.writeHead(answer.status, { 'content-type': contentType ?? 'application/x-protobuf', ...answer.headers });
      res.end(contentType === 'application/json' ? '{}' : '');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const spans = () =>
    exports.filter((e) => e.status !== 'hung' && e.status < 300).flatMap((e) => (e.request ? spansOf(e.request) : []));

  return {
    url: `http://127.0.0.1:${port}`,
    exports,
    spans,
    answer: (fn) => void (decide = fn),
    waitForSpans: (match, what, timeoutMs = 15_000) =>
      waitUntil(
        events,
        () => (match(spans()) ? spans() : undefined),
        `the receiver to get ${what}`,
        timeoutMs,
        () =>
          `exports so far: ${JSON.stringify(exports.map((e) => ({ path: e.path, status: e.status, spans: e.request ? spansOf(e.request).length : e.error })))}`,
      ),
    waitForExports: (n, timeoutMs = 15_000) =>
      waitUntil(events, () => (exports.length >= n ? exports.slice() : undefined), `${n} export(s)`, timeoutMs),
    async close() {
      for (const res of hung) res.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
