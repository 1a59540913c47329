/**
 * A concurrency limiter with a bounded FIFO queue: at most `maxConcurrent` holders at once, at most
 * `maxQueued` waiters, each for at most `queueTimeoutMs`. It knows nothing of HTTP (admission.ts
 * turns its outcomes into 503s); what Envoy's circuit breakers call max_requests and
 * max_pending_requests (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/circuit_breaking).
 *
 * Every operation is O(1):
 * - waiters form an intrusive doubly linked list, so one whose client left is unlinked in place;
 * - a freed slot is handed straight to the oldest waiter (the holder count does not drop), so a
 *   request arriving in between can never take it first: admission is strictly in arrival order;
 * - all waiters share one timeout, so they expire in arrival order too, and one timer, armed for
 *   the oldest waiter's deadline, serves the whole queue (no timer per waiter).
 * Taking a free slot allocates nothing and returns synchronously.
 */

/** How a wait ended: a slot, or why not. */
export type Outcome = 'admitted' | 'queue_full' | 'queue_timeout' | 'aborted';

/** Time and timers, injected so unit tests can drive the queue's timeouts without waiting. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const platformClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface LimiterOptions {
  maxConcurrent: number;
  maxQueued: number;
  queueTimeoutMs: number;
  clock?: Clock;
}

/** One queued request; also its own abort listener (an EventListener object: no closure per waiter). */
class Waiter {
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  readonly deadline: number;
  readonly settle: (outcome: Outcome) => void;
  readonly signal: AbortSignal | undefined;
  readonly limiter: ConcurrencyLimiter;

  constructor(
    limiter: ConcurrencyLimiter,
    deadline: number,
    signal: AbortSignal | undefined,
    settle: (outcome: Outcome) => void,
  ) {
    this.limiter = limiter;
    this.deadline = deadline;
    this.signal = signal;
    this.settle = settle;
  }

  handleEvent(): void {
    this.limiter.leave(this, 'aborted');
  }
}

export class ConcurrencyLimiter {
  readonly #max: number;
  readonly #maxQueued: number;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  #active = 0;
  #queued = 0;
  #head: Waiter | undefined = undefined;
  #tail: Waiter | undefined = undefined;
  #timer: unknown = undefined;

  constructor(options: LimiterOptions) {
    if (!(options.maxConcurrent >= 1)) throw new RangeError('maxConcurrent must be at least 1');
    this.#max = options.maxConcurrent;
    this.#maxQueued = options.maxQueued;
    this.#timeoutMs = options.queueTimeoutMs;
    this.#clock = options.clock ?? platformClock;
  }

  /** Slots held now. */
  get active(): number {
    return this.#active;
  }

  /** Requests waiting for a slot now. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * A slot now ('admitted', synchronously), a refusal now ('queue_full', or 'aborted' for a signal
   * already aborted), or a place in the queue: the promise settles 'admitted' when a slot is handed
   * over, 'queue_timeout' after queueTimeoutMs, or 'aborted' as soon as `signal` aborts (the waiter
   * has then left the queue). Every 'admitted' must be followed by exactly one release().
   */
  acquire(signal?: AbortSignal): Outcome | Promise<Outcome> {
    if (this.#active < this.#max) {
      this.#active++;
      return 'admitted';
    }
    if (this.#queued >= this.#maxQueued) return 'queue_full';
    if (signal?.aborted) return 'aborted';
    return new Promise<Outcome>((settle) => {
      const waiter = new Waiter(this, this.#clock.now() + this.#timeoutMs, signal, settle);
      signal?.addEventListener('abort', waiter, { once: true });
      waiter.prev = this.#tail;
      if (this.#tail) this.#tail.next = waiter;
      else this.#head = waiter;
      this.#tail = waiter;
      this.#queued++;
      this.#arm();
    });
  }

  /** Gives a slot back: to the oldest waiter if there is one, else to the pool. */
  readonly release = (): void => {
    const head = this.#head;
    if (head) this.leave(head, 'admitted');
    else if (this.#active > 0) this.#active--;
  };

  /** Unlinks a waiter and settles it (internal: Waiter calls it on abort). */
  leave(waiter: Waiter, outcome: Outcome): void {
    if (waiter.prev) waiter.prev.next = waiter.next;
    else if (this.#head === waiter) this.#head = waiter.next;
    else return; // Already gone (an abort racing its own admission).
    if (waiter.next) waiter.next.prev = waiter.prev;
    else this.#tail = waiter.prev;
    waiter.prev = waiter.next = undefined;
    this.#queued--;
    waiter.signal?.removeEventListener('abort', waiter);
    if (this.#head === undefined && this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    waiter.settle(outcome);
  }

  /** One timer for the whole queue, due when the oldest waiter's wait runs out. */
  #arm(): void {
    if (this.#timer !== undefined || this.#head === undefined) return;
    const delay = Math.max(0, Math.ceil(this.#head.deadline - this.#clock.now()));
    this.#timer = this.#clock.setTimeout(this.#expire, delay);
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = this.#clock.now();
    // Deadlines grow from head to tail (one timeout, arrival order): stop at the first still waiting.
    while (this.#head !== undefined && this.#head.deadline <= now) this.leave(this.#head, 'queue_timeout');
    this.#arm();
  };
}
