/**
 * Holds docs/behaviour.md#upgrade-and-websocket: messages and backpressure through an open tunnel,
 * a `ws` client through the real sidecar to a `ws` app (../support/ws-app.ts); raw frames:
 * websocket-frames.ts. Where a runtime relays messages instead of bytes, the test asserts what it
 * does (known-differences.ts) and still the promise that no message is altered, merged, split or
 * lost.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { connectWs } from '../support/ws-client.ts';
import type { Conformance } from './context.ts';
import { UPSTREAM_TIMEOUT_MS } from './context.ts';
import { knownDifferences } from './known-differences.ts';
import { END_WAIT_MS, webSocketHelpers, wsUrl } from './websocket.ts';

export function webSocketMessageTests(t: Conformance): void {
  const { echoTunnel } = webSocketHelpers(t);

  describe('WebSocket messages', () => {
    it('text and binary messages at every length boundary pass whole, in order, text as text', async () => {
      const s = await t.main();
      const { client, app } = await echoTunnel(s);
      const sizes = [0, 1, 125, 126, 65535, 65536, 16 * 1024 * 1024];
      const sent: { data: Buffer; binary: boolean }[] = [{ data: Buffer.from('héllo ✓ wörld'), binary: false }];
      for (const n of sizes) sent.push({ data: Buffer.alloc(n, n % 251), binary: true });
      sent.push({ data: Buffer.from('x'.repeat(70_000)), binary: false });
      for (const m of sent) client.ws.send(m.binary ? m.data : m.data.toString(), { binary: m.binary });
      const last = await client.message(sent.length - 1);
      expect(last.data.length).toBe(70_000);
      expect(
        client.messages.map((m) => [m.binary, m.data.length, createHash('sha1').update(m.data).digest('hex')]),
      ).toEqual(sent.map((m) => [m.binary, m.data.length, createHash('sha1').update(m.data).digest('hex')]));
      expect(app.messages.map((m) => [m.binary, m.data.length])).toEqual(sent.map((m) => [m.binary, m.data.length]));
      client.ws.close();
    });

    it('an app that speaks first (its messages right behind its 101, as Socket.IO does) is heard: nothing it sent before the client side opened is lost', async () => {
      const s = await t.main();
      const id = t.id('ws-hello');
      const client = await connectWs(wsUrl(s, `/ws/hello?id=${id}`));
      const second = await client.message(1);
      expect(client.messages[0]).toMatchObject({ binary: false });
      expect(client.messages[0]!.data.toString()).toBe('hello from the app');
      expect(second.binary).toBe(true);
      expect([...second.data]).toEqual([1, 2, 3]);
      client.ws.terminate();
    });

    it(
      'a message over 64 MiB passes a raw tunnel; a relay, which holds messages whole, ends the tunnel without passing any of it',
      { timeout: 60_000 },
      async () => {
        const s = await t.main();
        const id = t.id('ws-huge');
        const client = await connectWs(wsUrl(s, `/ws/sink?id=${id}`), { countOnly: true });
        const app = await t.upstream.waitForTunnel(id, (a) => a.ws !== undefined, 'the app side');
        app.ws?.resume();
        const size = 64 * 1024 * 1024 + 1;
        client.ws.send(Buffer.alloc(size, 1));
        const limitClose = knownDifferences.webSocketMessageLimitClose[t.runtime];
        if (limitClose === undefined) {
          await t.upstream.waitForTunnel(id, (a) => a.bytesReceived === size, 'the whole message at the app', 30_000);
          client.ws.close();
          return;
        }
        expect((await client.closed(30_000)).code).toBe(limitClose);
        await t.upstream.waitForTunnel(id, (a) => a.closed, 'the app side cut', END_WAIT_MS);
        expect(app.bytesReceived).toBe(0);
      },
    );

    it('a fragmented message reaches the app as one message, and comes back whole', async () => {
      const s = await t.main();
      const { client, app } = await echoTunnel(s);
      client.ws.send('frag-', { fin: false });
      client.ws.send('ment-', { fin: false });
      client.ws.send('ed', { fin: true });
      expect((await client.message(0)).data.toString()).toBe('frag-ment-ed');
      expect(app.messages.map((m) => m.data.toString())).toEqual(['frag-ment-ed']);
      client.ws.close();
    });

    it('pings and pongs pass both ways with their payload', async () => {
      const s = await t.main();
      const { id, client, app } = await echoTunnel(s);
      client.ws.ping(Buffer.from('client-ping'));
      await client.waitFor(() => client.pongs.find((p) => p.toString() === 'client-ping'), 'the pong to the client');
      app.ws?.ping(Buffer.from('app-ping'));
      // A message after the ping: once it is back, the ping has been delivered if it ever will.
      client.ws.send('after-ping');
      await client.message(0);
      if (knownDifferences.webSocketPingsAnsweredBySidecar.has(t.runtime)) {
        expect(app.pings).toEqual([]);
        expect(client.pings).toEqual([]);
        // The sidecar answered the app's ping itself, so the app still hears back.
        await t.upstream.waitForTunnel(
          id,
          (a) => a.pongs.some((p) => p.toString() === 'app-ping'),
          'the pong to the app',
        );
      } else {
        expect(app.pings.map(String)).toEqual(['client-ping']);
        await client.waitFor(() => client.pings.find((p) => p.toString() === 'app-ping'), 'the app ping at the client');
        await t.upstream.waitForTunnel(
          id,
          (a) => a.pongs.some((p) => p.toString() === 'app-ping'),
          "the client's pong at the app",
        );
      }
      client.ws.close();
    });

    it("the client's close code and reason reach the app", async () => {
      const s = await t.main();
      const { id, client } = await echoTunnel(s);
      client.ws.close(4001, 'client says bye');
      const app = await t.upstream.waitForTunnel(id, (a) => a.close !== undefined, 'the close at the app');
      expect(app.close).toEqual({ code: 4001, reason: 'client says bye' });
      expect((await client.closed(END_WAIT_MS)).code).toBe(4001);
    });

    it("the app's close code and reason reach the client", async () => {
      const s = await t.main();
      const { client, app } = await echoTunnel(s);
      app.ws?.close(4002, 'app says bye');
      expect(await client.closed(END_WAIT_MS)).toEqual({ code: 4002, reason: 'app says bye' });
    });

    it('a reset by the client ends the app side', async () => {
      const s = await t.main();
      const { id, client } = await echoTunnel(s);
      client.ws.terminate();
      await t.upstream.waitForTunnel(id, (a) => a.closed, 'the app side to end', END_WAIT_MS);
    });

    it('a reset by the app ends the client side', async () => {
      const s = await t.main();
      const { client, app } = await echoTunnel(s);
      app.ws?.terminate();
      const close = await client.closed(END_WAIT_MS);
      expect(close.code).toBe(knownDifferences.webSocketResetBecomesClose.has(t.runtime) ? 1005 : 1006);
    });

    it('an idle tunnel outlives UPSTREAM_TIMEOUT_MS', async () => {
      const s = await t.impatient();
      const { client } = await echoTunnel(s);
      // The one wait on the clock in this suite: what is tested is that time passing cuts nothing.
      await new Promise((resolve) => setTimeout(resolve, UPSTREAM_TIMEOUT_MS * 4));
      client.ws.send('still here');
      expect((await client.message(0)).data.toString()).toBe('still here');
      expect(client.close).toBeUndefined();
      client.ws.close();
    });

    it('20 tunnels at once each carry their own messages', async () => {
      const s = await t.main();
      const tunnels = await Promise.all(Array.from({ length: 20 }, () => echoTunnel(s)));
      tunnels.forEach(({ client }, i) => client.ws.send(`tunnel ${i}`));
      const echoes = await Promise.all(tunnels.map(({ client }) => client.message(0)));
      expect(echoes.map((m) => m.data.toString())).toEqual(tunnels.map((_, i) => `tunnel ${i}`));
      for (const { client } of tunnels) client.ws.close();
      await Promise.all(tunnels.map(({ client }) => client.closed()));
    });
  });

  describe('WebSocket backpressure', () => {
    const MiB = 1024 * 1024;
    const total = 96 * MiB;
    // Loopback socket buffers on the four sockets between app and client hold ~20 MiB at most.
    const bound = 48 * MiB;

    /** Polls (bounded) until `sent()` stops growing while `waiting()`, or reaches total: there is no event for "nothing happens". */
    async function stalled(sent: () => number, waiting: () => boolean): Promise<void> {
      let last = -1;
      let steadyPolls = 0;
      for (let polls = 0; polls < 600 && sent() < total && steadyPolls < 20; polls++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        steadyPolls = waiting() && sent() === last ? steadyPolls + 1 : 0;
        last = sent();
      }
    }

    it('a client that stops reading holds the app back, and then gets every byte', { timeout: 120_000 }, async () => {
      const s = await t.main();
      const id = t.id('ws-firehose');
      const client = await connectWs(wsUrl(s, `/ws/firehose?id=${id}&total=${total}`), { countOnly: true });
      client.ws.pause();
      const app = await t.upstream.waitForTunnel(id, (a) => a.ws !== undefined, 'the app side');
      await stalled(
        () => app.bytesWritten,
        () => app.waitingForDrain,
      );
      expect(app.bytesWritten, `bytes the app could send while the client read almost none (of ${total})`).toBeLessThan(
        bound,
      );
      expect(app.waitingForDrain, 'the app is held back by backpressure').toBe(true);
      client.ws.resume();
      await client.waitFor(
        () => (client.bytesReceived >= total ? true : undefined),
        'every byte at the client',
        60_000,
      );
      expect(client.bytesReceived).toBe(total);
      client.ws.close();
    });

    it('an app that stops reading holds the client back, and then gets every byte', { timeout: 120_000 }, async () => {
      const s = await t.main();
      const id = t.id('ws-sink');
      const client = await connectWs(wsUrl(s, `/ws/sink?id=${id}`));
      const app = await t.upstream.waitForTunnel(id, (a) => a.ws !== undefined, 'the app side');
      const flood = client.sendFlood(total);
      await stalled(
        () => client.bytesSent,
        () => client.waitingForDrain,
      );
      if (knownDifferences.webSocketNoReceiveBackpressure.has(t.runtime)) {
        // The relay cannot stop reading the client: it took everything while the app read nothing.
        expect(client.bytesSent).toBe(total);
        expect(app.bytesReceived).toBe(0);
      } else {
        expect(client.bytesSent, `bytes the client could send while the app read none (of ${total})`).toBeLessThan(
          bound,
        );
        expect(client.waitingForDrain, 'the client is held back by backpressure').toBe(true);
      }
      app.ws?.resume();
      await flood;
      await t.upstream.waitForTunnel(id, (a) => a.bytesReceived >= total, 'every byte at the app', 60_000);
      client.ws.close();
    });
  });
}
