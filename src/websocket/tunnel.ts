/**
 * An open WebSocket tunnel as the core sees it (upgrade.ts makes one at the app's 101): bytes
 * counted both ways into the tunnel's own record, one close from either side, and the drain
 * deadline's close.
 */
import type { ErrorReason } from '../errors.ts';
import type { AccessRecord } from '../exchange.ts';

export class Tunnel {
  readonly #record: AccessRecord;
  readonly #close: () => void;
  readonly #end: () => void;
  #closed = false;

  constructor(record: AccessRecord, close: () => void, end: () => void) {
    this.#record = record;
    this.#close = close;
    this.#end = end;
  }

  /** Bytes from the client to the app (frame bytes on a raw tunnel, message payload on a relay). */
  bytesIn(count: number): void {
    this.#record.bytesIn += count;
  }

  bytesOut(count: number): void {
    this.#record.bytesOut += count;
  }

  /** Both directions are over: the tunnel's one access record. Idempotent. */
  closed(error?: ErrorReason): void {
    if (this.#closed) return;
    this.#closed = true;
    if (error !== undefined) this.#record.error = error;
    this.#end();
  }

  /** Asks the runtime to close the tunnel now (drain deadline). */
  close(): void {
    if (!this.#closed) this.#close();
  }
}
