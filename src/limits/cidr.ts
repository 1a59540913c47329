/**
 * IPv4 and IPv6 ranges (CIDR: RFC 4632, RFC 4291 §2.3), parsed once at start-up and matched per
 * request with integer compares only: no regular expression, no allocation, no node:net.
 *
 * What an address may look like (the runtimes' peers, and the X-Forwarded-For entries that
 * client-address.ts has already stripped of brackets and ports):
 * - IPv4 in dotted-decimal, four parts, no leading zeros: `010.0.0.1` is octal to inet_aton(3)
 *   and decimal to others, the ambiguity behind CVE-2021-29921 (Python ipaddress) and
 *   CVE-2021-28918 (npm netmask), so it is not an address here;
 * - IPv6 in any RFC 4291 §2.2 text form (`::` once, a trailing dotted IPv4), case-insensitive,
 *   with an optional zone (`fe80::1%eth0`, RFC 4007 §11), which matching ignores;
 * - an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, RFC 4291 §2.5.5.2, what Node reports for
 *   IPv4 peers on a dual-stack socket) is the IPv4 address, and a configured range inside
 *   `::ffff:0:0/96` is the IPv4 range, so either spelling matches the other. An IPv6 range never
 *   matches an IPv4 address otherwise (`::/0` is "every IPv6 client"), as in Go's net/netip.
 */

/** Where addresses are parsed to: four 32-bit words (IPv4 uses the last). One per process: JS runs one request step at a time. */
const scratch = new Uint32Array(4);
/** The eight 16-bit groups of the IPv6 address being parsed. */
const groups = new Uint16Array(8);

/** The dotted-decimal IPv4 address in text[start, end) as an unsigned 32-bit number, or -1. */
function parseIPv4(text: string, start: number, end: number): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && part === 0) return -1; // a leading zero (see above)
      part = part * 10 + (c - 48);
      if (part > 255) return -1;
      digits++;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else return -1;
  }
  return dots === 3 && digits > 0 ? value * 256 + part : -1;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses the IPv6 address in text[start, end) (zone already cut off) into `groups`; false if it is none. */
function parseIPv6Groups(text: string, start: number, end: number): boolean {
  let count = 0;
  let gap = -1; // where `::` stands, in groups
  let i = start;
  if (text.charCodeAt(i) === 58) {
    if (text.charCodeAt(i + 1) !== 58) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    if (count === 8) return false;
    const groupStart = i;
    let value = 0;
    while (i < end && i - groupStart < 5) {
      const d = hexDigit(text.charCodeAt(i));
      if (d < 0) break;
      value = value * 16 + d;
      i++;
    }
    const length = i - groupStart;
    if (i < end && text.charCodeAt(i) === 46) {
      // A trailing dotted IPv4 address fills the last two groups.
      const v4 = count <= 6 ? parseIPv4(text, groupStart, end) : -1;
      if (v4 < 0) return false;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (length === 0 || length > 4) return false;
    groups[count++] = value;
    if (i === end) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (text.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i === end) return false; // a trailing single colon
  }
  if (gap < 0) return count === 8;
  if (count > 7) return false;
  // Move the groups after `::` to the end and zero the gap.
  const tail = count - gap;
  for (let k = 0; k < tail; k++) groups[7 - k] = groups[count - 1 - k]!;
  for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  return true;
}

/**
 * Parses an address into `scratch`: 4 (IPv4, in scratch[3]; IPv4-mapped IPv6 included), 6
 * (IPv6, all four words), or 0 when the text is not an address.
 */
function parseAddress(text: string, start = 0, end = text.length): 0 | 4 | 6 {
  const colon = text.indexOf(':', start);
  if (colon < 0 || colon >= end) {
    const v4 = parseIPv4(text, start, end);
    if (v4 < 0) return 0;
    scratch[3] = v4;
    return 4;
  }
  const zone = text.indexOf('%', start);
  if (zone >= 0 && zone < end) {
    if (zone === end - 1) return 0; // `%` with no zone
    end = zone;
  }
  if (!parseIPv6Groups(text, start, end)) return 0;
  for (let w = 0; w < 4; w++) scratch[w] = ((groups[2 * w]! << 16) | groups[2 * w + 1]!) >>> 0;
  if (scratch[0] === 0 && scratch[1] === 0 && scratch[2] === 0xffff) return 4;
  return 6;
}

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
    const family = parseAddress(address, start, end);
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

/** Whether `text` is one IPv4 or IPv6 address (IPv6 zone allowed), in the forms described at the top. */
export function isIpAddress(text: string, start = 0, end = text.length): boolean {
  return parseAddress(text, start, end) !== 0;
}

/**
 * One key per address however it was written (`::ffff:10.0.0.1` and `10.0.0.1`, `2001:DB8::1`
 * and `2001:db8:0::1`, a zone or none), or undefined for a text that is no address: the rate
 * limiter's table key. It is the address's bits as UTF-16 code units (2 for IPv4, 8 for IPv6),
 * not text to show: a fresh string of 20 to 32 bytes, where the formatted address costs up to
 * ten times that in V8 (a cons string of its parts), and never a slice of the X-Forwarded-For
 * value, whose whole text a V8 slice keeps alive.
 */
export function addressKey(address: string): string | undefined {
  const family = parseAddress(address);
  if (family === 0) return undefined;
  if (family === 4) return String.fromCharCode(scratch[3]! >>> 16, scratch[3]! & 0xffff);
  return String.fromCharCode(
    scratch[0]! >>> 16,
    scratch[0]! & 0xffff,
    scratch[1]! >>> 16,
    scratch[1]! & 0xffff,
    scratch[2]! >>> 16,
    scratch[2]! & 0xffff,
    scratch[3]! >>> 16,
    scratch[3]! & 0xffff,
  );
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

function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
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
    const family = address.includes('[') || address.includes(']') ? 0 : parseAddress(address);
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
