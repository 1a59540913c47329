/**
 * Clients for the conformance suite. `node:http` rather than fetch where fetch would hide what is
 * tested (it decompresses gzip, drops hop-by-hop headers and a Host you set); raw sockets where
 * even `node:http` would refuse to send the bytes (smuggling, absolute-form, oversized headers).
 */
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DEFAULT_WAIT_MS as TIMEOUT, waitUntil, withTimeout } from './wait.ts';

export type HeaderList = [string, string][];

export interface SendOptions {
  method?: string;
  /** Headers in order, repeated names allowed; a Host here replaces the one node would set. */
  headers?: HeaderList;
  body?: Buffer | string | AsyncIterable<Buffer>;
  agent?: http.Agent | false;
  /** The client's source address (e.g. 127.0.0.2: another loopback client). */
  localAddress?: string;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Names and values as they came on the wire, in order. */
  rawHeaders: string[];
  body: Buffer;
  /** The whole message arrived (a cut-off body leaves this false). */
  complete: boolean;
  /** The error the response stream ended with, if any. */
  error: Error | undefined;
}

export interface OpenResponse {
  req: http.ClientRequest;
  res: http.IncomingMessage;
}

/** Sends a request; `response` resolves when its headers arrive (bounded), `req` is there to abort it. */
export function start(
  url: string,
  path: string,
  options: SendOptions = {},
): { req: http.ClientRequest; response: Promise<http.IncomingMessage> } {
  const { hostname, port } = new URL(url);
  const flat: string[] = [];
  const headers = options.headers ?? [];
  const hasHost = headers.some(([name]) => name.toLowerCase() === 'host');
  if (!hasHost) flat.push('Host', `${hostname}:${port}`);
  for (const [name, value] of headers) flat.push(name, value);
  const { body } = options;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    if (!headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name)))
      flat.push('Content-Length', String(Buffer.byteLength(body)));
  }
  const req = http.request({
    host: hostname,
    port,
    method: options.method ?? 'GET',
    path,
    headers: flat,
    agent: options.agent ?? false,
    setHost: false,
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  // Errors after the response (a test aborting it, a cut-off body) are the test's to observe.
  req.on('error', () => undefined);
  if (body === undefined) req.end();
  else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
  else pipeline(Readable.from(body), req).catch((error: unknown) => req.destroy(error as Error));
  return {
    req,
    response: withTimeout(
      response,
      `response headers for ${options.method ?? 'GET'} ${path.length > 200 ? `${path.slice(0, 200)}...` : path}`,
    ),
  };
}

/** Sends a request and resolves once the response headers arrived; the body is left unread. */
export async function open(url: string, path: string, options: SendOptions = {}): Promise<OpenResponse> {
  const { req, response } = start(url, path, options);
  return { req, res: await response };
}

export interface BodyResult {
  body: Buffer;
  /** The whole message arrived as framed (a cut-off body leaves this false). */
  complete: boolean;
  error: Error | undefined;
}

/**
 * Reads a response body as it arrives: `received(n)` resolves once n bytes came (bounded), `end()`
 * once the response closed, never throwing on a cut-off body.
 */
export function collect(res: http.IncomingMessage) {
  const chunks: Buffer[] = [];
  let length = 0;
  let error: Error | undefined;
  const events = new EventEmitter();
  res.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
    events.emit('change');
  });
  res.on('error', (e) => (error = e));
  const closed = res.closed ? Promise.resolve() : new Promise<void>((resolve) => res.once('close', () => resolve()));
  return {
    body: () => Buffer.concat(chunks),
    received: (n: number, what: string) =>
      waitUntil(
        events,
        () => (length >= n ? true : undefined),
        what,
        TIMEOUT,
        () => `received ${length} bytes`,
      ),
    async end(): Promise<BodyResult> {
      await withTimeout(closed, 'the end of the response body');
      return { body: Buffer.concat(chunks), complete: res.complete && error === undefined, error };
    },
  };
}

/** Reads a response body to its end (or its error), never throwing on a cut-off body. */
export function readBody(res: http.IncomingMessage): Promise<BodyResult> {
  return collect(res).end();
}

export async function send(url: string, path: string, options: SendOptions = {}): Promise<HttpResponse> {
  const { req, res } = await open(url, path, options);
  const { body, complete, error } = await readBody(res);
  // A client that asked for keep-alive would otherwise leave the connection open.
  req.destroy();
  return { status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body, complete, error };
}

/** The values of a header, from rawHeaders (name case-insensitive), in order. */
export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === name.toLowerCase()) values.push(rawHeaders[i + 1] ?? '');
  }
  return values;
}

// ---------------------------------------------------------------------------------------------
// Raw sockets

export interface RawResponse {
  statusLine: string;
  status: number;
  headers: HeaderList;
  body: Buffer;
  /** The body ended where its framing said (Content-Length reached, or the last chunk seen). */
  complete: boolean;
  /** All bytes of this response as received. */
  raw: Buffer;
  get(name: string): string | undefined;
  getAll(name: string): string[];
}

/** A client connection on which a test writes exact bytes and parses what comes back. */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  private ended = false;
  private waiters: (() => void)[] = [];

  readonly socket: net.Socket;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.poke();
    });
    const end = () => {
      this.ended = true;
      this.poke();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  /** `localAddress`: the client's source address (e.g. 127.0.0.2: another loopback client). */
  static async open(url: string, localAddress?: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    const socket = net.connect({ port: Number(port), host: hostname, ...(localAddress ? { localAddress } : {}) });
    await withTimeout(once(socket, 'connect'), `a connection to ${url}`);
    return new RawConnection(socket);
  }

  /** The server closed (or reset) the connection. */
  get closed(): boolean {
    return this.ended;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next response on this connection, or undefined if the connection closed without one. */
  async readResponse(options: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse | undefined> {
    return withTimeout(
      this.nextResponse(options.head ?? false),
      'a response on a raw connection',
      options.timeoutMs ?? TIMEOUT,
    );
  }

  /** Resolves true once the server closed the connection, false if it is still open after the wait. */
  async waitClosed(timeoutMs = 5_000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    while (!this.ended) {
      const woke = await Promise.race([this.changed().then(() => true), timeout.then(() => false)]);
      if (!woke) break;
    }
    clearTimeout(timer);
    return this.ended;
  }

  /** Everything received and not yet consumed by readResponse. */
  get unread(): Buffer {
    return this.buffer;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private poke() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async nextResponse(head: boolean): Promise<RawResponse | undefined> {
    for (;;) {
      const parsed = parseResponse(this.buffer, head, this.ended);
      if (parsed === 'need-more') {
        if (this.ended) return this.buffer.length === 0 ? undefined : truncated(this.buffer);
        await this.changed();
        continue;
      }
      this.buffer = this.buffer.subarray(parsed.raw.length);
      // 1xx responses (100 Continue) precede the real one.
      if (parsed.status >= 100 && parsed.status < 200 && parsed.status !== 101) continue;
      return parsed;
    }
  }
}

/** Opens a connection, writes `data`, reads one response (undefined if the server closed without one), closes. */
export async function rawExchange(url: string, data: string | Buffer): Promise<RawResponse | undefined> {
  const connection = await RawConnection.open(url);
  connection.write(data);
  try {
    return await connection.readResponse();
  } finally {
    connection.destroy();
  }
}

/** Like rawExchange, and also reports whether the server closed the connection after its response. */
export async function rawExchangeUntilClose(
  url: string,
  data: string | Buffer,
): Promise<{ response: RawResponse | undefined; closed: boolean }> {
  const connection = await RawConnection.open(url);
  connection.write(data);
  try {
    const response = await connection.readResponse();
    return { response, closed: await connection.waitClosed() };
  } finally {
    connection.destroy();
  }
}

function makeResponse(
  statusLine: string,
  headers: HeaderList,
  body: Buffer,
  complete: boolean,
  raw: Buffer,
): RawResponse {
  return {
    statusLine,
    status: Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1] ?? 0),
    headers,
    body,
    complete,
    raw,
    get: (name) => headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1],
    getAll: (name) => headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v),
  };
}

/** What arrived when the connection closed in the middle of a response. */
function truncated(buffer: Buffer): RawResponse {
  const headEnd = buffer.indexOf('\r\n\r\n');
  const head = buffer.subarray(0, headEnd === -1 ? buffer.length : headEnd).toString('latin1');
  const [statusLine = '', ...lines] = head.split('\r\n');
  return makeResponse(
    statusLine,
    splitHeaders(lines),
    headEnd === -1 ? Buffer.alloc(0) : buffer.subarray(headEnd + 4),
    false,
    buffer,
  );
}

function splitHeaders(lines: string[]): HeaderList {
  return lines.map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
  });
}

/**
 * Parses one HTTP/1.1 response from the start of `buffer`: Content-Length, chunked, or (with no
 * framing) up to the close. 'need-more' until the message is complete.
 */
export function parseResponse(buffer: Buffer, head: boolean, closed: boolean): RawResponse | 'need-more' {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd === -1) return 'need-more';
  const [statusLine = '', ...lines] = buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
  const headers = splitHeaders(lines);
  const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const bodyStart = headEnd + 4;
  const header = (name: string) => headers.find(([n]) => n.toLowerCase() === name)?.[1];
  const done = (bodyEnd: number, body: Buffer) =>
    makeResponse(statusLine, headers, body, true, buffer.subarray(0, bodyEnd));

  if (head || status === 204 || status === 304 || (status >= 100 && status < 200))
    return done(bodyStart, Buffer.alloc(0));
  if (/chunked/i.test(header('transfer-encoding') ?? '')) {
    const chunks: Buffer[] = [];
    let at = bodyStart;
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at);
      if (lineEnd === -1) return 'need-more';
      const size = parseInt(buffer.subarray(at, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
      if (Number.isNaN(size)) return 'need-more';
      at = lineEnd + 2;
      if (size === 0) {
        // Trailers, then an empty line.
        for (;;) {
          const trailerEnd = buffer.indexOf('\r\n', at);
          if (trailerEnd === -1) return 'need-more';
          const empty = trailerEnd === at;
          at = trailerEnd + 2;
          if (empty) return done(at, Buffer.concat(chunks));
        }
      }
      if (buffer.length < at + size + 2) return 'need-more';
      chunks.push(buffer.subarray(at, at + size));
      at += size + 2;
    }
  }
  const length = header('content-length');
  if (length !== undefined) {
    const end = bodyStart + Number(length);
    if (buffer.length < end) return 'need-more';
    return done(end, buffer.subarray(bodyStart, end));
  }
  if (!closed) return 'need-more';
  return done(buffer.length, buffer.subarray(bodyStart));
}

/** A minimal HTTP/1.1 request as bytes. */
export function rawRequest(requestLine: string, headers: HeaderList, body: string | Buffer = ''): Buffer {
  const head = `${requestLine}\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1')]);
}
