/**
 * Sealing the sidecar's cookies: a JWT encrypted with `dir` + `A256GCM` (RFC 7516, by `jose`), so
 * the browser holds the session, refresh token included, without being able to read or alter it.
 * AES-GCM authenticates what it encrypts: a value changed by one bit fails to open (the sidecar
 * then sees no session at all). oauth2-proxy encrypts its session cookie for the same reason;
 * @hono/oidc-auth only signs its own, leaving the refresh token readable in the browser.
 *
 * The AES key is not the cookie secret itself: HKDF (RFC 5869, Web Crypto) derives one
 * non-extractable key per purpose and per service (SRV_NAME) from it: the login cookie and the
 * session cookie cannot be swapped for each other, a session of one app is not one of another app
 * given the same secret (cookies do not tell ports apart, RFC 6265 §8.5), and the raw secret never
 * serves as a key. Renaming the service therefore ends its sessions.
 */
import { EncryptJWT, jwtDecrypt } from 'jose';
import type { JWTPayload } from 'jose';

export type Purpose = 'session' | 'login';

export interface Sealer {
  /** The sealed value; `expiresAt` (epoch seconds) becomes its `exp`. */
  seal(claims: JWTPayload, expiresAt: number): Promise<string>;
  /** The claims, or undefined for a value that is forged, altered, sealed for another purpose or expired. */
  open(value: string, nowMs: number): Promise<JWTPayload | undefined>;
}

/** A constant salt: the cookie secret is already uniformly random (RFC 5869 §3.1 allows it). */
const SALT = new TextEncoder().encode('sidecar cookie keys');

export async function createSealer(secret: Uint8Array, purpose: Purpose, service: string): Promise<Sealer> {
  const key = await deriveKey(secret, `sidecar ${purpose} cookie v1 for ${service}`);
  return {
    seal: (claims, expiresAt) =>
      new EncryptJWT(claims)
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
        .setExpirationTime(expiresAt)
        .encrypt(key),
    async open(value, nowMs) {
      try {
        const { payload } = await jwtDecrypt(value, key, {
          keyManagementAlgorithms: ['dir'],
          contentEncryptionAlgorithms: ['A256GCM'],
          currentDate: new Date(nowMs),
          requiredClaims: ['exp'],
        });
        return payload;
      } catch {
        return undefined;
      }
    },
  };
}

async function deriveKey(secret: Uint8Array, info: string): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey('raw', new Uint8Array(secret), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: SALT, info: new TextEncoder().encode(info) },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}
