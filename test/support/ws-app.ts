/**
 * The app's WebSocket side in the conformance suite: the `ws` package (the most used WebSocket
 * library, checked against Autobahn) on the upstream's 'upgrade' event. It records each handshake
 * as it arrived and each tunnel's messages and close, so a test can see what the app got.
 *
 * Routes (the `id` query parameter names the tunnel for the test):
 *   /ws/echo?id=&pick=second|none   echoes every message (text stays text), answers 101 with two
 *                                   Set-Cookie; picks the 2nd offered subprotocol, or none
 *   /ws/refuse?id=&status=N         answers N with a body and an X-Refused header (no upgrade)
 *   /ws/hang?id=                    never answers the handshake
 *   /ws/reset?id=                   destroys the connection instead of answering
 *   /ws/raw?id=                     a hand-written 101 (accept computed, extensions echoed), then
 *                                   records every byte received; the test writes raw bytes back
 *   /ws/firehose?id=&total=N        sends N bytes in 64 KiB binary messages, at most 1 MiB queued
 *                                   in ws at a time (it waits for the socket to take it)
 *   /ws/sink?id=                    reads nothing until the test calls ws.resume(); counts bytes
 *   /ws/hello?id=                   speaks first: a hand-written 101 with a text and a binary frame in
 *                                   the same write (as Socket.IO's open packet can come), then as /ws/raw
 */
import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';

export const wsSetCookies = ['ws-session=s1; Path=/; HttpOnly', 'ws-prefs=p2; Path=/'] as const;
export const refusalBody = 'not for you\n';

export interface AppTunnel {
  id: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  /** Open on the app's side (ws), or a raw socket for /ws/raw. */
  ws: WebSocket | undefined;
  raw: Socket | undefined;
  /** Bytes a /ws/raw tunnel received after its handshake. */
  rawBytes: Buffer;
  /** The raw socket saw the client's FIN. */
  rawEnded: boolean;
  messages: { data: Buffer; binary: boolean }[];
  pings: Buffer[];
  pongs: Buffer[];
  /** /ws/firehose: bytes handed to ws so far, and whether it waits for them to be written. */
  bytesWritten: number;
  waitingForDrain: boolean;
  /** Bytes of messages received. */
  bytesReceived: number;
  /** How the app saw the tunnel close (undefined while open). */
  close: { code: number; reason: string } | undefined;
  closed: boolean;
}

export interface WsApp {
  tunnels: AppTunnel[];
  byId(id: string): AppTunnel | undefined;
  /** Destroys every upgraded socket (server.closeAllConnections() leaves them open). */
  closeAll(): void;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function attachWsApp(server: Server, events: EventEmitter): WsApp {
  const tunnels: AppTunnel[] = [];
  const sockets = new Set<Socket>();
  const changed = () => events.emit('change');
  const wss = new WebSocketServer({
    noServer: true,
    // Above the suite's largest messages (16 MiB, and 64 MiB + 1 on /ws/sink); ws's default is 100 MiB.
    maxPayload: 100 * 1024 * 1024,
    perMessageDeflate: true,
    handleProtocols: (offered, req) => {
      const pick = new URL(req.url ?? '/', 'http://app').searchParams.get('pick');
      const list = [...offered];
      if (pick === 'none') return false;
      return list[1] ?? list[0] ?? false;
    },
  });
  wss.on('headers', (headers) => {
    for (const cookie of wsSetCookies) headers.push(`Set-Cookie: ${cookie}`);
  });

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => {});
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const url = new URL(req.url ?? '/', 'http://app');
    const record: AppTunnel = {
      id: url.searchParams.get('id') ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      ws: undefined,
      raw: undefined,
      rawBytes: Buffer.alloc(0),
      rawEnded: false,
      bytesWritten: 0,
      waitingForDrain: false,
      bytesReceived: 0,
      messages: [],
      pings: [],
      pongs: [],
      close: undefined,
      closed: false,
    };
    tunnels.push(record);
    changed();
    const route = url.pathname.replace(/^\/base(?=\/)/, '');
    if (route === '/ws/refuse') {
      const status = Number(url.searchParams.get('status') ?? '403');
      socket.end(
        `HTTP/1.1 ${status} Refused\r\nContent-Type: text/plain\r\nX-Refused: yes\r\nContent-Length: ${refusalBody.length}\r\n\r\n${refusalBody}`,
      );
      return;
    }
    if (route === '/ws/reset') {
      socket.destroy();
      return;
    }
    if (route === '/ws/hang') {
      // The sidecar giving up shows as its FIN (the server socket is half-open until the app ends it).
      const gone = () => ((record.closed = true), changed(), socket.destroy());
      socket.on('end', gone);
      socket.on('close', gone);
      return;
    }
    if (route === '/ws/raw' || route === '/ws/hello') {
      const accept = createHash('sha1')
        .update(`${String(req.headers['sec-websocket-key'])}${GUID}`)
        .digest('base64');
      const extensions = req.headers['sec-websocket-extensions'];
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n` +
          `${extensions ? `Sec-WebSocket-Extensions: ${String(extensions)}\r\n` : ''}\r\n` +
          // Two unmasked server frames (RFC 6455 §5.2) in the same write as the 101.
          (route === '/ws/hello' ? `\x81\x12hello from the app\x82\x03\x01\x02\x03` : ''),
        'latin1',
      );
      record.raw = socket;
      const take = (chunk: Buffer) => {
        record.rawBytes = Buffer.concat([record.rawBytes, chunk]);
        changed();
      };
      if (head.length > 0) take(head);
      socket.on('data', take);
      socket.on('end', () => ((record.rawEnded = true), changed()));
      socket.on('close', () => ((record.closed = true), changed()));
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      record.ws = ws;
      changed();
      if (route === '/ws/firehose') void firehose(ws, record, Number(url.searchParams.get('total') ?? '0'), changed);
      if (route === '/ws/sink') ws.pause();
      ws.on('message', (data: Buffer, binary: boolean) => {
        record.bytesReceived += data.length;
        if (route === '/ws/sink') return void changed();
        record.messages.push({ data, binary });
        changed();
        if (ws.readyState === ws.OPEN) ws.send(data, { binary });
      });
      ws.on('ping', (data: Buffer) => (record.pings.push(data), changed()));
      ws.on('pong', (data: Buffer) => (record.pongs.push(data), changed()));
      ws.on('error', () => {});
      ws.on('close', (code: number, reason: Buffer) => {
        record.close = { code, reason: reason.toString() };
        record.closed = true;
        changed();
      });
    });
  });

  return {
    tunnels,
    byId: (id) => tunnels.find((t) => t.id === id),
    closeAll: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** Sends `total` bytes, never more than 1 MiB queued in ws: a send waits for the socket to take the last one. */
async function firehose(ws: WebSocket, record: AppTunnel, total: number, changed: () => void): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 'firehose ');
  while (record.bytesWritten < total && ws.readyState === ws.OPEN) {
    const piece = chunk.subarray(0, Math.min(chunk.length, total - record.bytesWritten));
    const written = new Promise<void>((resolve) => ws.send(piece, { binary: true }, () => resolve()));
    record.bytesWritten += piece.length;
    if (ws.bufferedAmount > 1024 * 1024) {
      record.waitingForDrain = true;
      changed();
      await written;
      record.waitingForDrain = false;
    }
    changed();
  }
}
