/**
 * The HTTPS port's front door on Node: a plain TCP listener that looks at the first byte of each
 * connection before the TLS server sees it. A TLS connection starts with a handshake record
 * (content type 22, RFC 8446 §5.1) and is handed to the TLS server as it is (the byte is put back;
 * Node's TLSSocket reads what a socket has buffered). Anything else is a plain-HTTP client that got
 * the scheme wrong: it is answered 400 and told so, as nginx does ("The plain HTTP request was sent
 * to HTTPS port"), instead of a TLS alert or a silent close, and the refusal is logged.
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { Refusal } from '../../src/proxy/refusal.ts';
import { requestLine } from './client-error.ts';

const tlsHandshake = 0x16;
/** A client that connects and says nothing is let go after this, as one trickling its headers is (headersTimeout). */
const firstByteTimeoutMs = 60_000;
/** How much of a plain request is read before answering (its request line and headers, as maxHeaderSize). */
const headLimit = 16 * 1024;

const body = 'Bad request: the plain HTTP request was sent to the HTTPS port; use https://\n';
const answer =
  `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
  `Connection: close\r\n\r\n${body}`;

/** What the front door tells its owner of a plain request it refused. */
export type PlainHttpRefused = (refusal: Refusal) => void;

export interface FrontDoor {
  /** The listener to bind to PORT. */
  server: Server;
  /** Ends the connections that have not yet said anything (the drain's idle connections). */
  closeSilent(): void;
}

export function createFrontDoor(tlsServer: Server, refused: PlainHttpRefused): FrontDoor {
  const silent = new Set<Socket>();
  const server = createServer((socket) => {
    silent.add(socket);
    socket.on('error', () => socket.destroy());
    socket.setTimeout(firstByteTimeoutMs, () => socket.destroy());
    socket.once('close', () => silent.delete(socket));
    const look = () => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) return void socket.once('readable', look);
      silent.delete(socket);
      socket.setTimeout(0);
      socket.unshift(first);
      if (first[0] === tlsHandshake) {
        socket.removeAllListeners('error');
        tlsServer.emit('connection', socket);
      } else refusePlain(socket, refused);
    };
    socket.once('readable', look);
  });
  return { server, closeSilent: () => silent.forEach((socket) => socket.destroy()) };
}

/** Reads the request's head (bounded), answers 400, and closes once the client has it. */
function refusePlain(socket: Socket, refused: PlainHttpRefused): void {
  let head = Buffer.alloc(0);
  let answered = false;
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    if (head.includes('\r\n\r\n') || head.length >= headLimit) done();
  };
  const done = () => {
    if (answered) return;
    answered = true;
    socket.off('data', onData);
    refused({
      status: 400,
      reason: 'bad_request',
      ...requestLine(head),
      remoteAddress: socket.remoteAddress,
      bytesOut: Buffer.byteLength(body),
    });
    // The rest (a body) is read and dropped until the client closes, so that closing does not
    // reset the connection under the answer (RFC 9112 §9.6), for at most a few seconds.
    socket.end(answer);
    socket.resume();
    socket.setTimeout(5000, () => socket.destroy());
  };
  socket.on('data', onData);
  socket.setTimeout(firstByteTimeoutMs, done);
}
