/**
 * What every conformance test file shares: the upstream app, the canary, and the sidecars of one
 * runtime, started once per file. Sidecars start concurrently in beforeAll and each test awaits
 * the one it uses, so a sidecar that cannot start fails every test that needs it, with its stderr.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { closedPort, startSidecar } from '../support/sidecar.ts';
import type { Runtime, Sidecar } from '../support/sidecar.ts';
import { startCanary, startUpstream } from '../support/upstream.ts';
import type { Canary, Upstream } from '../support/upstream.ts';
import { send } from '../support/http-client.ts';
import type { HeaderList, HttpResponse, SendOptions } from '../support/http-client.ts';

export const SRV_NAME = 'conformance-app';
export const TEXT_SRV_NAME = 'text-svc';
export const UPSTREAM_TIMEOUT_MS = 300;

export const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
export const traceparentFormat = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The shape of the upstream's echo body. */
export interface Echo {
  server: string;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  bodyBytes: number;
  bodySha256: string;
}

export class Conformance {
  upstream!: Upstream;
  canary!: Canary;
  private sidecars: Promise<Sidecar>[] = [];
  /** TARGET = the upstream, LOG_FORMAT=json; most tests use it. */
  main!: () => Promise<Sidecar>;
  /** TARGET = the upstream with the path prefix /base, LOG_FORMAT=text. */
  prefixed!: () => Promise<Sidecar>;
  /** TARGET = a closed port. */
  refused!: () => Promise<Sidecar>;
  /** UPSTREAM_TIMEOUT_MS = 300. */
  impatient!: () => Promise<Sidecar>;
  /** Like main; a test stops reading its stdout. */
  stuckStdout!: () => Promise<Sidecar>;
  private counter = 0;

  readonly runtime: Runtime;

  constructor(runtime: Runtime) {
    this.runtime = runtime;
  }

  async setup(): Promise<void> {
    [this.upstream, this.canary] = await Promise.all([startUpstream(), startCanary()]);
    const deadPort = await closedPort();
    const start = (env: Record<string, string>) => {
      const promise = startSidecar(this.runtime, env);
      // Reported by the tests that await it, not as an unhandled rejection.
      promise.catch(() => undefined);
      this.sidecars.push(promise);
      return async () => {
        const sidecar = await promise;
        const exit = sidecar.exited();
        // One crash would otherwise show up as a string of unrelated connection errors.
        if (exit)
          throw new Error(
            `the ${this.runtime} sidecar (${JSON.stringify(env)}) exited earlier (code ${exit.code}, signal ${exit.signal}); stderr:\n${sidecar.stderr().slice(-3000)}`,
          );
        return sidecar;
      };
    };
    this.main = start({
      TARGET: this.upstream.url,
      SRV_NAME,
      LOG_FORMAT: 'json',
      SIDECAR_CONFORMANCE_UNKNOWN_VARIABLE: 'ignored',
    });
    this.prefixed = start({ TARGET: this.prefixedTarget, SRV_NAME: TEXT_SRV_NAME, LOG_FORMAT: 'text' });
    this.refused = start({ TARGET: `http://127.0.0.1:${deadPort}`, SRV_NAME, LOG_FORMAT: 'json' });
    this.impatient = start({
      TARGET: this.upstream.url,
      SRV_NAME,
      LOG_FORMAT: 'json',
      UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
    });
    this.stuckStdout = start({ TARGET: this.upstream.url, SRV_NAME, LOG_FORMAT: 'json' });
  }

  async teardown(): Promise<void> {
    await Promise.allSettled(this.sidecars.map((p) => p.then((s) => s.stop())));
    await Promise.allSettled([this.upstream?.close(), this.canary?.close()]);
  }

  get prefixedTarget(): string {
    return `${this.upstream.url}/base`;
  }

  /** A fresh id, valid as an X-Request-Id and as a query value, unique across runtimes and files. */
  id(label = 'req'): string {
    return `${label}-${this.runtime}-${++this.counter}-${randomBytes(4).toString('hex')}`;
  }

  /** A request through `sidecar` to the echo route; returns the response and what the app got. */
  async echo(sidecar: Sidecar, path: string, options: SendOptions = {}): Promise<{ res: HttpResponse; echo: Echo }> {
    const res = await send(sidecar.url, path, options);
    expect(res.status, `status of ${path}; body: ${res.body.toString().slice(0, 500)}`).toBe(200);
    const echo = JSON.parse(res.body.toString()) as Echo;
    expect(echo.server).toBe('upstream');
    return { res, echo };
  }

  /** The sidecar still proxies an ordinary request (after something hostile or failing). */
  async expectServes(sidecar: Sidecar): Promise<void> {
    const id = this.id('still-serving');
    const res = await send(sidecar.url, `/_/echo?id=${id}`);
    expect(res.status, `an ordinary request after the previous one; body: ${res.body.toString().slice(0, 300)}`).toBe(
      200,
    );
    expect(this.upstream.byId(id)).toHaveLength(1);
    expect(sidecar.exited(), `the ${this.runtime} sidecar exited; stderr:\n${sidecar.stderr()}`).toBeUndefined();
  }

  /**
   * The app never received a complete request with this id: any that reached it was cut off. Waits
   * (bounded) for requests still arriving to settle: one left hanging is a failure too.
   */
  async expectAppGotNoCompleteRequest(id: string): Promise<void> {
    for (const r of this.upstream.byId(id)) {
      await this.upstream.waitFor(
        id,
        (x) => x === r && x.state !== 'receiving',
        'a partial request to be aborted, not left hanging',
      );
    }
    expect(
      this.upstream
        .byId(id)
        .filter((r) => r.state === 'complete')
        .map((r) => `${r.method} ${r.url}`),
      'complete requests the app received',
    ).toEqual([]);
  }
}

export function headers(...pairs: HeaderList): HeaderList {
  return pairs;
}

/** The single value of a header in a node IncomingHttpHeaders-like record. */
export function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
