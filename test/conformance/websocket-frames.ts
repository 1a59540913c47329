/**
 * Holds docs/behaviour.md#upgrade-and-websocket: raw frames through a tunnel, where bytes matter.
 * On Node the app must receive exactly the bytes the client sent (masked, fragmented, 64-bit
 * length, RSV1 with permessage-deflate as negotiated), and a FIN is passed on per direction; a
 * relay (Bun, Deno) re-frames whole messages, asserted as it stands (known-differences.ts).
 */
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { RawWsClient, clientFrame, parseFrames } from '../support/ws-client.ts';
import type { Conformance } from './context.ts';
import { knownDifferences } from './known-differences.ts';
import { END_WAIT_MS, webSocketHelpers } from './websocket.ts';

export function webSocketFrameTests(t: Conformance): void {
  const { relayed } = webSocketHelpers(t);

  describe('WebSocket frames', () => {
    it('frames pass byte for byte on a raw tunnel (masked, fragmented, 64-bit length, RSV1 with permessage-deflate as negotiated); a relay re-frames whole messages', async () => {
      const s = await t.main();
      const id = t.id('ws-raw');
      const offer = 'permessage-deflate; client_max_window_bits=10; server_no_context_takeover';
      const { client, head } = await RawWsClient.open(s.host, s.port, `/ws/raw?id=${id}`, [
        `Sec-WebSocket-Extensions: ${offer}`,
      ]);
      expect(head).toMatch(/^HTTP\/1\.1 101 /);
      const app = await t.upstream.waitForTunnel(id, (a) => a.raw !== undefined, 'the raw app side');
      const compressed = zlib
        .deflateRawSync(Buffer.from('squeezed'), { flush: zlib.constants.Z_SYNC_FLUSH })
        .subarray(0, -4);
      const frames = [
        clientFrame(Buffer.from('Hel'), { opcode: 1, fin: false }),
        clientFrame(Buffer.from('lo'), { opcode: 0, fin: true }),
        clientFrame(Buffer.alloc(70_000, 7), { opcode: 2 }),
      ];
      if (!relayed()) frames.push(clientFrame(compressed, { opcode: 1, rsv1: true }));
      const bytes = Buffer.concat(frames);
      client.socket.write(bytes);
      if (relayed()) {
        expect(app.headers['sec-websocket-extensions']).toBeUndefined();
        const got = await t.upstream.waitForTunnel(
          id,
          (a) => parseFrames(a.rawBytes).length >= 2,
          'two messages at the app',
        );
        // One message per message, whole: the two fragments arrive as one frame.
        expect(parseFrames(got.rawBytes).map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([
          [1, true, 5],
          [2, true, 70_000],
        ]);
        expect(parseFrames(got.rawBytes)[0]?.payload.toString()).toBe('Hello');
      } else {
        // The extension offer and the app's answer pass unchanged.
        expect(app.headers['sec-websocket-extensions']).toBe(offer);
        expect(head).toContain(`Sec-WebSocket-Extensions: ${offer}\r\n`);
        const got = await t.upstream.waitForTunnel(
          id,
          (a) => a.rawBytes.length >= bytes.length,
          'every byte at the app',
        );
        expect(got.rawBytes.equals(bytes)).toBe(true);
        // And the other way: the app's unmasked frames reach the client as written.
        const reply = Buffer.concat([
          Buffer.from([0x81, 0x02]),
          Buffer.from('ok'),
          Buffer.from([0xc1, compressed.length]),
          compressed,
        ]);
        app.raw?.write(reply);
        await client.waitFor(() => (client.received.length >= reply.length ? true : undefined), 'the reply');
        expect(client.received.equals(reply)).toBe(true);
      }
      client.socket.destroy();
    });

    it("a close the app never answers: a relay cuts the app's leg after its grace; a raw tunnel leaves the closing handshake to the two ends", async () => {
      const s = await t.main();
      const id = t.id('ws-deaf');
      const { client } = await RawWsClient.open(s.host, s.port, `/ws/raw?id=${id}`, []);
      await t.upstream.waitForTunnel(id, (a) => a.raw !== undefined, 'the raw app side');
      const close = clientFrame(Buffer.from([0x0f, 0xa1, ...Buffer.from('bye')]), { opcode: 8 });
      client.socket.write(close);
      const app = await t.upstream.waitForTunnel(
        id,
        (a) => parseFrames(a.rawBytes).some((f) => f.opcode === 8),
        'the close frame at the app',
      );
      // Code 4001 and the reason, as the client sent them.
      expect(parseFrames(app.rawBytes).find((f) => f.opcode === 8)?.payload).toEqual(
        Buffer.from([0x0f, 0xa1, ...Buffer.from('bye')]),
      );
      if (relayed()) {
        // The app never answers: its leg is cut after the relay's grace (a second), not left open.
        await t.upstream.waitForTunnel(id, (a) => a.closed || a.rawEnded, "the app's leg cut", END_WAIT_MS);
      } else {
        expect(app.rawBytes.equals(close)).toBe(true);
        expect(app.closed).toBe(false);
      }
      client.socket.destroy();
    });

    it('a frame the client sends right behind its handshake, before the 101, reaches the app', async () => {
      const s = await t.main();
      const id = t.id('ws-early');
      const frame = clientFrame(Buffer.from('eager'), { opcode: 1 });
      const { client, head } = await RawWsClient.open(s.host, s.port, `/ws/raw?id=${id}`, [], frame);
      if (knownDifferences.webSocketEarlyFrameRefused.has(t.runtime)) {
        expect(head).toMatch(/^HTTP\/1\.1 400 /);
        expect(t.upstream.ws.byId(id)).toBeUndefined();
        client.socket.destroy();
        return;
      }
      const app = await t.upstream.waitForTunnel(
        id,
        (a) => parseFrames(a.rawBytes).length >= 1,
        'the early frame at the app',
      );
      if (relayed()) expect(parseFrames(app.rawBytes)[0]?.payload.toString()).toBe('eager');
      else expect(app.rawBytes.equals(frame)).toBe(true);
      client.socket.destroy();
    });

    it('a FIN is passed on per direction: after the client half-closes, the app can still answer', async () => {
      const s = await t.main();
      const id = t.id('ws-half');
      const { client } = await RawWsClient.open(s.host, s.port, `/ws/raw?id=${id}`, []);
      const app = await t.upstream.waitForTunnel(id, (a) => a.raw !== undefined, 'the raw app side');
      const frame = clientFrame(Buffer.from('last words'), { opcode: 1 });
      client.socket.end(frame);
      if (relayed()) {
        // A relay has no half-close: the message goes on, then the client's FIN ends its leg and
        // the app's leg after it (the app sees its FIN).
        const app = await t.upstream.waitForTunnel(
          id,
          (a) => a.rawEnded,
          "the client's end passed to the app",
          END_WAIT_MS,
        );
        expect(parseFrames(app.rawBytes)[0]?.payload.toString()).toBe('last words');
        return;
      }
      await t.upstream.waitForTunnel(
        id,
        (a) => a.rawEnded && a.rawBytes.length >= frame.length,
        'the FIN at the app, after the frame',
      );
      const late = Buffer.from([0x81, 0x04, ...Buffer.from('late')]);
      app.raw?.write(late);
      await client.waitFor(
        () => (client.received.length >= late.length ? true : undefined),
        'the late answer after the FIN',
      );
      expect(client.received.equals(late)).toBe(true);
      app.raw?.end();
      await client.waitFor(
        () => (client.closed ? true : undefined),
        'the client socket to close after both FINs',
        END_WAIT_MS,
      );
    });
  });
}
