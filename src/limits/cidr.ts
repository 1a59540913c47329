/**
 * IPv4 and IPv6 ranges (CIDR: RFC 4632, RFC 4291 §2.3) for ALLOW_CIDRS and TRUSTED_PROXIES,
 * parsed once at start-up and matched per request with integer compares only: no regular
 * expression, no allocation, no node:net. Addresses are read as ip-address.ts reads them.
 *
 * An IPv4-mapped address matches the IPv4 ranges, and a configured range inside
 * `::ffff:0:0/96` is the IPv4 range, so either spelling matches the other. An IPv6 range never
 * matches an IPv4 address otherwise (`::/0` is "every IPv6 client"), as in Go's net/netip.
 */
import { formatIPv4, parseAddress } from './ip-address.ts';

/** Where addresses are parsed to. One per module: JS runs one request step at a time. */
const scratch = new Uint32Array(4);

/** The mask of the `bits` leading bits of a 32-bit word, as a signed int (what `&` yields). */
function wordMask(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? -1 : (-1 << (32 - bits)) | 0;
}

/** 1: inside one of the ranges; 0: outside all of them; -1: not an address at all. */
export type Membership = 1 | 0 | -1;

/** A parsed list of ranges; `has` is the per-request matcher. */
export class CidrSet {
  /** The entries as written (trimmed), for the status page and error messages. */
  readonly entries: readonly string[];
  /** IPv4 ranges as [network, mask] pairs of signed 32-bit ints. */
  readonly #v4: Int32Array;
  /** IPv6 ranges as [network ×4, mask ×4] runs of signed 32-bit ints. */
  readonly #v6: Int32Array;

  /** Whether a /0 is among the ranges (every IPv4 or every IPv6 address). */
  readonly coversEverything: boolean;

  constructor(entries: readonly string[], v4: readonly number[], v6: readonly number[]) {
    this.entries = entries;
    this.#v4 = Int32Array.from(v4);
    this.#v6 = Int32Array.from(v6);
    let everything = false;
    for (let k = 1; k < v4.length; k += 2) everything ||= v4[k] === 0;
    for (let k = 4; k < v6.length; k += 8) everything ||= v6[k] === 0;
    this.coversEverything = everything;
  }

  /** How many ranges: 0 means the variable was left empty. */
  get size(): number {
    return this.entries.length;
  }

  /** Whether the address is inside one of the ranges (false for a text that is no address). Detached use is fine. */
  readonly has = (address: string): boolean => this.classify(address) === 1;

  /** Like `has`, but tells "not an address" apart, for client-address.ts's walk of X-Forwarded-For. */
  classify(address: string, start = 0, end = address.length): Membership {
    const family = parseAddress(address, start, end, scratch);
    if (family === 0) return -1;
    if (family === 4) {
      const value = scratch[3]!;
      const v4 = this.#v4;
      for (let k = 0; k < v4.length; k += 2) if ((value & v4[k + 1]!) === v4[k]) return 1;
      return 0;
    }
    const v6 = this.#v6;
    for (let k = 0; k < v6.length; k += 8) {
      if (
        (scratch[0]! & v6[k + 4]!) === v6[k] &&
        (scratch[1]! & v6[k + 5]!) === v6[k + 1] &&
        (scratch[2]! & v6[k + 6]!) === v6[k + 2] &&
        (scratch[3]! & v6[k + 7]!) === v6[k + 3]
      )
        return 1;
    }
    return 0;
  }

  /** The list as written: what the status page and the README's default column show. */
  toString(): string {
    return this.entries.join(',');
  }

  toJSON(): readonly string[] {
    return this.entries;
  }
}

export type CidrListResult = { ok: true; set: CidrSet } | { ok: false; entry: string; reason: string };

/** A prefix length: decimal digits, no leading zero, at most `max`; -1 if not. */
function parsePrefix(text: string, max: number): number {
  if (text.length === 0 || text.length > 3 || (text.length > 1 && text.charCodeAt(0) === 48)) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    value = value * 10 + (c - 48);
  }
  return value <= max ? value : -1;
}

/**
 * Parses a list of ranges separated by commas and/or whitespace (a YAML block in a manifest
 * works): `10.0.0.0/8, 2001:db8::/32, 192.0.2.7, [::1]`. A bare address is a /32 or /128.
 * Refuses, naming the entry, anything that is not exactly a network: a prefix out of range, or
 * host bits set past the prefix (`10.0.0.1/8`), which is more often a typo for /32 than a wish
 * to allow the whole /8 (nginx only warns, "low address bits are meaningless").
 */
export function parseCidrList(list: string): CidrListResult {
  const entries: string[] = [];
  const v4: number[] = [];
  const v6: number[] = [];
  for (const entry of list.split(/[\s,]+/)) {
    if (entry === '') continue;
    const slash = entry.lastIndexOf('/');
    let address = slash < 0 ? entry : entry.slice(0, slash);
    // Brackets, as in a URL (RFC 3986 §3.2.2), are allowed around an IPv6 address only.
    const bracketed = address.startsWith('[') && address.endsWith(']') && address.includes(':');
    if (bracketed) address = address.slice(1, -1);
    const family =
      address.includes('[') || address.includes(']') ? 0 : parseAddress(address, 0, address.length, scratch);
    if (family === 0) return { ok: false, entry, reason: 'is not an IPv4 or IPv6 address' };
    const written = address.includes(':') ? 128 : 32;
    let prefix = slash < 0 ? written : parsePrefix(entry.slice(slash + 1), written);
    if (prefix < 0) return { ok: false, entry, reason: `needs a prefix length from 0 to ${written}` };
    if (family === 4 && written === 128) {
      // An IPv4-mapped range is the IPv4 range; one shorter than /96 reaches past the mapped block.
      if (prefix < 96) return { ok: false, entry, reason: 'reaches beyond ::ffff:0:0/96: write IPv4 ranges as IPv4' };
      prefix -= 96;
    }
    if (family === 4) {
      const value = scratch[3]!;
      const mask = wordMask(prefix);
      if ((value & mask) !== (value | 0)) {
        const network = formatIPv4((value & mask) >>> 0);
        return { ok: false, entry, reason: `has host bits set (did you mean ${network}/${prefix}, or a /32?)` };
      }
      v4.push(value | 0, mask);
    } else {
      const masks = [0, 1, 2, 3].map((w) => wordMask(prefix - 32 * w));
      if (masks.some((mask, w) => (scratch[w]! & mask) !== (scratch[w]! | 0)))
        return { ok: false, entry, reason: 'has host bits set past its prefix (write the first address of the range)' };
      v6.push(scratch[0]! | 0, scratch[1]! | 0, scratch[2]! | 0, scratch[3]! | 0, ...masks);
    }
    entries.push(entry);
  }
  return { ok: true, set: new CidrSet(entries, v4, v6) };
}

/** The empty list: nobody is inside it. */
export const emptyCidrSet = new CidrSet([], [], []);
