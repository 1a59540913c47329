/**
 * Access control for a runtime: its secret files read once at start-up with node:fs (Node, Bun
 * and Deno alike), then the authenticator built, and AUTH_BASIC_FILE watched afterwards
 * (src/auth/htpasswd-watcher.ts: a changed file is taken without a restart). A file that is
 * missing, unreadable or wrong stops the start-up with one line naming its variable
 * (src/auth/secrets.ts), as a bad value does; the secret itself is never printed. The
 * access-control modules (jose, oauth4webapi, bcryptjs) are loaded only when a method is
 * configured: a sidecar without access control neither parses nor holds them.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../../src/config.ts';
import type { Config } from '../../src/config.ts';
import type { ProcessControl } from '../../src/lifecycle.ts';
import type { Authenticator } from '../../src/auth/authenticate.ts';
import { authEnabled } from '../../src/auth/config.ts';
import { HtpasswdWatcher } from '../../src/auth/htpasswd-watcher.ts';
import type { WatchedFiles } from '../../src/auth/htpasswd-watcher.ts';
import { tlsFiles } from './tls-files.ts';

/** The same directory watch the certificate files use (a mounted Secret's `..data` swap). */
export const authFiles: WatchedFiles = {
  read: (path) => readFile(path, 'utf8'),
  watch: (directory, onChange) => tlsFiles.watch(directory, onChange),
};

export async function accessControlOrExit(config: Config, process: ProcessControl): Promise<Authenticator | undefined> {
  if (!authEnabled(config)) return undefined;
  const [{ loadAuthSecrets }, { createAccessControl }] = await Promise.all([
    import('../../src/auth/secrets.ts'),
    import('../../src/auth/access-control.ts'),
  ]);
  try {
    const secrets = loadAuthSecrets(config, (path) => readFileSync(path, 'utf8'));
    const auth = createAccessControl(config, { secrets, fetch: globalThis.fetch.bind(globalThis), say: process.say });
    const path = config.AUTH_BASIC_FILE;
    if (auth?.htpasswd === undefined || path === undefined || secrets.htpasswd === undefined) return auth;
    const watcher = new HtpasswdWatcher({
      path,
      files: authFiles,
      store: auth.htpasswd,
      initial: secrets.htpasswd,
      say: process.say,
    });
    // The authenticator's close() stops the watch too (in place: `ready` is a getter a copy would freeze).
    const close = auth.close.bind(auth);
    return Object.assign(auth, { close: () => (watcher.close(), close()) });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.say(`sidecar: invalid configuration: ${error.message}`);
    process.exit(1);
    return undefined;
  }
}
