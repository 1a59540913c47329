/**
 * One memory budget across every message relay (./message-relay.ts) of the process. A relay holds
 * a message from the moment it has been received whole until it has been written through to the
 * other side; those bytes are counted here. Once the count reaches the budget, every relay stops
 * reading (both legs, wherever the runtime can pause: see the README's known differences), and
 * every relay reads again as soon as writes have brought it back under. So however many clients
 * send at once, what the relays hold is bounded by the budget plus the messages already being
 * received when it was spent (docs/behaviour.md, Upgrade and WebSocket).
 *
 * The budget is one for all, not one per tunnel: a pod's memory limit is one for all, and a fixed
 * per-tunnel share would either waste it or let enough tunnels exceed it. The price: while peers
 * that do not read keep it spent, every relay waits (each relay holds at most one message beyond
 * its receiver's mark per direction, so that takes several such peers at once).
 */

/** Told when the budget becomes spent (true) and available again (false). */
export type BudgetListener = (spent: boolean) => void;

export class RelayBudget {
  readonly limit: number;
  #held = 0;
  readonly #listeners = new Set<BudgetListener>();

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held now, by every relay together. */
  get held(): number {
    return this.#held;
  }

  get spent(): boolean {
    return this.#held >= this.limit;
  }

  /** Counts a message received whole. A message is always taken (it has been read already). */
  take(bytes: number): void {
    const was = this.spent;
    this.#held += bytes;
    if (!was && this.spent) this.#tell(true);
  }

  /** A held message has been written through (or its relay has ended). */
  release(bytes: number): void {
    const was = this.spent;
    this.#held = Math.max(0, this.#held - bytes);
    if (was && !this.spent) this.#tell(false);
  }

  /** Listens for the budget's changes; the listener is told at once if it is spent now. Returns the unsubscribe. */
  listen(listener: BudgetListener): () => void {
    this.#listeners.add(listener);
    if (this.spent) listener(true);
    return () => this.#listeners.delete(listener);
  }

  #tell(spent: boolean): void {
    for (const listener of [...this.#listeners]) listener(spent);
  }
}
