/**
 * The session of a request, from its cookie: opened once and then kept in a bounded cache of
 * cookie values (a JWE decrypt costs tens of microseconds; a Map lookup does not), and refreshed
 * with the refresh token when the access token is about to expire.
 *
 * The cache is keyed by the JWE's last part, its 128-bit authentication tag, and an entry counts
 * only for the exact value it was made for: hashing a 22-character key instead of the whole
 * 1-4 KiB cookie on every request makes a hit several times cheaper, and a value that merely
 * shares a tag (by chance or by design) is opened like any other.
 *
 * A refresh re-issues the cookie. Until the browser stores the new one, its other requests still
 * carry the old value: the cache maps that old value to the new session and its Set-Cookie, so
 * they share the one refresh (one in flight per session) instead of each spending the refresh
 * token again, which an IdP that rotates refresh tokens would treat as a replay (RFC 9700 §4.14.2).
 */
import { LruCache } from '../lru.ts';
import { identityOf, needsRefresh } from './session.ts';
import type { Identity } from '../identity.ts';
import type { Session } from './session.ts';

/** What a cookie value stands for: a session (and the Set-Cookie a refresh made), or none (`session` undefined). */
interface Entry {
  value: string;
  session?: Session | undefined;
  setCookie?: string[];
}

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
  readonly #cache: LruCache<string, Entry>;
  readonly #refreshing = new Map<string, Promise<SessionResult>>();
  readonly #options: SessionsOptions;

  constructor(options: SessionsOptions) {
    this.#options = options;
    this.#cache = new LruCache(options.capacity ?? SESSION_CACHE_ENTRIES);
  }

  async resolve(value: string): Promise<SessionResult> {
    let entry = this.#cache.get(cacheKey(value));
    if (entry?.value !== value) {
      entry = { value, session: await this.#options.open(value) };
      this.#remember(entry);
    }
    const session = entry.session;
    if (session === undefined) return undefined;
    const nowS = Math.floor(this.#options.nowMs() / 1000);
    if (nowS >= session.expiresAt) {
      this.#remember({ value });
      return undefined;
    }
    if (needsRefresh(session, nowS)) return this.#refresh(value, session);
    return { identity: identityOf(session, nowS), ...(entry.setCookie ? { setCookie: entry.setCookie } : {}) };
  }

  /**
   * Logout: this value opens no session here any more. Only in this process and only while the
   * cache remembers it: a sealed cookie cannot be revoked everywhere; its end is its `exp`.
   */
  end(value: string): void {
    this.#remember({ value });
  }

  #remember(entry: Entry): void {
    this.#cache.set(cacheKey(entry.value), entry);
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
      this.#remember({ value });
      return undefined;
    }
    const setCookie = [result.setCookie];
    this.#remember({ value, session: result.session, setCookie });
    this.#remember({ value: result.value, session: result.session });
    const nowS = Math.floor(this.#options.nowMs() / 1000);
    return { identity: identityOf(result.session, nowS), setCookie };
  }
}

/** A JWE in compact form ends with its authentication tag (RFC 7516 §7.1). */
function cacheKey(value: string): string {
  return value.slice(value.lastIndexOf('.') + 1);
}
