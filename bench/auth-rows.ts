// The access-control rows of `npm run bench` (issue 21): the Node sidecar checking an ES256 JWT
// bearer token on every request, and the same with an OIDC session cookie, each against the
// default row of the same run. The bench plays the IdP (a discovery document and a key set,
// served in this process: fetched once at start-up, never under load), signs one
// token and seals one session the way a login would (src/auth/oidc/session-cookie.ts), and its
// load sends them with every request. Each row is checked to refuse a request without them.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { SESSION_COOKIE } from '../src/auth/oidc/cookies.ts';
import { createSealer } from '../src/auth/oidc/sealed.ts';
import { issueSessionCookie } from '../src/auth/oidc/session-cookie.ts';
import { httpGet } from './proc.ts';
import type { Run } from './context.ts';
import type { TargetDef } from './targets.ts';

/** What the auth rows need of a run: the stand-in IdP and the credentials their load sends. */
export interface AuthRig {
  issuer: string;
  cookieSecretFile: string;
  clientSecretFile: string;
  bearerToken: string;
  sessionCookie: string;
  close(): void;
}

/** The bench's SRV_NAME (bench/servers.ts): the session cookie's key is derived per service. */
const SERVICE = 'bench';
const AUDIENCE = 'bench';
const HOUR_S = 3600;

const rig = (run: Run): AuthRig => {
  if (!run.auth) throw new Error('the auth rows need the stand-in IdP (bench/auth-rows.ts startAuthRig)');
  return run.auth;
};

export const AUTH_TARGETS: TargetDef[] = [
  {
    name: 'node-jwt',
    kind: 'sidecar',
    label: 'sidecar on Node, JWT bearer check on (ES256, one token)',
    needs: ['runtimes/node.ts'],
    argv: () => [process.execPath, 'runtimes/node.ts'],
    env: (run) => ({ AUTH_JWT_ISSUER: rig(run).issuer, AUTH_JWT_AUDIENCE: AUDIENCE }),
    headers: (run) => ({ Authorization: `Bearer ${rig(run).bearerToken}` }),
  },
  {
    name: 'node-session',
    kind: 'sidecar',
    label: 'sidecar on Node, OIDC session cookie on (one session)',
    needs: ['runtimes/node.ts'],
    argv: () => [process.execPath, 'runtimes/node.ts'],
    env: (run) => ({
      AUTH_OIDC_ISSUER: rig(run).issuer,
      AUTH_OIDC_CLIENT_ID: 'bench',
      AUTH_OIDC_CLIENT_SECRET_FILE: rig(run).clientSecretFile,
      AUTH_COOKIE_SECRET_FILE: rig(run).cookieSecretFile,
    }),
    headers: (run) => ({ Cookie: `${SESSION_COOKIE}=${rig(run).sessionCookie}` }),
  },
];

/** The IdP's two documents on a loopback port, an ES256 key, one signed token and one sealed session. */
export async function startAuthRig(tmpDir: string): Promise<AuthRig> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
  const server = http.createServer((req, res) => {
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const documents: Record<string, unknown> = {
      '/.well-known/openid-configuration': {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
      },
      '/jwks': { keys: [jwk] },
    };
    const document = documents[req.url ?? ''];
    res.writeHead(document ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(document ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const nowS = Math.floor(Date.now() / 1000);
  const bearerToken = await new SignJWT({ email: 'bench@example.com' })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
    .setIssuer(issuer)
    .setAudience(AUDIENCE)
    .setSubject('bench-user')
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + 2 * HOUR_S)
    .sign(privateKey);
  const cookieSecret = randomBytes(32).toString('base64');
  const cookieSecretFile = join(tmpDir, 'cookie-secret');
  const clientSecretFile = join(tmpDir, 'client-secret');
  writeFileSync(cookieSecretFile, cookieSecret);
  writeFileSync(clientSecretFile, 'bench-client-secret');
  const sealer = await createSealer(new TextEncoder().encode(cookieSecret), 'session', SERVICE);
  const session = { sub: 'bench-user', email: 'bench@example.com', expiresAt: nowS + 2 * HOUR_S };
  const { value: sessionCookie } = await issueSessionCookie(sealer, session, nowS);
  return { issuer, cookieSecretFile, clientSecretFile, bearerToken, sessionCookie, close: () => server.close() };
}

/** Checks an auth row refuses a request without its credentials (so the rows measure a door that is on). */
export async function checkRefusedWithout(port: number, def: TargetDef): Promise<void> {
  if (!AUTH_TARGETS.includes(def)) return;
  const answer = await httpGet(`http://127.0.0.1:${port}/`, 2000);
  if (answer.status !== 401 && answer.status !== 302)
    throw new Error(`GET / without credentials answered ${answer.status}, expected 401 or a login redirect`);
}
