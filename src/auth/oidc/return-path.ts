/**
 * Where the browser goes after the login: back to the page it asked for, on this origin only.
 * An unchecked return address is an open redirect (CWE-601), and oauth2-proxy's `rd` parameter
 * had several advisories on these very tricks (bitly/oauth2_proxy#228, GHSA-qqxw-m5fj-f7gv,
 * GHSA-j7px-6hwj-hpjg, GHSA-5m6c-jp6f-2vcv).
 *
 * The rules:
 * - it must be a path: start with one `/`. `//evil.example` is a network-path reference (RFC 3986
 *   §4.2) and `/\evil.example` is read as one by browsers (WHATWG URL treats `\` as `/`);
 * - it is parsed as a browser would (the WHATWG parser drops tabs and newlines, so `/<TAB>/evil`
 *   becomes `//evil`) and must stay on our origin;
 * - what is sent back is the parsed path and query, checked again: dot-segment removal can turn
 *   `/.//evil.example` into `//evil.example`.
 * Anything else becomes `/`.
 */
const base = 'https://return-path.invalid';

export function safeReturnPath(asked: string | null | undefined): string {
  if (!asked || !isLocalPath(asked)) return '/';
  let url: URL;
  try {
    url = new URL(asked, base);
  } catch {
    return '/';
  }
  if (url.origin !== base) return '/';
  const path = url.pathname + url.search;
  return isLocalPath(path) ? path : '/';
}

function isLocalPath(path: string): boolean {
  return path.startsWith('/') && path[1] !== '/' && path[1] !== '\\';
}
