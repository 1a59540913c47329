/**
 * The secret files AUTH_* variables name, read once at start-up through a capability the runtime
 * hands in (files are runtime APIs). Apart from auth/config.ts because it throws the sidecar's
 * ConfigError: src/config.ts (which will spread authConfigShape into its schema) must not be imported
 * from the module it imports.
 */
import { ConfigError } from '../config.ts';
import { parseHtpasswd } from './basic.ts';
import type { AuthFields } from './config.ts';

/**
 * Reads one secret file whole; the runtime provides it (node:fs readFileSync on every runtime)
 * and throws when the file cannot be read.
 */
export type ReadSecret = (path: string) => string;

/** What the secret files hold, read once at start-up. */
export interface AuthSecrets {
  /** AUTH_OIDC_CLIENT_SECRET_FILE's contents, trailing whitespace removed. */
  oidcClientSecret?: string;
  /** AUTH_COOKIE_SECRET_FILE's contents as UTF-8 bytes, trailing whitespace removed: ≥ 32 bytes. */
  cookieSecret?: Uint8Array;
  /** AUTH_BASIC_FILE's contents, already parsed once so a bad file stops the start-up. */
  htpasswd?: string;
}

/** 256 bits: the AES-256-GCM key of the session cookie is derived from it, and can be no stronger. */
export const MIN_COOKIE_SECRET_BYTES = 32;

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n', 1)[0] ?? '';
}

/**
 * Reads the secret files the configuration names. Throws a ConfigError (exit 1, as for any bad
 * variable) whose message is one line naming the variable; never a secret's contents.
 */
export function loadAuthSecrets(config: AuthFields, readSecret: ReadSecret): AuthSecrets {
  const read = (variable: string, path: string): string => {
    try {
      return readSecret(path).replace(/\s+$/, '');
    } catch (error) {
      throw new ConfigError(`${variable}: cannot read ${JSON.stringify(path)}: ${oneLine(error)}`);
    }
  };
  const secrets: AuthSecrets = {};
  if (config.AUTH_OIDC_CLIENT_SECRET_FILE !== undefined) {
    const secret = read('AUTH_OIDC_CLIENT_SECRET_FILE', config.AUTH_OIDC_CLIENT_SECRET_FILE);
    if (secret === '') throw new ConfigError('AUTH_OIDC_CLIENT_SECRET_FILE: the file is empty');
    secrets.oidcClientSecret = secret;
  }
  if (config.AUTH_COOKIE_SECRET_FILE !== undefined) {
    const bytes = new TextEncoder().encode(read('AUTH_COOKIE_SECRET_FILE', config.AUTH_COOKIE_SECRET_FILE));
    if (bytes.length < MIN_COOKIE_SECRET_BYTES)
      throw new ConfigError(
        `AUTH_COOKIE_SECRET_FILE: must hold at least ${MIN_COOKIE_SECRET_BYTES} bytes, has ${bytes.length} (make one with: openssl rand -base64 32)`,
      );
    secrets.cookieSecret = bytes;
  }
  if (config.AUTH_BASIC_FILE !== undefined) {
    const text = read('AUTH_BASIC_FILE', config.AUTH_BASIC_FILE);
    try {
      parseHtpasswd(text);
    } catch (error) {
      throw new ConfigError(`AUTH_BASIC_FILE: ${oneLine(error)}`);
    }
    secrets.htpasswd = text;
  }
  return secrets;
}
