/**
 * HTTP answers written on the raw socket of a handshake that got no tunnel: the app's own refusal
 * relayed as it was, or the sidecar's error from the one place errors become responses.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBodyBytes, errorResponse } from '../../src/errors.ts';
import type { SidecarError } from '../../src/errors.ts';
import { stripHopByHop } from '../../src/proxy/forward.ts';
import type { Handshake } from '../../src/websocket/upgrade.ts';

/** The app answered the handshake with something else than 101: that answer, as it was, then close. */
export function relayRefusal(res: IncomingMessage, socket: Duplex, handshake: Handshake): void {
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  stripHopByHop(headers);
  headers.set('x-request-id', handshake.requestId);
  // The client's connection was handed over for the upgrade: it ends after this answer, which
  // also delimits a body the app sent chunked (RFC 9112 §6.3).
  headers.set('connection', 'close');
  let head = `HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}\r\n`;
  for (const [name, value] of headers) {
    if (name === 'set-cookie') for (const cookie of headers.getSetCookie()) head += `set-cookie: ${cookie}\r\n`;
    else head += `${name}: ${value}\r\n`;
  }
  socket.write(`${head}\r\n`);
  let bytes = 0;
  res.on('data', (chunk: Buffer) => (bytes += chunk.length));
  res.pipe(socket);
  const done = (error?: 'upstream_broken' | 'client_aborted') =>
    handshake.answered(error === 'client_aborted' ? 499 : (res.statusCode ?? 502), error, bytes);
  res.once('end', () => done());
  res.once('error', () => {
    socket.destroy();
    done('upstream_broken');
  });
  socket.once('close', () => {
    if (!res.readableEnded) {
      res.destroy();
      done('client_aborted');
    }
  });
}

/** The sidecar's own answer (502, 504, ...) on the raw socket, from the one place errors become responses. */
export async function writeError(
  socket: Duplex,
  error: SidecarError,
  handshake: Handshake | undefined,
  requestId = handshake?.requestId,
): Promise<void> {
  handshake?.answered(error.status, error.reason, errorBodyBytes(error.message));
  if (socket.destroyed) return;
  const response = errorResponse(error.status, error.message, requestId ?? crypto.randomUUID(), true);
  const body = await response.text();
  let head = `HTTP/1.1 ${error.status} ${statusText[error.status] ?? ''}\r\n`;
  for (const [name, value] of response.headers) head += `${name}: ${value}\r\n`;
  socket.end(`${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/** An answer the core made (the door's refusal, a login redirect) on the raw socket, then close. */
export async function writeResponse(socket: Duplex, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  if (socket.destroyed) return;
  let head = `HTTP/1.1 ${response.status} ${statusText[response.status] ?? ''}\r\n`;
  for (const [name, value] of response.headers) {
    if (name === 'set-cookie')
      for (const cookie of response.headers.getSetCookie()) head += `set-cookie: ${cookie}\r\n`;
    else if (name !== 'connection' && name !== 'content-length') head += `${name}: ${value}\r\n`;
  }
  socket.end(Buffer.concat([Buffer.from(`${head}connection: close\r\ncontent-length: ${body.length}\r\n\r\n`), body]));
}

const statusText: Record<number, string> = {
  302: 'Found',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  413: 'Content Too Large',
  429: 'Too Many Requests',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};
