import { z } from 'zod';

/**
 * The message relays' memory bounds (./message-relay.ts, ./relay-budget.ts), spread into the
 * sidecar's schema. They bind where a runtime relays messages (Bun, Deno); Node's tunnel carries
 * bytes and parses no message, so there they change nothing.
 */

const MIB = 1024 * 1024;

const bytes = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a number of bytes` })
    .int(`${name} must be a whole number of bytes`)
    .min(1, `${name} must be 1 or more`)
    .max(Number.MAX_SAFE_INTEGER, `${name} is too large`);

export const webSocketConfigShape = {
  /**
   * Largest WebSocket message a relay passes, either way; a larger one closes the tunnel with
   * 1009 "message too big" (RFC 6455 §7.4.1). 16 MiB: the ws package's and browsers' messages
   * in web apps are far smaller (Socket.IO's default maxHttpBufferSize is 1 MB), and a relay
   * holds a message whole, so this is what one message can cost.
   */
  WS_MAX_MESSAGE_BYTES: bytes('WS_MAX_MESSAGE_BYTES').default(16 * MIB),
  /**
   * Bytes all relays together may hold (messages received, not yet written through) before every
   * relay stops reading until writes bring it back under. 64 MiB, four messages at the default
   * limit: with the sidecar's own ~60 MiB it stays well inside a 256 MiB pod limit. Its own
   * variable, not a multiple of WS_MAX_MESSAGE_BYTES, because it follows the pod's memory limit,
   * not the app's message size.
   */
  WS_RELAY_BUDGET_BYTES: bytes('WS_RELAY_BUDGET_BYTES').default(64 * MIB),
};
