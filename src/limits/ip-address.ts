/**
 * IP addresses as text, read without a regular expression or an allocation: what the runtimes
 * report as peers and what client-address.ts finds in X-Forwarded-For (brackets and ports
 * already stripped). cidr.ts matches them against ranges; addressKey names them for the rate
 * limiter.
 *
 * - IPv4 in dotted-decimal, four parts, no leading zeros: `010.0.0.1` is octal to inet_aton(3)
 *   and decimal to others, the ambiguity behind CVE-2021-29921 (Python ipaddress) and
 *   CVE-2021-28918 (npm netmask), so it is not an address here;
 * - IPv6 in any RFC 4291 §2.2 text form (`::` once, a trailing dotted IPv4), case-insensitive,
 *   with an optional zone (`fe80::1%eth0`, RFC 4007 §11), which is ignored;
 * - an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, RFC 4291 §2.5.5.2, what Node reports for
 *   IPv4 peers on a dual-stack socket) is the IPv4 address.
 */

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
 * Parses the address in text[start, end) into `out` (four 32-bit words): 4 for IPv4 (in out[3];
 * IPv4-mapped IPv6 included), 6 for IPv6 (all four words), 0 when the text is not an address.
 */
export function parseAddress(text: string, start: number, end: number, out: Uint32Array): 0 | 4 | 6 {
  const colon = text.indexOf(':', start);
  if (colon < 0 || colon >= end) {
    const v4 = parseIPv4(text, start, end);
    if (v4 < 0) return 0;
    out[3] = v4;
    return 4;
  }
  const zone = text.indexOf('%', start);
  if (zone >= 0 && zone < end) {
    if (zone === end - 1) return 0; // `%` with no zone
    end = zone;
  }
  if (!parseIPv6Groups(text, start, end)) return 0;
  for (let w = 0; w < 4; w++) out[w] = ((groups[2 * w]! << 16) | groups[2 * w + 1]!) >>> 0;
  if (out[0] === 0 && out[1] === 0 && out[2] === 0xffff) return 4;
  return 6;
}

/** Dotted-decimal text of an unsigned 32-bit IPv4 address. */
export function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** Where isIpAddress and addressKey parse to. One per module: JS runs one request step at a time. */
const scratch = new Uint32Array(4);

/** Whether `text` is one IPv4 or IPv6 address (IPv6 zone allowed), in the forms described at the top. */
export function isIpAddress(text: string, start = 0, end = text.length): boolean {
  return parseAddress(text, start, end, scratch) !== 0;
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
  const family = parseAddress(address, 0, address.length, scratch);
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
