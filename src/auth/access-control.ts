/**
 * Access control assembled from the configuration and the secrets the runtime read at start-up:
 * the OIDC login (oidc/session-auth.ts) when AUTH_OIDC_ISSUER is set, then the one authenticator
 * (authenticate.ts) the door calls. Undefined when no method is configured.
 */
import type { Config } from '../config.ts';
import { createAuthenticator } from './authenticate.ts';
import type { Authenticator } from './authenticate.ts';
import { authEnabled } from './config.ts';
import { createSessionAuth } from './oidc/session-auth.ts';
import type { AuthSecrets } from './secrets.ts';

export interface AccessControlDeps {
  /** From loadAuthSecrets, run by the runtime at start-up (a bad file exits there, naming the variable). */
  secrets: AuthSecrets;
  /** Discovery, JWKS and token requests to the IdP. */
  fetch: typeof fetch;
  say(message: string): void;
}

export function createAccessControl(config: Config, deps: AccessControlDeps): Authenticator | undefined {
  if (!authEnabled(config)) return undefined;
  const { secrets } = deps;
  const session =
    config.AUTH_OIDC_ISSUER === undefined
      ? undefined
      : createSessionAuth({
          issuer: new URL(config.AUTH_OIDC_ISSUER),
          clientId: config.AUTH_OIDC_CLIENT_ID as string,
          clientSecret: secrets.oidcClientSecret as string,
          cookieSecret: secrets.cookieSecret as Uint8Array,
          scopes: config.AUTH_OIDC_SCOPES,
          ttlSeconds: config.AUTH_SESSION_TTL_S,
          pathPrefix: config.AUTH_PATH_PREFIX,
          srvName: config.SRV_NAME,
          // The access token rides in the cookie only when the app is to receive it.
          keepAccessToken: config.AUTH_PASS_ACCESS_TOKEN,
          fetch: deps.fetch,
          say: deps.say,
        });
  return createAuthenticator(config, { fetch: deps.fetch, secrets, session, say: deps.say });
}
