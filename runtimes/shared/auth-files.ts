/**
 * Access control's secret files, read once at start-up with node:fs (Node, Bun and Deno alike):
 * the OIDC client secret, the cookie secret, the htpasswd file. A file that is missing, unreadable
 * or wrong stops the start-up with one line naming its variable (auth/secrets.ts), as a bad value
 * does; the secret itself is never printed.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../src/config.ts';
import type { Config } from '../../src/config.ts';
import type { ProcessControl } from '../../src/lifecycle.ts';
import { loadAuthSecrets } from '../../src/auth/secrets.ts';
import type { AuthSecrets } from '../../src/auth/secrets.ts';

export function authSecretsOrExit(config: Config, process: ProcessControl): AuthSecrets | undefined {
  try {
    return loadAuthSecrets(config, (path) => readFileSync(path, 'utf8'));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.say(`sidecar: invalid configuration: ${error.message}`);
    process.exit(1);
    return undefined;
  }
}
