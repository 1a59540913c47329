/**
 * The proxy listener of Bun and Deno (plain HTTP: one listener, never swapped). Certificate
 * rotation where the runtime cannot change a listener's certificate: Bun.serve ignores
 * `reload({ tls })` (oven-sh/bun#43815) and Deno.serve has no reload at all. A second listener
 * with the new pair binds the same port (SO_REUSEPORT, so both listeners must set `reusePort`),
 * and only once it accepts does the old one stop accepting and drain its open connections,
 * which keep their certificate until they end.
 *
 * Linux hashes each new connection to one of the listening sockets; connections already queued on
 * the old socket when it closes are reset (nginx commit 337afd5; LWN 853637). Starting the new
 * listener first and draining the old rather than cutting it keeps that to the few connections
 * caught in the old socket's accept queue at the moment it closes (docs/tls.md, "TLS termination").
 */
import type { CertificatePair } from '../../src/tls/certificate.ts';

export interface SwapOps<S> {
  /** A listener on `port` (0: any) with this pair and reusePort set; throws if it cannot start. */
  start(pair: CertificatePair | undefined, port: number): S;
  port(server: S): number;
  /** Stops accepting, closes idle connections, resolves once in-flight requests have ended. */
  drain(server: S): Promise<void>;
  /** Cuts whatever is still open. */
  kill(server: S): void;
}

export class ListenerSwap<S> {
  #current: S;
  readonly #retiring = new Set<S>();
  readonly #draining = new Set<Promise<void>>();
  readonly #ops: SwapOps<S>;

  constructor(ops: SwapOps<S>, pair: CertificatePair | undefined, port: number) {
    this.#ops = ops;
    this.#current = ops.start(pair, port);
  }

  get current(): S {
    return this.#current;
  }

  get port(): number {
    return this.#ops.port(this.#current);
  }

  /** Puts the pair into service; a listener that cannot start throws and the old one keeps serving. */
  swap(pair: CertificatePair): void {
    const next = this.#ops.start(pair, this.port);
    const old = this.#current;
    this.#current = next;
    this.#retire(old);
  }

  #retire(server: S): void {
    this.#retiring.add(server);
    const done = this.#ops.drain(server).finally(() => {
      this.#retiring.delete(server);
      this.#draining.delete(done);
    });
    this.#draining.add(done);
  }

  /** SIGTERM: the serving listener drains too; resolves when every listener has. */
  async stopListening(): Promise<void> {
    this.#retire(this.#current);
    await Promise.all([...this.#draining]);
  }

  forceClose(): void {
    for (const server of [this.#current, ...this.#retiring]) this.#ops.kill(server);
  }
}
