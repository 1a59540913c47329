/**
 * Holds docs/behaviour.md#protecting-the-app (MAX_CONCURRENT_REQUESTS, MAX_QUEUED_REQUESTS,
 * QUEUE_TIMEOUT_MS), on each runtime over real sockets, in front of a stand-in app that counts its
 * own concurrency and holds every request until the test releases it (../support/crowd-app.ts).
 * Requests are sent one after another, each once the one before is seen queued (the queue gauge),
 * so arrival order is the test's; nothing waits on a sleep.
 */
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, readBody, send, start } from '../support/http-client.ts';
import { startCrowdApp } from '../support/crowd-app.ts';
import type { CrowdApp } from '../support/crowd-app.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus.ts';
import { startSidecar } from '../support/sidecar.ts';
import type { LogEntry, Runtime, Sidecar } from '../support/sidecar.ts';
import { eventually } from '../support/wait.ts';

async function scrape(sidecar: Sidecar) {
  const response = await fetch(`${sidecar.adminUrl}/metrics`);
  return parsePrometheusText(await response.text());
}
const queued = async (sidecar: Sidecar) => sampleValue(await scrape(sidecar), 'sidecar_queued_requests');
const rejections = async (sidecar: Sidecar, reason: 'queue_full' | 'queue_timeout') =>
  sampleValue(await scrape(sidecar), 'sidecar_overload_rejections_total', { reason }) ?? 0;
const status = (url: string) =>
  fetch(url).then(
    async (r) => (await r.arrayBuffer(), r.status),
    () => 0,
  );

/** A request in flight from the test: its client request (to abort it) and its response to come. */
interface Pending {
  id: string;
  req: http.ClientRequest;
  done: Promise<{ status: number; body: string }>;
}

export function addProtectionTests(runtime: Runtime): void {
  describe(`protecting the app on ${runtime}`, () => {
    let app: CrowdApp;
    let capped: Promise<Sidecar>;
    let noQueue: Promise<Sidecar>;
    let impatient: Promise<Sidecar>;
    let unlimited: Promise<Sidecar>;
    let counter = 0;
    const id = (label: string) => `${label}-${runtime}-${++counter}`;

    beforeAll(async () => {
      app = await startCrowdApp();
      const startWith = (env: Record<string, string>) => {
        const sidecar = startSidecar(runtime, { TARGET: app.url, ...env });
        sidecar.catch(() => undefined);
        return sidecar;
      };
      capped = startWith({ MAX_CONCURRENT_REQUESTS: '2', MAX_QUEUED_REQUESTS: '3', QUEUE_TIMEOUT_MS: '60000' });
      noQueue = startWith({ MAX_CONCURRENT_REQUESTS: '1', MAX_QUEUED_REQUESTS: '0' });
      impatient = startWith({ MAX_CONCURRENT_REQUESTS: '1', QUEUE_TIMEOUT_MS: '250' });
      unlimited = startWith({});
    });
    afterAll(async () => {
      app?.releaseAll();
      await Promise.allSettled([capped, noQueue, impatient, unlimited].map((s) => s?.then((x) => x.stop())));
      await app?.close();
    });

    /** Sends a request with this id; its response is read to the end. */
    const request = (sidecar: Sidecar, requestId: string): Pending => {
      const { req, response } = start(sidecar.url, `/work?id=${requestId}`, { headers: [['X-Request-Id', requestId]] });
      const done = response.then(async (res) => ({
        status: res.statusCode ?? 0,
        body: (await readBody(res)).body.toString(),
      }));
      done.catch(() => undefined);
      return { id: requestId, req, done };
    };
    /** Sends a request that the app will hold, and waits until it is at the app. */
    const atApp = async (sidecar: Sidecar, label: string) => {
      const pending = request(sidecar, id(label));
      await app.until(() => app.arrivals.includes(pending.id), `${pending.id} at the app`);
      return pending;
    };
    /** Sends a request and waits until the sidecar shows it queued (the gauge at `expected`). */
    const inQueue = async (sidecar: Sidecar, label: string, expected: number) => {
      const pending = request(sidecar, id(label));
      await eventually(
        () => queued(sidecar),
        (n) => n === expected,
        `${expected} request(s) queued`,
      );
      return pending;
    };
    const logOf = (sidecar: Sidecar, requestId: string): Promise<LogEntry> =>
      sidecar.waitForLog((e) => e.request_id === requestId, requestId);

    it('never lets more than MAX_CONCURRENT_REQUESTS reach the app, and admits the rest in arrival order', async () => {
      const sidecar = await capped;
      const first = [await atApp(sidecar, 'fifo-a'), await atApp(sidecar, 'fifo-b')];
      const waiting = [
        await inQueue(sidecar, 'fifo-c', 1),
        await inQueue(sidecar, 'fifo-d', 2),
        await inQueue(sidecar, 'fifo-e', 3),
      ];
      expect(app.inFlight).toBe(2);
      const order = [...first, ...waiting].map((p) => p.id);
      const arrivedBefore = app.arrivals.length;
      // Each answer frees one slot, which goes to the oldest waiter.
      for (const [i, next] of waiting.entries()) {
        app.release(order[i] as string);
        await app.until(() => app.arrivals.includes(next.id), `${next.id} at the app`);
        expect(app.arrivals.slice(arrivedBefore)).toEqual(waiting.slice(0, i + 1).map((p) => p.id));
        expect(app.inFlight).toBeLessThanOrEqual(2);
      }
      app.releaseAll();
      for (const p of [...first, ...waiting]) expect((await p.done).status).toBe(200);
      expect(app.maxInFlight).toBe(2);
      expect(await queued(sidecar)).toBe(0);
      // Queue wait is logged on its own, and is part of the duration.
      const entries = await Promise.all(order.map((r) => logOf(sidecar, r)));
      for (const entry of entries.slice(0, 2)) expect(entry.queue_ms).toBe(0);
      for (const entry of entries.slice(2)) {
        expect(entry.queue_ms).toBeGreaterThan(0);
        expect(entry.duration_ms as number).toBeGreaterThanOrEqual(entry.queue_ms as number);
      }
    });

    it('answers 503 with Retry-After: 1 beyond MAX_QUEUED_REQUESTS, logs "overloaded" and counts queue_full; readiness stays 200', async () => {
      const sidecar = await capped;
      const before = await rejections(sidecar, 'queue_full');
      const answered503 = async () =>
        sampleValue(await scrape(sidecar), 'http_server_request_duration_seconds_count', {
          http_request_method: 'GET',
          http_response_status_code: '503',
        }) ?? 0;
      const answered503Before = await answered503();
      const held = [await atApp(sidecar, 'full-a'), await atApp(sidecar, 'full-b')];
      const waiting = [
        await inQueue(sidecar, 'full-c', 1),
        await inQueue(sidecar, 'full-d', 2),
        await inQueue(sidecar, 'full-e', 3),
      ];
      const refusedId = id('full-refused');
      const refused = await send(sidecar.url, `/work?id=${refusedId}`, { headers: [['X-Request-Id', refusedId]] });
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(refused.headers['x-request-id']).toBe(refusedId);
      expect(refused.body.toString()).toMatch(/^overloaded: [^\n]{1,80}\n$/);
      expect(await rejections(sidecar, 'queue_full')).toBe(before + 1);
      // Counted like any other request, with the status the client was sent.
      expect(await answered503()).toBe(answered503Before + 1);
      expect(await logOf(sidecar, refusedId)).toMatchObject({ status: 503, error: 'overloaded', queue_ms: 0 });
      // An overloaded pod is still the only thing protecting its app: it stays in the Service.
      expect(await status(`${sidecar.adminUrl}/readyz`)).toBe(200);
      expect(await status(`${sidecar.adminUrl}/healthz`)).toBe(200);
      // Answered as soon as each reaches the app.
      for (const p of [...held, ...waiting]) app.release(p.id);
      for (const p of [...held, ...waiting]) expect((await p.done).status).toBe(200);
      expect(app.arrivals).not.toContain(refusedId);
    });

    it('lets a client that disconnects while queued leave the queue: it never reaches the app', async () => {
      const sidecar = await capped;
      const held = [await atApp(sidecar, 'leave-a'), await atApp(sidecar, 'leave-b')];
      const leaving = await inQueue(sidecar, 'leave-gone', 1);
      const staying = await inQueue(sidecar, 'leave-stays', 2);
      leaving.req.destroy();
      await eventually(
        () => queued(sidecar),
        (n) => n === 1,
        'the queue to lose the client that left',
      );
      expect(await logOf(sidecar, leaving.id)).toMatchObject({ status: 499, error: 'client_aborted' });
      app.release(held[0]?.id as string);
      await app.until(() => app.arrivals.includes(staying.id), 'the next waiter at the app');
      for (const p of [...held, staying]) app.release(p.id);
      for (const p of [...held, staying]) expect((await p.done).status).toBe(200);
      expect(app.arrivals).not.toContain(leaving.id);
    });

    it("holds a slot until the app's response body has ended, not just its headers", async () => {
      const sidecar = await capped;
      const streamId = id('stream-body');
      const { req, response } = start(sidecar.url, `/work?id=${streamId}&stream=1`);
      const res = await response;
      const body = collect(res);
      await body.received('first\n'.length, 'the first chunk at the client');
      const other = await atApp(sidecar, 'stream-other');
      // Headers and a first chunk reached the client, but the app's body has not ended: no slot.
      const waiting = await inQueue(sidecar, 'stream-waiting', 1);
      app.release(streamId);
      const ended = await body.end();
      expect(ended.complete).toBe(true);
      expect(ended.body.toString()).toBe(`first\ndone ${streamId}\n`);
      await app.until(() => app.arrivals.includes(waiting.id), 'the waiter at the app once the body ended');
      for (const p of [other, waiting]) app.release(p.id);
      for (const p of [other, waiting]) expect((await p.done).status).toBe(200);
      req.destroy();
    });

    it('never opens more connections to the app than MAX_CONCURRENT_REQUESTS', () => {
      // Over the three tests above: dozens of requests, the queue full, a client gone.
      expect(app.maxConnections).toBeLessThanOrEqual(2);
    });

    it('with MAX_QUEUED_REQUESTS=0 answers 503 at once beyond the cap', async () => {
      const sidecar = await noQueue;
      const held = await atApp(sidecar, 'noqueue-held');
      const refusedId = id('noqueue-refused');
      const refused = await send(sidecar.url, `/work?id=${refusedId}`, { headers: [['X-Request-Id', refusedId]] });
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(await rejections(sidecar, 'queue_full')).toBe(1);
      expect(await logOf(sidecar, refusedId)).toMatchObject({ status: 503, error: 'overloaded' });
      app.release(held.id);
      expect((await held.done).status).toBe(200);
      expect(app.arrivals).not.toContain(refusedId);
    });

    it('answers 503 with Retry-After: 1 after QUEUE_TIMEOUT_MS in the queue, logs the wait and counts queue_timeout', async () => {
      const sidecar = await impatient;
      const held = await atApp(sidecar, 'timeout-held');
      const late = request(sidecar, id('timeout-late'));
      const { status: code, body } = await late.done;
      expect(code).toBe(503);
      expect(body).toMatch(/^overloaded: /);
      const entry = await logOf(sidecar, late.id);
      expect(entry).toMatchObject({ status: 503, error: 'overloaded' });
      expect(entry.queue_ms as number).toBeGreaterThanOrEqual(250);
      expect(entry.duration_ms as number).toBeGreaterThanOrEqual(entry.queue_ms as number);
      expect(await rejections(sidecar, 'queue_timeout')).toBe(1);
      expect(await rejections(sidecar, 'queue_full')).toBe(0);
      expect(await queued(sidecar)).toBe(0);
      app.release(held.id);
      expect((await held.done).status).toBe(200);
      expect(app.arrivals).not.toContain(late.id);
      const retry = (await send(sidecar.url, '/work')).status;
      expect(retry).toBe(200);
    });

    it('has no limit by default: 50 slow requests are all at the app at once, and no queue_ms is logged', async () => {
      const sidecar = await unlimited;
      const base = app.inFlight;
      const crowd = Array.from({ length: 50 }, () => request(sidecar, id('crowd')));
      await app.until(() => app.inFlight === base + 50, '50 requests at the app at once');
      app.releaseAll();
      for (const p of crowd) expect((await p.done).status).toBe(200);
      const entry = await logOf(sidecar, crowd[0]?.id as string);
      expect(entry).not.toHaveProperty('queue_ms');
      expect(await queued(sidecar)).toBe(0);
    });
  });
}
