/**
 * The issuer's signing keys (its JWKS), kept in memory and refreshed off the request path.
 *
 * jose's createRemoteJWKSet fetches on the request path once its cache is older than its max age,
 * and a failed fetch then fails the request: an issuer that is down takes the app down with it,
 * which is what Envoy's users hit (envoyproxy/envoy#13705, #26500) until it added background
 * fetching (#16298). Here a loop of our own fetches the set (every 10 minutes, with backoff while
 * it fails) and hands it to jose's createLocalJWKSet, so a failed refresh leaves the cached keys
 * in use. A token naming a `kid` the set lacks triggers one refresh, at most every 30 s, so key
 * rotation is picked up at once but a stream of made-up `kid`s cannot hammer the issuer.
 */
import { createLocalJWKSet, errors } from 'jose';
import type { FlattenedJWSInput, JWSHeaderParameters, LocalJWKSet } from 'jose';
import { isLoopbackHost } from './loopback.ts';

/** The key set was never fetched yet (the issuer down since start-up): the request gets 503. */
export class KeysUnavailableError extends Error {
  override name = 'KeysUnavailableError';
}

export interface Timer {
  cancel(): void;
}

/** Runs `task` after `ms`; injected by tests to run the background loop step by step. */
export type Schedule = (task: () => void, ms: number) => Timer;

export interface KeySetOptions {
  /** AUTH_JWT_ISSUER, as configured. */
  issuer: string;
  /** AUTH_JWKS_URL; unset, discovered from the issuer's openid-configuration. */
  jwksUrl?: string | undefined;
  fetch: typeof fetch;
  /** Milliseconds, for the unknown-`kid` cooldown. */
  now?: () => number;
  schedule?: Schedule;
  say?(message: string): void;
  /** Background refresh while all is well: jose's and Envoy's default cache duration, 10 minutes. */
  refreshMs?: number;
  /** The least time between two fetches a token's unknown `kid` may cause (jose's cooldown, 30 s). */
  cooldownMs?: number;
  /** Each fetch's limit (jose's default, 5 s). */
  timeoutMs?: number;
  /** Retries after a failure: 1 s, doubling up to this. */
  maxRetryMs?: number;
}

/** Key sets are a few KiB; a larger answer is a misconfigured URL, not keys. */
const MAX_BODY_BYTES = 512 * 1024;

/** The key resolver jwtVerify is handed, and what the verifier needs to know of the keys. */
export interface KeySource {
  /** Whether keys were ever fetched. */
  readonly ready: boolean;
  /** Changes whenever the fetched key set differs from the one before (a key added or removed). */
  readonly generation: number;
  getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): ReturnType<LocalJWKSet>;
  /** Seconds until the next fetch attempt, for a 503's Retry-After. */
  retryAfterSeconds(): number;
  /**
   * Settles when the fetch under way (if any) is done, starting none: a token that arrives while
   * the very first fetch is on its way waits for it instead of getting a 503.
   */
  fetching?(): Promise<unknown>;
}

export class KeySet implements KeySource {
  #local: LocalJWKSet | undefined;
  #text: string | undefined;
  #generation = 0;
  #jwksUrl: string | undefined;
  #inFlight: Promise<boolean> | undefined;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #failures = 0;
  #failing = false;
  #timer: Timer | undefined;
  #nextAttemptAt = 0;
  #closed = false;
  readonly #o: Required<Omit<KeySetOptions, 'jwksUrl' | 'say'>> & Pick<KeySetOptions, 'say'>;

  constructor(options: KeySetOptions) {
    this.#jwksUrl = options.jwksUrl;
    this.#o = {
      issuer: options.issuer,
      fetch: options.fetch,
      say: options.say,
      refreshMs: options.refreshMs ?? 600_000,
      cooldownMs: options.cooldownMs ?? 30_000,
      timeoutMs: options.timeoutMs ?? 5_000,
      maxRetryMs: options.maxRetryMs ?? 60_000,
      now: options.now ?? (() => Date.now()),
      schedule: options.schedule ?? unrefTimeout,
    };
  }

  get ready(): boolean {
    return this.#local !== undefined;
  }

  get generation(): number {
    return this.#generation;
  }

  /** Fetches now, then keeps the keys fresh in the background until close(). */
  start(): void {
    void this.#tick();
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
  }

  retryAfterSeconds(): number {
    return Math.min(60, Math.max(1, Math.ceil((this.#nextAttemptAt - this.#o.now()) / 1000)));
  }

  fetching(): Promise<unknown> {
    return this.#inFlight ?? Promise.resolve();
  }

  /** One fetch (shared with any already under way); resolves true when the keys are fresh. */
  refresh(): Promise<boolean> {
    this.#inFlight ??= this.#fetchOnce().finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  /** The resolver for jwtVerify: the cached key, or one refresh (rate-limited) for an unknown `kid`. */
  getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): ReturnType<LocalJWKSet> => {
    const local = this.#local;
    if (local === undefined) throw new KeysUnavailableError('the issuer keys were never fetched');
    try {
      return await local(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // A fetch under way (another token with the same new kid started it) is waited for.
      if (this.#inFlight === undefined && this.#o.now() - this.#lastAttempt < this.#o.cooldownMs) throw error;
      // Rotation: the issuer signs with a key published since the last fetch.
      await this.refresh();
      return (this.#local ?? local)(header, token);
    }
  };

  async #tick(): Promise<void> {
    const fresh = await this.refresh();
    if (this.#closed) return;
    this.#failures = fresh ? 0 : this.#failures + 1;
    const wait = fresh
      ? this.#o.refreshMs
      : Math.min(1000 * 2 ** (this.#failures - 1), this.#o.maxRetryMs, this.#o.refreshMs);
    this.#nextAttemptAt = this.#o.now() + wait;
    this.#timer?.cancel();
    this.#timer = this.#o.schedule(() => void this.#tick(), wait);
  }

  async #fetchOnce(): Promise<boolean> {
    this.#lastAttempt = this.#o.now();
    try {
      this.#jwksUrl ??= await this.#discover();
      const text = await this.#get(this.#jwksUrl, 'application/jwk-set+json, application/json');
      const local = createLocalJWKSet(JSON.parse(text));
      if (text !== this.#text) {
        this.#o.say?.(`sidecar: JWKS ${this.#text === undefined ? 'fetched' : 'changed'} from ${this.#jwksUrl}`);
        this.#text = text;
        this.#generation++;
      } else if (this.#failing) this.#o.say?.(`sidecar: JWKS fetched again from ${this.#jwksUrl}`);
      this.#failing = false;
      this.#local = local;
      return true;
    } catch (error) {
      // One line per failing spell, not one per retry.
      if (!this.#failing)
        this.#o.say?.(
          `sidecar: cannot fetch the JWKS of ${this.#o.issuer}: ${describe(error)}; ${
            this.#local ? 'the cached keys stay in use' : 'bearer tokens get 503 until it succeeds'
          }, retrying in the background`,
        );
      this.#failing = true;
      return false;
    }
  }

  /** OpenID Connect Discovery 1.0 §4: the `jwks_uri` of the issuer's configuration document. */
  async #discover(): Promise<string> {
    const base = this.#o.issuer.replace(/\/$/, '');
    const text = await this.#get(`${base}/.well-known/openid-configuration`, 'application/json');
    const document = JSON.parse(text) as { issuer?: unknown; jwks_uri?: unknown };
    // §4.3: the document's issuer MUST be identical to the one asked for.
    if (document.issuer !== this.#o.issuer)
      throw new Error(`the openid-configuration names issuer ${JSON.stringify(document.issuer)}`);
    const uri = typeof document.jwks_uri === 'string' ? safeUrl(document.jwks_uri) : undefined;
    if (uri === undefined) throw new Error('the openid-configuration has no https jwks_uri');
    return uri;
  }

  async #get(url: string, accept: string): Promise<string> {
    // Never follow a redirect: the keys come from the URL configured or discovered, nowhere else.
    const response = await this.#o.fetch(url, {
      headers: { accept },
      redirect: 'manual',
      signal: AbortSignal.timeout(this.#o.timeoutMs),
    });
    if (response.status !== 200) {
      void response.body?.cancel().catch(() => {});
      throw new Error(`${url} answered ${response.status}`);
    }
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > MAX_BODY_BYTES) {
      void response.body?.cancel().catch(() => {});
      throw new Error(`${url} sent ${declared} bytes, more than a key set`);
    }
    const text = await response.text();
    if (text.length > MAX_BODY_BYTES) throw new Error(`${url} sent more than a key set`);
    return text;
  }
}

/** An https URL (http only to a loopback host), or undefined. */
function safeUrl(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))
      ? url.href
      : undefined;
  } catch {
    return undefined;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'timed out';
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n', 1)[0] ?? '';
}

function unrefTimeout(task: () => void, ms: number): Timer {
  const handle = setTimeout(task, ms);
  // Never keep a process alive just to refresh keys (as src/admin/readiness.ts does for its probe).
  (handle as { unref?: () => void }).unref?.();
  return { cancel: () => clearTimeout(handle) };
}
