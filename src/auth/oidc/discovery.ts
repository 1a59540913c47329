/**
 * The IdP's metadata (OpenID Connect Discovery 1.0), fetched at start-up and, while the IdP is
 * down, again in the background with a growing delay. An IdP that is down when the sidecar starts
 * is not fatal: requests that need it get 503 until it answers (readiness can ask `ready()`).
 */
import * as oauth from 'oauth4webapi';
import { describeError } from './protocol.ts';
import type { Protocol } from './protocol.ts';

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;

export class Discovery {
  #metadata: oauth.AuthorizationServer | undefined;
  #failing = false;
  #retryMs = FIRST_RETRY_MS;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #issuer: URL;
  readonly #protocol: Protocol;
  readonly #say: (message: string) => void;

  constructor(issuer: URL, protocol: Protocol, say: (message: string) => void) {
    this.#issuer = issuer;
    this.#protocol = protocol;
    this.#say = say;
    void this.#attempt();
  }

  /** The metadata, once an attempt succeeded. */
  metadata(): oauth.AuthorizationServer | undefined {
    return this.#metadata;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  async #attempt(): Promise<void> {
    try {
      const response = await oauth.discoveryRequest(this.#issuer, this.#protocol.http());
      const metadata = await oauth.processDiscoveryResponse(this.#issuer, response);
      if (!metadata.authorization_endpoint || !metadata.token_endpoint) {
        throw new Error('the metadata has no authorization_endpoint or token_endpoint');
      }
      this.#metadata = metadata;
      // One line per change of state, not per attempt: a long outage must not flood the log.
      if (this.#failing) this.#say(`sidecar: OIDC discovery of ${this.#issuer.href} succeeded; logins work again`);
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) {
        this.#say(
          `sidecar: OIDC discovery of ${this.#issuer.href} failed (${describeError(error)}); ` +
            'logins get 503 until it succeeds, retrying in the background',
        );
      }
      this.#failing = true;
      this.#schedule();
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#attempt(), this.#retryMs);
    // A retry loop alone must not keep a process (or a test worker) alive.
    (this.#timer as { unref?: () => void }).unref?.();
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
  }
}
