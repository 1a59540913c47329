/**
 * What the auth tests share: signing keys of each algorithm, tokens signed with them, an issuer
 * served by a fetch function the test controls, and a clock and timer the test moves by hand.
 */
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import type { Schedule } from '../../../src/auth/jwks.ts';

export const ISSUER = 'https://idp.example';
export const AUDIENCE = 'sidecar-app';

export type Algorithm = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';

export interface SigningKey {
  alg: Algorithm;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

export async function signingKey(alg: Algorithm, kid = `${alg.toLowerCase()}-1`): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, jwk };
}

/** Seconds since the epoch of a fixed moment, so tests read as offsets from it. */
export const T0 = 1_900_000_000;

/** A token from ISSUER for AUDIENCE, valid for an hour from T0, with `claims` over the defaults. */
export function sign(key: SigningKey, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: T0, exp: T0 + 3600, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

export const b64url = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A clock in milliseconds, set and moved by the test. */
export function clock(seconds = T0) {
  let ms = seconds * 1000;
  return {
    now: () => ms,
    set: (s: number) => void (ms = s * 1000),
    advance: (s: number) => void (ms += s * 1000),
  };
}

/** A Schedule that only records: the test runs the next task when it chooses. */
export function manualTimers() {
  const tasks: { task: () => void; ms: number; cancelled: boolean }[] = [];
  const schedule: Schedule = (task, ms) => {
    const entry = { task, ms, cancelled: false };
    tasks.push(entry);
    return { cancel: () => void (entry.cancelled = true) };
  };
  return {
    schedule,
    /** Delays asked for, in order. */
    delays: () => tasks.map((t) => t.ms),
    /** Runs the latest task that was not cancelled. */
    runNext() {
      const entry = tasks.findLast((t) => !t.cancelled);
      if (!entry) throw new Error('no task scheduled');
      entry.cancelled = true;
      entry.task();
    },
  };
}

/**
 * An issuer as a fetch function: discovery at ISSUER/.well-known/openid-configuration pointing at
 * ISSUER/jwks, whose keys the test changes; `down` makes every request fail as a dead host does.
 */
export function fakeIssuer(keys: SigningKey[]) {
  const state = { keys: keys.map((k) => k.jwk), down: false, requests: [] as string[] };
  const fetch = (async (input: RequestInfo | URL) => {
    const url = String(input);
    state.requests.push(url);
    if (state.down) throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    if (url === `${ISSUER}/.well-known/openid-configuration`)
      return Response.json({ issuer: ISSUER, jwks_uri: `${ISSUER}/jwks` });
    if (url === `${ISSUER}/jwks`) return Response.json({ keys: state.keys });
    return new Response('not found', { status: 404 });
  }) as typeof globalThis.fetch;
  return {
    fetch,
    state,
    publish(next: SigningKey[]) {
      state.keys = next.map((k) => k.jwk);
    },
    jwksFetches: () => state.requests.filter((url) => url.endsWith('/jwks')).length,
  };
}
