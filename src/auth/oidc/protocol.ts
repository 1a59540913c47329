/**
 * The settings every oauth4webapi call of the login shares: the client (`client_secret_basic`,
 * OpenID Connect Core §9), the fetch it uses, and a timeout.
 *
 * The IdP's tokens are checked (`exp`, `iat`) against the real clock, as the IdP issues them by
 * its own; the injected clock drives only the sidecar's own decisions (the session's end, when to
 * refresh), so a test that moves it sees what a browser would after that long, with tokens the
 * IdP has just issued.
 */
import * as oauth from 'oauth4webapi';
import { isLoopback } from './request-info.ts';

export interface IdpSettings {
  issuer: URL;
  clientId: string;
  clientSecret: string;
  fetch: typeof fetch;
}

/** Each call to the IdP: discovery, token, JWKS. A hung IdP must not hold a browser's request for long. */
export const IDP_TIMEOUT_MS = 10_000;

export interface Protocol {
  client(): oauth.Client;
  readonly auth: oauth.ClientAuth;
  http(): { [oauth.customFetch]: typeof fetch; [oauth.allowInsecureRequests]: boolean; signal: AbortSignal };
}

export function createProtocol(settings: IdpSettings): Protocol {
  // oauth4webapi refuses http: endpoints; the configuration allows them for a loopback issuer only
  // (a development IdP on this machine), and so does this.
  const insecure = settings.issuer.protocol === 'http:' && isLoopback(settings.issuer.hostname);
  return {
    client: () => ({ client_id: settings.clientId }),
    auth: oauth.ClientSecretBasic(settings.clientSecret),
    http: () => ({
      [oauth.customFetch]: settings.fetch,
      [oauth.allowInsecureRequests]: insecure,
      signal: AbortSignal.timeout(IDP_TIMEOUT_MS),
    }),
  };
}

/** One line for the log: the error's message and, for a fetch that failed, why (ECONNREFUSED …). */
export function describeError(error: unknown): string {
  if (error instanceof oauth.ResponseBodyError) {
    // The OAuth error code (RFC 6749 §5.2) says what went wrong; the message alone does not.
    const description = error.error_description ? ` (${error.error_description})` : '';
    return `the identity provider answered ${error.error}${description}`.replace(/\s+/g, ' ');
  }
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : '';
  return (why ? `${error.message}: ${why}` : error.message).replace(/\s+/g, ' ');
}

/**
 * The IdP could not be asked (no connection, a timeout, a 5xx): worth a 502/503 and another try,
 * unlike an answer that refuses (an OAuth error such as `invalid_grant`, or a token that fails a check).
 */
export function isIdpUnreachable(error: unknown): boolean {
  if (error instanceof oauth.ResponseBodyError) return error.status >= 500;
  if (error instanceof oauth.OperationProcessingError) {
    return error.cause instanceof Response && error.cause.status >= 500;
  }
  // fetch rejects with a TypeError when it cannot connect (oauth4webapi's own TypeErrors, for a
  // misuse, carry a `code`), and with a DOMException named TimeoutError on the timeout.
  if (error instanceof TypeError) return !('code' in error);
  return error instanceof Error && /^(AbortError|TimeoutError)$/.test(error.name);
}
