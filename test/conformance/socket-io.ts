/**
 * A real WebSocket framework behind the sidecar (issue 8's "a Socket.IO app works"): a Socket.IO
 * server as the app, socket.io-client as the browser would use it, WebSocket transport only, so
 * every packet crosses the tunnel. Socket.IO's server speaks first (its engine.io open packet,
 * right behind the 101), which is what a relay must not lose; then events with acknowledgements
 * both ways, binary attachments, and a server push.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar } from '../support/sidecar.ts';
import type { Sidecar } from '../support/sidecar.ts';
import type { Conformance } from './context.ts';

export function socketIoTests(t: Conformance): void {
  describe('a Socket.IO app', () => {
    const http = createServer((_req, res) => res.end('not socket.io\n'));
    // 16 MiB: the attachment below is 5 MiB (Socket.IO's default cap is 1 MB).
    const app = new Server(http, { transports: ['websocket'], maxHttpBufferSize: 16 * 1024 * 1024 });
    app.on('connection', (socket) => {
      socket.on('add', (a: number, b: number, ack: (sum: number) => void) => ack(a + b));
      socket.on('upload', (data: Buffer, ack: (length: number) => void) => ack(data.length));
      socket.on('ask', (ack: (reply: string) => void) => {
        // The app asks the client in turn, and pushes an event with a binary attachment.
        socket.emit('push', Buffer.from([9, 8, 7]));
        socket
          .timeout(5_000)
          .emit('question', 'ping?', (error: Error | null, answer: string) =>
            ack(error ? `no answer: ${error.message}` : answer),
          );
      });
    });
    let sidecar: Sidecar;
    const clients: Socket[] = [];

    beforeAll(async () => {
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      sidecar = await startSidecar(t.runtime, { TARGET: `http://127.0.0.1:${(http.address() as AddressInfo).port}` });
    });
    afterAll(async () => {
      for (const client of clients) client.close();
      await sidecar?.stop();
      await app.close();
    });

    const open = async () => {
      const client = connect(sidecar.url, { transports: ['websocket'], reconnection: false, timeout: 10_000 });
      clients.push(client);
      await new Promise<void>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('connect_error', reject);
      });
      return client;
    };

    it('connects over the tunnel and answers events with acknowledgements, a 5 MiB binary one included', async () => {
      const client = await open();
      expect(client.io.engine.transport.name).toBe('websocket');
      expect(await client.timeout(5_000).emitWithAck('add', 2, 3)).toBe(5);
      expect(await client.timeout(10_000).emitWithAck('upload', Buffer.alloc(5 * 1024 * 1024, 1))).toBe(
        5 * 1024 * 1024,
      );
    });

    it("carries the app's pushes and its own acknowledged questions to the client", async () => {
      const client = await open();
      const pushed = new Promise<Buffer>((resolve) => client.once('push', resolve));
      client.on('question', (question: string, ack: (answer: string) => void) => ack(`${question} pong!`));
      expect(await client.timeout(5_000).emitWithAck('ask')).toBe('ping? pong!');
      expect([...(await pushed)]).toEqual([9, 8, 7]);
    });

    it('logs the tunnel as one line with status 101 and "upgrade":"websocket" once the client leaves', async () => {
      const client = await open();
      const sid = client.io.engine.id;
      client.close();
      const line = await sidecar.waitForLog(
        (e) =>
          typeof e.path === 'string' &&
          e.path.startsWith('/socket.io/') &&
          e.upgrade === 'websocket' &&
          Number(e.bytes_out) > 0,
        'the tunnel line',
      );
      expect(line).toMatchObject({ status: 101, method: 'GET' });
      expect(sid).toBeTruthy();
    });
  });
}
