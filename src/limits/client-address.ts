/**
 * Who the client is: the one answer the log's remote_addr, the allow list, the rate limit and
 * anything else that means "the client" all use.
 *
 * The connection's peer, unless the peer is inside TRUSTED_PROXIES; then X-Forwarded-For is read
 * from the right, each entry being the peer that the hop to its right saw, and the first entry
 * that is not itself a trusted proxy is the client. This is the "trusted proxy list" method of
 * MDN's X-Forwarded-For page ("Selecting an IP address",
 * https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/X-Forwarded-For), and
 * nginx's `set_real_ip_from` with `real_ip_recursive on`
 * (https://nginx.org/en/docs/http/ngx_http_realip_module.html#real_ip_recursive), whose walk
 * (ngx_http_get_forwarded_addr_internal in src/http/ngx_http_core_module.c) also decides the
 * two edge cases the same way as here:
 * - every entry trusted: the left-most one (the far end of a chain of our own proxies);
 * - an entry that is not an address (garbage, `unknown`, an obfuscated RFC 7239 name): the walk
 *   stops and the last address it reached is the client: the peer, or the trusted proxy whose
 *   entry stood right of the garbage. A trusted hop wrote that entry, so garbage there means a
 *   broken proxy or one that passes a client's header on unchecked; in both cases that proxy is
 *   the nearest address anyone vouches for, and picking an entry further left would hand the
 *   choice to the client.
 * Empty entries (`a,,b`, a trailing comma, an empty header line) are skipped, as nginx does.
 *
 * The advisories this follows: trusting X-Forwarded-For from any peer lets every client choose
 * its address (gin CVE-2020-28483, gin-gonic/gin#2473); trusting it only from trusted peers but
 * taking the left-most entry is no better, since the client writes that one
 * (gin-gonic/gin#2862; oauth2-proxy GHSA-7x63-xv5r-3p2x and oauth2-proxy/oauth2-proxy#3478, an
 * allow-list bypass); a trust-everyone default makes forwarded headers spoofable
 * (oauth2-proxy/oauth2-proxy#3506), which is why config.ts refuses a /0 in TRUSTED_PROXIES.
 *
 * Several X-Forwarded-For header lines arrive as one value: `Headers.get` joins them with ", "
 * in order (Fetch standard, "get"), which RFC 9110 §5.3 makes equivalent to the separate lines.
 * Entries may carry a port (`192.0.2.1:5678`, `[2001:db8::1]:80`, as some balancers write
 * them) or brackets; the client is the address alone.
 */
import type { CidrSet } from './cidr.ts';

/** The client's address from the connection's peer and the request's X-Forwarded-For value (`Headers.get`). */
export type ClientAddress = (peer: string | undefined, forwardedFor: string | null | undefined) => string | undefined;

/** Bounds of the address inside the entry last read by readEntry (module state: no allocation per entry). */
let addressStart = 0;
let addressEnd = 0;

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** Whether text[start, end) is a port: 1 to 5 digits, at most 65535. */
function isPort(text: string, start: number, end: number): boolean {
  if (end <= start || end - start > 5) return false;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    value = value * 10 + (c - 48);
  }
  return value <= 65535;
}

/**
 * Finds the address in the entry text[start, end): 1 (bounds in addressStart/addressEnd), 0 for
 * an empty entry, -1 for one whose shape is no address with an optional port. Whether the
 * address itself is valid is the CIDR set's to say.
 */
function readEntry(text: string, start: number, end: number): 1 | 0 | -1 {
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
  if (start === end) return 0;
  if (text.charCodeAt(start) === 91) {
    // `[v6]` or `[v6]:port` (RFC 3986 §3.2.2)
    const close = text.indexOf(']', start);
    if (close < 0 || close >= end) return -1;
    const colon = text.indexOf(':', start);
    if (colon < 0 || colon > close) return -1; // brackets hold IPv6 only
    if (close + 1 < end && !(text.charCodeAt(close + 1) === 58 && isPort(text, close + 2, end))) return -1;
    addressStart = start + 1;
    addressEnd = close;
    return 1;
  }
  addressStart = start;
  addressEnd = end;
  const colon = text.indexOf(':', start);
  if (colon >= 0 && colon < end) {
    const second = text.indexOf(':', colon + 1);
    // One colon: IPv4 with a port. Two or more: a bare IPv6 address, which cannot carry a port unbracketed.
    if (second < 0 || second >= end) {
      if (!isPort(text, colon + 1, end)) return -1;
      addressEnd = colon;
    }
  }
  return 1;
}

/** Walks X-Forwarded-For from the right, starting from a trusted peer (see the top of the file). */
function walk(header: string, peer: string, trusted: CidrSet): string {
  let client = peer;
  let end = header.length;
  while (end > 0) {
    const comma = header.lastIndexOf(',', end - 1);
    const shape = readEntry(header, comma + 1, end);
    end = comma < 0 ? 0 : comma;
    if (shape === 0) continue;
    const membership = shape < 0 ? -1 : trusted.classify(header, addressStart, addressEnd);
    if (membership === -1) return client;
    client = header.slice(addressStart, addressEnd);
    if (membership === 0) return client;
  }
  return client;
}

/**
 * The resolver for a TRUSTED_PROXIES list. With the list empty it is the identity on the peer:
 * X-Forwarded-For is never read, and a request pays one call. An unknown peer (a runtime that
 * does not say) stays unknown: without it, nothing vouches for any header.
 */
export function clientAddressResolver(trustedProxies: CidrSet): ClientAddress {
  if (trustedProxies.size === 0) return (peer) => peer;
  return (peer, forwardedFor) => {
    if (peer === undefined || !forwardedFor || !trustedProxies.has(peer)) return peer;
    return walk(forwardedFor, peer, trustedProxies);
  };
}
