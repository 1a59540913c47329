/**
 * Access control for a runtime: its secret files read once at start-up with node:fs (Node, Bun
 * and Deno alike), then the authenticator built. A file that is missing, unreadable or wrong stops
 * the start-up with one line naming its variable (src/auth/secrets.ts), as a bad value does; the
 * secret itself is never printed. The access-control modules (jose, oauth4webapi, bcryptjs) are
 * loaded only when a method is configured: a sidecar without access control neither parses nor
 * holds them.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../src/config.ts';
import type { Config } from '../../src/config.ts';
import type { ProcessControl } from '../../src/lifecycle.ts';
import type { Authenticator } from '../../src/auth/authenticate.ts';
import { authEnabled } from '../../src/auth/config.ts';

export async function accessControlOrExit(config: Config, process: ProcessControl): Promise<Authenticator | undefined> {
  if (!authEnabled(config)) return undefined;
  const [{ loadAuthSecrets }, { createAccessControl }] = await Promise.all([
    import('../../src/auth/secrets.ts'),
    import('../../src/auth/access-control.ts'),
  ]);
  try {
    const secrets = loadAuthSecrets(config, (path) => readFileSync(path, 'utf8'));
    return createAccessControl(config, { secrets, fetch: globalThis.fetch.bind(globalThis), say: process.say });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.say(`sidecar: invalid configuration: ${error.message}`);
    process.exit(1);
    return undefined;
  }
}
