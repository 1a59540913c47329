/**
 * A `Headers` kept as one flat list of lower-cased names and values, in the order they arrived.
 *
 * The proxy's own header work (the copy forwarded to the app, the app's response on its way back)
 * is a few lookups and edits on a handful of fields, then one pass to write them out. A web
 * `Headers` pays for more than that on every request: each `append`, `set` and `delete` goes
 * through its validation and sorted map, and iteration sorts and combines. Here the list is the
 * fields themselves: `fields()` hands it to a runtime's client as it is (undici and `node:http`
 * take flat name/value lists), and `init()` gives a Response a plain record when every
 * name is single, which @hono/node-server writes with one `writeHead` (bench/README.md, "Where
 * the time goes on Node").
 *
 * It behaves as the Fetch standard's Headers for everything the core calls (names are
 * case-insensitive, `get` combines repeated fields with ", ", `getSetCookie` keeps each
 * Set-Cookie apart, iteration sorts and combines, bad names and values throw a TypeError), so a
 * runtime that hands the core a real `Headers` and one that hands it this are the same to it.
 * The field order on the wire is the arrival order, repeated fields stay separate lines, as nginx
 * and Envoy forward them.
 */

import { checkedName, checkedValue } from './field-checks.ts';

export class FlatHeaders implements Headers {
  /** name, value, name, value, ...: names lower-cased. */
  readonly #list: string[];

  private constructor(list: string[]) {
    this.#list = list;
  }

  /**
   * From a parser's raw list (`IncomingMessage.rawHeaders`: names as sent, values already checked
   * and trimmed by the parser). HTTP/2 pseudo-headers (`:path`, ...) are not fields and are left
   * out; repeated Cookie fields (HTTP/2 sends one per cookie) become one, joined with "; " as
   * RFC 9113 §8.2.3 asks of a hop to HTTP/1.1.
   */
  static fromRaw(raw: readonly string[]): FlatHeaders {
    const list: string[] = [];
    let cookie = -1;
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      if (name.charCodeAt(0) === 0x3a) continue;
      const value = raw[i + 1] as string;
      if (name === 'cookie') {
        if (cookie !== -1) {
          list[cookie] += `; ${value}`;
          continue;
        }
        cookie = list.length + 1;
      }
      list.push(name, value);
    }
    return new FlatHeaders(list);
  }

  /** From a parsed record (undici's response headers: names lower-cased, a repeated field as an array). */
  static fromRecord(record: Record<string, string | string[] | undefined>): FlatHeaders {
    const list: string[] = [];
    for (const name in record) {
      const value = record[name];
      if (typeof value === 'string') list.push(name, value);
      else if (value) for (const one of value) list.push(name, one);
    }
    return new FlatHeaders(list);
  }

  /** From a web `Headers` (its fields already valid) or any pairs (each checked as `append` checks it). */
  static from(pairs: Iterable<readonly [string, string]>): FlatHeaders {
    const headers = new FlatHeaders([]);
    if (pairs instanceof Headers) for (const [name, value] of pairs) headers.#list.push(name, value);
    else for (const [name, value] of pairs) headers.append(name, value);
    return headers;
  }

  /** The fields as they are: name, value, ... (names lower-cased), for a client that takes a flat list. */
  fields(): readonly string[] {
    return this.#list;
  }

  /**
   * What a Response (or a fetch) is built with: a plain record when no name repeats (written by
   * @hono/node-server without a `Headers` in between); when one does, the pairs, so each
   * Set-Cookie stays a line of its own, or, where the runtime's server writes them (`arrays`:
   * @hono/node-server hands a record to node:http's `writeHead`), a record with the repeated
   * field's values as an array.
   */
  init(arrays = false): Record<string, string> | [string, string][] {
    const list = this.#list;
    const record: Record<string, string | string[]> = {};
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i] as string;
      const value = list[i + 1] as string;
      // `__proto__` is a valid field name that a plain object cannot hold as a key.
      if (name === '__proto__') return this.#pairs();
      if (!Object.hasOwn(record, name)) record[name] = value;
      else if (!arrays) return this.#pairs();
      else {
        const prior = record[name] as string | string[];
        record[name] = typeof prior === 'string' ? [prior, value] : [...prior, value];
      }
    }
    // A record with arrays is not a HeadersInit; only a server that writes it (above) is given one.
    return record as Record<string, string>;
  }

  append(name: string, value: string): void {
    this.#list.push(checkedName(name), checkedValue(value));
  }

  set(name: string, value: string): void {
    const lower = checkedName(name);
    const checked = checkedValue(value);
    const list = this.#list;
    let at = -1;
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] !== lower) continue;
      if (at === -1) {
        at = i;
        list[i + 1] = checked;
      } else {
        list.splice(i, 2);
        i -= 2;
      }
    }
    if (at === -1) list.push(lower, checked);
  }

  delete(name: string): void {
    const lower = checkedName(name);
    const list = this.#list;
    for (let i = list.length - 2; i >= 0; i -= 2) if (list[i] === lower) list.splice(i, 2);
  }

  get(name: string): string | null {
    const lower = checkedName(name);
    const list = this.#list;
    let value: string | null = null;
    for (let i = 0; i < list.length; i += 2)
      if (list[i] === lower) value = value === null ? (list[i + 1] as string) : `${value}, ${list[i + 1]}`;
    return value;
  }

  has(name: string): boolean {
    const lower = checkedName(name);
    const list = this.#list;
    for (let i = 0; i < list.length; i += 2) if (list[i] === lower) return true;
    return false;
  }

  getSetCookie(): string[] {
    const list = this.#list;
    const cookies: string[] = [];
    for (let i = 0; i < list.length; i += 2) if (list[i] === 'set-cookie') cookies.push(list[i + 1] as string);
    return cookies;
  }

  forEach(callback: (value: string, key: string, parent: this) => void, thisArg?: unknown): void {
    for (const [name, value] of this.#sorted()) callback.call(thisArg, value, name, this);
  }

  entries(): ArrayIterator<[string, string]> {
    return this.#sorted().values();
  }

  keys(): ArrayIterator<string> {
    return this.#sorted()
      .map(([name]) => name)
      .values();
  }

  values(): ArrayIterator<string> {
    return this.#sorted()
      .map(([, value]) => value)
      .values();
  }

  [Symbol.iterator](): ArrayIterator<[string, string]> {
    return this.entries();
  }

  // Bun's extensions of Headers (bun-types), so that this is a Headers to its type checker too.
  get count(): number {
    return this.#sorted().length;
  }

  getAll(name: 'set-cookie' | 'Set-Cookie'): string[] {
    return name.toLowerCase() === 'set-cookie' ? this.getSetCookie() : [];
  }

  toJSON(): Record<string, string> & { 'set-cookie'?: string[] } {
    const json: Record<string, string> & { 'set-cookie'?: string[] } = {};
    for (const [name, value] of this.#sorted()) if (name !== 'set-cookie') json[name] = value;
    const cookies = this.getSetCookie();
    if (cookies.length > 0) json['set-cookie'] = cookies;
    return json;
  }

  /** The Fetch standard's "sort and combine": by name, repeated fields joined, Set-Cookie kept apart. */
  #sorted(): [string, string][] {
    const names = [...new Set(this.#list.filter((_, i) => i % 2 === 0))].sort();
    const pairs: [string, string][] = [];
    for (const name of names) {
      if (name === 'set-cookie') for (const cookie of this.getSetCookie()) pairs.push([name, cookie]);
      else pairs.push([name, this.get(name) as string]);
    }
    return pairs;
  }

  #pairs(): [string, string][] {
    const list = this.#list;
    const pairs: [string, string][] = [];
    for (let i = 0; i < list.length; i += 2) pairs.push([list[i] as string, list[i + 1] as string]);
    return pairs;
  }
}

/**
 * What a Response or a fetch is built with from headers the core holds: FlatHeaders' own init
 * (`arrays`: see init), or the Headers as they are.
 */
export function headersInit(headers: Headers, arrays = false): HeadersInit {
  return headers instanceof FlatHeaders ? headers.init(arrays) : headers;
}
