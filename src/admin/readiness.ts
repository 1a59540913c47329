/**
 * Readiness: is the app answering? Decided off the request path. A background check connects to
 * the app every `intervalMs` (a runtime-injected probe, bounded by `timeoutMs`), and any proxied
 * response counts as an answer too. The app is "up" when it answered within `freshMs`.
 */

/** Opens and closes one connection to the app; resolves true when it was accepted. */
export type UpstreamProbe = (timeoutMs: number) => Promise<boolean>;

export interface ReadinessOptions {
  probe: UpstreamProbe;
  intervalMs?: number;
  timeoutMs?: number;
  freshMs?: number;
  now?: () => number;
}

export class Readiness {
  #lastAnswer = Number.NEGATIVE_INFINITY;
  #draining = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking = false;
  readonly #probe: UpstreamProbe;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #freshMs: number;
  readonly #now: () => number;

  constructor(options: ReadinessOptions) {
    this.#probe = options.probe;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#timeoutMs = options.timeoutMs ?? 500;
    // A few missed checks in a row, not one, mark the app down.
    this.#freshMs = options.freshMs ?? 3000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Starts the background checks, after one immediate check. */
  start(): Promise<void> {
    this.#timer ??= setInterval(() => void this.check(), this.#intervalMs);
    // Never keep a process alive just to probe.
    (this.#timer as { unref?: () => void }).unref?.();
    return this.check();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One probe, unless one is under way or traffic proved the app up recently. */
  async check(): Promise<void> {
    if (this.#checking || this.#now() - this.#lastAnswer < this.#intervalMs) return;
    this.#checking = true;
    try {
      if (await this.#probe(this.#timeoutMs).catch(() => false)) this.upstreamAnswered();
      else this.#lastAnswer = Number.NEGATIVE_INFINITY;
    } finally {
      this.#checking = false;
    }
  }

  upstreamAnswered(): void {
    this.#lastAnswer = this.#now();
  }

  startDraining(): void {
    this.#draining = true;
  }

  get draining(): boolean {
    return this.#draining;
  }

  get upstreamUp(): boolean {
    return this.#now() - this.#lastAnswer <= this.#freshMs;
  }

  get ready(): boolean {
    return !this.#draining && this.upstreamUp;
  }
}
