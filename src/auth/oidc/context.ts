/** What the login's routes share (built once by session-auth.ts). */
import type { Discovery } from './discovery.ts';
import type { Protocol } from './protocol.ts';
import type { Sealer } from './sealed.ts';
import type { Sessions } from './sessions.ts';

export interface OidcContext {
  /** AUTH_PATH_PREFIX, ending in `/`. */
  readonly prefix: string;
  readonly scopes: string;
  readonly ttlSeconds: number;
  readonly keepAccessToken: boolean;
  readonly discovery: Discovery;
  readonly protocol: Protocol;
  readonly keys: Promise<{ session: Sealer; login: Sealer }>;
  readonly sessions: Sessions;
  nowMs(): number;
  say(message: string): void;
}

export function nowSeconds(context: OidcContext): number {
  return Math.floor(context.nowMs() / 1000);
}
