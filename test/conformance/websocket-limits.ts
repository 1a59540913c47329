/**
 * Holds docs/behaviour.md#upgrade-and-websocket: a relay's memory is bounded whatever clients
 * send. A message over WS_MAX_MESSAGE_BYTES closes the tunnel with 1009 on both legs, either way,
 * none of it passed on; one exactly at the limit passes. Node's tunnel parses no message, so there
 * the limit changes nothing and the bytes pass unchanged (known-differences.ts).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar } from '../support/sidecar.ts';
import type { Sidecar } from '../support/sidecar.ts';
import { connectWs } from '../support/ws-client.ts';
import type { Conformance } from './context.ts';
import { knownDifferences } from './known-differences.ts';
import { END_WAIT_MS, wsUrl } from './websocket.ts';

const LIMIT = 1024 * 1024;
const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex');

export function webSocketLimitTests(t: Conformance): void {
  describe('WebSocket message limit', () => {
    let sidecar: Promise<Sidecar>;
    beforeAll(() => {
      sidecar = startSidecar(t.runtime, {
        TARGET: t.upstream.url,
        LOG_FORMAT: 'json',
        WS_MAX_MESSAGE_BYTES: String(LIMIT),
      });
      sidecar.catch(() => undefined);
    });
    afterAll(async () => {
      await (await sidecar.catch(() => undefined))?.stop();
    });
    const limited = () => knownDifferences.webSocketMessageLimited.has(t.runtime);

    async function tunnel() {
      const id = t.id('ws-limit');
      const client = await connectWs(wsUrl(await sidecar, `/ws/echo?id=${id}`));
      const app = await t.upstream.waitForTunnel(id, (a) => a.ws !== undefined, 'the app side to open');
      return { id, client, app };
    }

    it('a message exactly at WS_MAX_MESSAGE_BYTES passes both ways whole', async () => {
      const { client, app } = await tunnel();
      const binary = Buffer.alloc(LIMIT, 3);
      // Two-byte characters: the limit counts UTF-8 bytes, not characters.
      const text = 'é'.repeat(LIMIT / 2);
      client.ws.send(binary);
      client.ws.send(text);
      const back = await client.message(1);
      expect(back.data.toString()).toBe(text);
      expect(sha1(client.messages[0]!.data)).toBe(sha1(binary));
      expect(app.messages.map((m) => [m.binary, m.data.length])).toEqual([
        [true, LIMIT],
        [false, LIMIT],
      ]);
      client.ws.close();
    });

    it("a client's message one byte over closes the tunnel with 1009 on both legs, none of it at the app, on a relay; Node's tunnel passes it unchanged", async () => {
      const { id, client, app } = await tunnel();
      const over = Buffer.alloc(LIMIT + 1, 5);
      client.ws.send(over);
      if (!limited()) {
        const echoed = await client.message(0);
        expect(sha1(echoed.data)).toBe(sha1(over));
        client.ws.close();
        return;
      }
      expect((await client.closed(END_WAIT_MS)).code).toBe(1009);
      const closed = await t.upstream.waitForTunnel(id, (a) => a.closed, 'the app side closed', END_WAIT_MS);
      expect(closed.close?.code).toBe(1009);
      expect(app.bytesReceived).toBe(0);
      expect(app.messages).toEqual([]);
    });

    it("an app's message one byte over closes the tunnel with 1009 on both legs, none of it at the client, on a relay; Node's tunnel passes it unchanged", async () => {
      const { id, client, app } = await tunnel();
      const over = Buffer.alloc(LIMIT + 1, 9);
      app.ws?.send(over);
      if (!limited()) {
        expect(sha1((await client.message(0)).data)).toBe(sha1(over));
        client.ws.close();
        return;
      }
      expect((await client.closed(END_WAIT_MS)).code).toBe(1009);
      expect(client.bytesReceived).toBe(0);
      const closed = await t.upstream.waitForTunnel(id, (a) => a.closed, 'the app side closed', END_WAIT_MS);
      expect(closed.close?.code).toBe(1009);
    });
  });
}
