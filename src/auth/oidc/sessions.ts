/**
 * The session of a request, from its cookie: opened once and then kept in a bounded cache keyed by
 * the cookie's value (a JWE decrypt costs tens of microseconds; a Map lookup does not), and
 * refreshed with the refresh token when the access token is about to expire.
 *
 * A refresh re-issues the cookie. Until the browser stores the new one, its other requests still
 * carry the old value: the cache maps that old value to the new session and its Set-Cookie, so
 * they share the one refresh (one in flight per session) instead of each spending the refresh
 * token again, which an IdP that rotates refresh tokens would treat as a replay (RFC 9700 §4.14.2).
 */
import { Lru } from './lru.ts';
import { identityOf, needsRefresh } from './session.ts';
import type { Identity } from '../identity.ts';
import type { Session } from './session.ts';

type Entry = { session: Session; setCookie?: string[] } | 'ended';

export type SessionResult = { identity: Identity; setCookie?: string[] } | undefined | 'unavailable';

export type RefreshResult = { session: Session; value: string; setCookie: string } | 'rejected' | 'unavailable';

export interface SessionsOptions {
  open(value: string): Promise<Session | undefined>;
  refresh(session: Session): Promise<RefreshResult>;
  nowMs(): number;
  /** Cookie values remembered (decrypted sessions, ended ones): a bound on memory, not on users. */
  capacity?: number;
}

export const SESSION_CACHE_ENTRIES = 4096;

export class Sessions {
  readonly #cache: Lru<string, Entry>;
  readonly #refreshing = new Map<string, Promise<SessionResult>>();
  readonly #options: SessionsOptions;

  constructor(options: SessionsOptions) {
    this.#options = options;
    this.#cache = new Lru(options.capacity ?? SESSION_CACHE_ENTRIES);
  }

  async resolve(value: string): Promise<SessionResult> {
    let entry = this.#cache.get(value);
    if (entry === undefined) {
      const session = await this.#options.open(value);
      entry = session === undefined ? 'ended' : { session };
      this.#cache.set(value, entry);
    }
    if (entry === 'ended') return undefined;
    const nowS = Math.floor(this.#options.nowMs() / 1000);
    if (nowS >= entry.session.expiresAt) {
      this.#cache.set(value, 'ended');
      return undefined;
    }
    if (needsRefresh(entry.session, nowS)) return this.#refresh(value, entry.session);
    return { identity: identityOf(entry.session, nowS), ...(entry.setCookie ? { setCookie: entry.setCookie } : {}) };
  }

  /**
   * Logout: this value opens no session here any more. Only in this process and only while the
   * cache remembers it: a sealed cookie cannot be revoked everywhere; its end is its `exp`.
   */
  end(value: string): void {
    this.#cache.set(value, 'ended');
  }

  #refresh(value: string, session: Session): Promise<SessionResult> {
    let pending = this.#refreshing.get(value);
    if (pending === undefined) {
      pending = this.#refreshOnce(value, session).finally(() => this.#refreshing.delete(value));
      this.#refreshing.set(value, pending);
    }
    return pending;
  }

  async #refreshOnce(value: string, session: Session): Promise<SessionResult> {
    const result = await this.#options.refresh(session);
    if (result === 'unavailable') return 'unavailable';
    if (result === 'rejected') {
      this.#cache.set(value, 'ended');
      return undefined;
    }
    const setCookie = [result.setCookie];
    this.#cache.set(value, { session: result.session, setCookie });
    this.#cache.set(result.value, { session: result.session });
    const nowS = Math.floor(this.#options.nowMs() / 1000);
    return { identity: identityOf(result.session, nowS), setCookie };
  }
}
