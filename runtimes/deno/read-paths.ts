/**
 * `deno task serve` asks this for its `--allow-read` list (deno.json): the directories that hold
 * TLS_CERT_FILE and TLS_KEY_FILE and the access-control files (AUTH_BASIC_FILE, AUTH_OIDC_CLIENT_SECRET_FILE, AUTH_COOKIE_SECRET_FILE), and nothing else. The directory, not only the file: the
 * certificate watch is on the directory (src/tls/certificate.ts), and a Kubernetes Secret mounted there swaps
 * its `..data` link inside it. Without TLS, `/dev/null`: Deno refuses an empty list, and reading
 * /dev/null reveals nothing. Run with --allow-env for these two variables only. (node:process, so
 * that tsc checks this file along with the rest.)
 */
import process from 'node:process';

const paths = [
  'TLS_CERT_FILE',
  'TLS_KEY_FILE',
  'AUTH_BASIC_FILE',
  'AUTH_OIDC_CLIENT_SECRET_FILE',
  'AUTH_COOKIE_SECRET_FILE',
]
  .map((name) => process.env[name]?.trim())
  .filter((path): path is string => !!path);
const directory = (path: string) => {
  const slash = path.lastIndexOf('/');
  // A file at the root gets itself, never "/".
  return slash === -1 ? '.' : slash === 0 ? path : path.slice(0, slash);
};
console.log(paths.length === 0 ? '/dev/null' : [...new Set(paths.map(directory))].join(','));
