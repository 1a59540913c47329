/**
 * `Authorization: Basic` (RFC 7617) against an htpasswd file of bcrypt entries (`htpasswd -B`),
 * checked with bcryptjs (pure JS: the same on Node, Bun and Deno).
 *
 * Timing: an unknown user is compared against a dummy hash of the file's cost, so a wrong user
 * and a wrong password take the same bcrypt time and the answer's delay does not tell which user
 * names exist (CWE-208).
 *
 * The cache of successful checks: bcrypt at cost 10 takes ~50-100 ms of CPU, so a check per
 * request (what oauth2-proxy's htpasswd and nginx's auth_basic do) caps a core at 10-20
 * requests/s and lets any client with the right password keep the sidecar busy. Apache's
 * mod_authn_socache caches the same way. It is sound because:
 * - only credentials that passed are cached, so a guess always costs the full bcrypt time, and a
 *   cache hit's speed tells a client nothing its 200 did not;
 * - the key is an HMAC-SHA-256 of the credentials under a random key made per process, so the
 *   cache holds no password and no hash that could be attacked offline without that key;
 * - it is emptied whenever the file changes, so a removed user or a changed password stops
 *   passing with the reload;
 * - it is bounded (LRU), so distinct credentials cannot grow it.
 * Wrong passwords still cost bcrypt each: bounding that is the edge rate limit's job.
 */
import { compare as bcryptCompare } from 'bcryptjs';
import { LruCache } from './lru.ts';

/** A bad htpasswd file: the message names the line by number, never its hash. */
export class HtpasswdError extends Error {
  override name = 'HtpasswdError';
}

/** `$2y$` (htpasswd -B), `$2b$` (OpenBSD, bcryptjs) and `$2a$`: cost, 22 characters of salt, 31 of hash. */
const bcryptHash = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** user -> bcrypt hash. Blank lines and `#` comments are skipped, as Apache's mod_authn_file does. */
export function parseHtpasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const number = index + 1;
    const colon = line.indexOf(':');
    const user = colon === -1 ? '' : line.slice(0, colon);
    const hash = colon === -1 ? '' : line.slice(colon + 1);
    if (user === '') throw new HtpasswdError(`line ${number}: not a user:hash entry`);
    const match = bcryptHash.exec(hash);
    const cost = Number(match?.[1]);
    if (!match || cost < 4 || cost > 31)
      throw new HtpasswdError(`line ${number}: not a bcrypt entry ($2y$, $2b$ or $2a$; make one with htpasswd -B)`);
    if (users.has(user)) throw new HtpasswdError(`line ${number}: a second entry for a user named before`);
    users.set(user, hash);
  }
  return users;
}

/** The user and password of an `Authorization: Basic` value, or undefined when it is not one. */
export function parseBasic(authorization: string): { user: string; password: string } | undefined {
  // RFC 9110 §11.1: the scheme is case-insensitive.
  const match = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(authorization);
  if (!match) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(match[1] as string), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
  let text: string;
  try {
    // RFC 7617 §2.1: charset="UTF-8" is what the challenge announces.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
  // RFC 7617 §2: the user-id cannot contain a colon; the password may.
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  const user = text.slice(0, colon);
  if (/[\u0000-\u001f\u007f]/.test(user)) return undefined;
  return { user, password: text.slice(colon + 1) };
}

export type Compare = (password: string, hash: string) => Promise<boolean>;

export interface HtpasswdStoreOptions {
  /** bcrypt's compare; a test passes a spy. */
  compare?: Compare;
  /** Successful checks remembered at once. */
  cacheSize?: number;
}

/** The users of AUTH_BASIC_FILE, replaced whole when the runtime's watcher sees the file change. */
export class HtpasswdStore {
  #users: Map<string, string>;
  #dummy: string;
  readonly #compare: Compare;
  readonly #passed: LruCache<string, string>;
  /** Checks under way, so a burst with the same credentials (a page's parallel requests) costs one bcrypt. */
  readonly #pending = new Map<string, Promise<string | undefined>>();
  readonly #hmacKey: Promise<CryptoKey>;
  #version = 0;

  constructor(text: string, options: HtpasswdStoreOptions = {}) {
    this.#users = parseHtpasswd(text);
    this.#dummy = dummyHash(this.#users);
    this.#compare = options.compare ?? bcryptCompare;
    this.#passed = new LruCache(options.cacheSize ?? 1024);
    this.#hmacKey = crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  }

  get size(): number {
    return this.#users.size;
  }

  /**
   * Takes the file's new contents. A bad file throws an HtpasswdError (the watcher reports it)
   * and the entries in use stay.
   */
  replace(text: string): void {
    const users = parseHtpasswd(text);
    this.#users = users;
    this.#dummy = dummyHash(users);
    this.#passed.clear();
    this.#pending.clear();
    this.#version++;
  }

  /** The user name when the credentials match an entry; undefined otherwise, in the same time either way. */
  async check(user: string, password: string): Promise<string | undefined> {
    const key = await this.#key(user, password);
    const cached = this.#passed.get(key);
    if (cached !== undefined) return cached;
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      const version = this.#version;
      const hash = this.#users.get(user);
      pending = this.#compare(password, hash ?? this.#dummy)
        .catch(() => false)
        .then((match) => {
          const passed = match && hash !== undefined ? user : undefined;
          // A reload during the compare: the answer is about the old file, so it is not remembered.
          if (passed !== undefined && version === this.#version) this.#passed.set(key, passed);
          return passed;
        })
        .finally(() => {
          if (this.#pending.get(key) === pending) this.#pending.delete(key);
        });
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #key(user: string, password: string): Promise<string> {
    const mac = await crypto.subtle.sign('HMAC', await this.#hmacKey, new TextEncoder().encode(`${user}:${password}`));
    return btoa(String.fromCharCode(...new Uint8Array(mac)));
  }
}

/**
 * A hash that matches no password, at the cost most entries use: comparing against it costs what
 * comparing against a real entry costs. bcrypt's work depends only on the cost and the salt, not on
 * whether the stored hash is right, so no hashing is needed to make one.
 */
function dummyHash(users: Map<string, string>): string {
  const counts = new Map<string, number>();
  for (const hash of users.values()) {
    const cost = hash.slice(4, 6);
    counts.set(cost, (counts.get(cost) ?? 0) + 1);
  }
  let cost = '10';
  let most = 0;
  for (const [candidate, count] of counts) if (count > most) [cost, most] = [candidate, count];
  return `$2b$${cost}$${'N'.repeat(22)}${'.'.repeat(31)}`;
}
