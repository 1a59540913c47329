/**
 * AUTH_SKIP_PATHS: the paths passed without a check, matched on the normalised path only.
 *
 * Skip rules are where authenticating proxies get bypassed: oauth2-proxy matched its
 * skip_auth_routes against the path and the query (GHSA-7rh7-c77v-6434, so `/admin?x=/public/`
 * skipped the check), and let a `#` widen a rule (GHSA-pxq7-h93f-9jrg, CVE-2026-41059); path
 * parameters (Tomcat's `/public/..;/admin`), backslashes and encoded slashes make an app see
 * another path than the proxy judged. So the path is judged the way a server would resolve it
 * (percent-decoded once, dot-segments removed per RFC 3986 §5.2.4), and any path that a server
 * could still read in two ways is never skipped: it goes through the normal check instead.
 */

/**
 * What, after one percent-decoding, makes a segment ambiguous: `/` (it was `%2F`: one segment
 * to us, two to an app that decodes first), `\` (a separator to Windows and some frameworks),
 * `;` (path parameters: Tomcat and Jetty drop `;...`), `#` and `?` (a fragment or a query to an
 * app that re-parses the decoded path), `%` (it was `%25`: a second decoding, as some apps and
 * proxies do, would turn `%252e` into `.`), and control characters.
 */
const ambiguous = /[/\\;#?%\u0000-\u001f\u007f]/;

/**
 * The path as a server resolves it: each segment percent-decoded once, `.` and `..` removed
 * (RFC 3986 §5.2.4). Undefined for a path that is not one (no leading `/`, a malformed escape) or
 * that could be read another way (see `ambiguous`; a `#` anywhere): such a path is never skipped.
 */
export function normalisePath(path: string): string | undefined {
  if (!path.startsWith('/') || path.includes('#')) return undefined;
  const segments = path.slice(1).split('/');
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    let segment = segments[i] as string;
    if (segment.includes('%')) {
      try {
        segment = decodeURIComponent(segment);
      } catch {
        return undefined;
      }
    }
    if (ambiguous.test(segment)) return undefined;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      // A path ending in a dot-segment names a directory: `/a/b/..` is `/a/`.
      if (i === segments.length - 1) out.push('');
      continue;
    }
    out.push(segment);
  }
  return `/${out.join('/')}`;
}

/** The path part of a request-target (origin-form: path and query); the query is never looked at. */
export function pathOfTarget(target: string): string {
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** Whether a request-target is one of AUTH_SKIP_PATHS; undefined when none are configured. */
export type SkipPaths = (target: string) => boolean;

/**
 * Entries ending in `/` are prefixes (`/public/` skips `/public/` and below, not `/public`); the
 * others are exact paths. Entries are normalised paths (config.ts refuses any other), compared
 * case-sensitively, as the path is: a different case is a different path, so it gets the check.
 */
export function createSkipPaths(entries: readonly string[] | undefined): SkipPaths | undefined {
  if (entries === undefined || entries.length === 0) return undefined;
  const exact = new Set(entries.filter((entry) => !entry.endsWith('/')));
  const prefixes = entries.filter((entry) => entry.endsWith('/'));
  return (target) => {
    const path = normalisePath(pathOfTarget(target));
    if (path === undefined) return false;
    return exact.has(path) || prefixes.some((prefix) => path.startsWith(prefix));
  };
}
