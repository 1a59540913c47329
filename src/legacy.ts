/**
 * The demo legacy app: the thing the sidecar stands in front of. It answers "Hello you!" on
 * GET / ("Hello alice!" when the sidecar's access control says who the user is, in
 * X-Forwarded-User) and 404 elsewhere, on PORT (default 8080), and echoes WebSocket messages on /ws, so a
 * user can see a tunnel work. Kept deliberately plain: it is the app nobody may change, it reads
 * only PORT, and it imports only Node's own modules (its image holds this one file).
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';

const port = Number(process.env.PORT ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`legacy: PORT must be a port number, got ${JSON.stringify(process.env.PORT)}\n`);
  process.exit(1);
}

const server = createServer((req, res) => {
  if (req.url === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
    // Trusted only because the sidecar strips a client's own X-Forwarded-User (docs/access-control.md).
    const user = req.headers['x-forwarded-user'];
    // Plain text and nosniff: a user name is shown, never interpreted as markup.
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
    res.end(typeof user === 'string' && user !== '' ? `Hello ${user}!` : 'Hello you!');
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('Not found');
});

// A minimal RFC 6455 echo: the handshake (§4.2.2), then each message back whole (text stays
// text), pings answered, the close echoed (§5.5.1). Good for trying the sidecar, nothing more.
const tunnels = new Set<Socket>();
server.on('upgrade', (req, socket: Socket) => {
  const key = req.headers['sec-websocket-key'];
  if (req.url !== '/ws' || String(req.headers.upgrade).toLowerCase() !== 'websocket' || typeof key !== 'string') {
    socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    return;
  }
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`,
  );
  tunnels.add(socket);
  socket.on('close', () => tunnels.delete(socket));
  socket.on('error', () => socket.destroy());
  let buffered = Buffer.alloc(0);
  let message: Buffer[] = [];
  let messageOpcode = 1;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      if (buffered.length < 2) return;
      const fin = (buffered[0] as number) & 0x80;
      const opcode = (buffered[0] as number) & 0x0f;
      let length = (buffered[1] as number) & 0x7f;
      let at = 2;
      if (length === 126) [length, at] = [buffered.length < 4 ? -1 : buffered.readUInt16BE(2), 4];
      else if (length === 127) [length, at] = [buffered.length < 10 ? -1 : Number(buffered.readBigUInt64BE(2)), 10];
      if (length < 0 || buffered.length < at + 4 + length) return;
      const mask = buffered.subarray(at, at + 4);
      const payload = Buffer.from(buffered.subarray(at + 4, at + 4 + length)).map(
        (b, i) => b ^ (mask[i % 4] as number),
      );
      buffered = buffered.subarray(at + 4 + length);
      if (opcode === 8) return void socket.end(frame(8, Buffer.from(payload)));
      if (opcode === 9) socket.write(frame(10, Buffer.from(payload)));
      if (opcode > 2 && opcode !== 0) continue;
      if (opcode !== 0) messageOpcode = opcode;
      message.push(Buffer.from(payload));
      if (fin) {
        socket.write(frame(messageOpcode, Buffer.concat(message)));
        message = [];
      }
    }
  });
});

/** An unmasked server frame (§5.2). */
function frame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (n >= 126) {
    head[0] = 0x80 | opcode;
    head[1] = n < 65536 ? 126 : 127;
    if (n < 65536) head.writeUInt16BE(n, 2);
    else head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

server.listen(port, () => {
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  process.stderr.write(`legacy: listening on http://localhost:${actual}\n`);
});

const stop = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  // closeAllConnections() would not reach upgraded sockets either (nodejs.org/api/http.html).
  for (const socket of tunnels) socket.destroy();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
