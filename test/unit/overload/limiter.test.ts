/**
 * Tier 1: the concurrency limiter alone (src/overload/limiter.ts), its time driven by a manual clock so
 * timeouts are exact and nothing sleeps.
 */
import { describe, expect, it } from 'vitest';
import { ConcurrencyLimiter } from '../../../src/overload/limiter.ts';
import type { Clock, Outcome } from '../../../src/overload/limiter.ts';

/** A clock the test moves by hand; counts the timers it holds. */
class ManualClock implements Clock {
  time = 0;
  timers = new Map<number, { at: number; callback: () => void }>();
  armed = 0;
  #next = 0;
  now(): number {
    return this.time;
  }
  setTimeout(callback: () => void, ms: number): unknown {
    const id = ++this.#next;
    this.armed++;
    this.timers.set(id, { at: this.time + ms, callback });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Moves time on, firing due timers in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers].filter(([, t]) => t.at <= end).sort(([, a], [, b]) => a.at - b.at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].callback();
    }
    this.time = end;
  }
}

function setup(maxConcurrent: number, maxQueued = 100, queueTimeoutMs = 1000) {
  const clock = new ManualClock();
  const limiter = new ConcurrencyLimiter({ maxConcurrent, maxQueued, queueTimeoutMs, clock });
  const settled: string[] = [];
  /** Queues a waiter named `name`; its outcome is appended to `settled` as `name:outcome`. */
  const wait = (name: string, signal?: AbortSignal): Outcome | Promise<Outcome> => {
    const outcome = limiter.acquire(signal);
    if (typeof outcome === 'string') settled.push(`${name}:${outcome}`);
    else void outcome.then((o) => settled.push(`${name}:${o}`));
    return outcome;
  };
  return { clock, limiter, settled, wait };
}

const microtasks = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ConcurrencyLimiter', () => {
  it('admits up to the cap at once and synchronously, and queues the rest', () => {
    const { limiter, wait } = setup(2);
    expect(wait('a')).toBe('admitted');
    expect(wait('b')).toBe('admitted');
    expect(wait('c')).toBeInstanceOf(Promise);
    expect(limiter.active).toBe(2);
    expect(limiter.queued).toBe(1);
  });

  it('hands each freed slot to the oldest waiter, in arrival order, never above the cap', async () => {
    const { limiter, settled, wait } = setup(2);
    wait('a');
    wait('b');
    for (const name of ['c', 'd', 'e', 'f']) void wait(name);
    for (let i = 0; i < 4; i++) {
      limiter.release();
      await microtasks();
      expect(limiter.active).toBe(2);
    }
    expect(settled).toEqual(['a:admitted', 'b:admitted', 'c:admitted', 'd:admitted', 'e:admitted', 'f:admitted']);
    expect(limiter.queued).toBe(0);
  });

  it('does not let a newcomer take a slot that was handed to a waiter', async () => {
    const { limiter, settled, wait } = setup(1);
    wait('a');
    void wait('b');
    limiter.release();
    // b's promise has not run yet, but the slot is already b's.
    expect(wait('late')).toBeInstanceOf(Promise);
    await microtasks();
    expect(settled).toEqual(['a:admitted', 'b:admitted']);
    expect(limiter.queued).toBe(1);
  });

  it('frees the slot when nobody waits, so the next request is admitted at once', () => {
    const { limiter, wait } = setup(1);
    wait('a');
    limiter.release();
    expect(limiter.active).toBe(0);
    expect(wait('b')).toBe('admitted');
  });

  it('refuses with queue_full beyond maxQueued, and at once with no queue', () => {
    const { limiter, wait } = setup(1, 2);
    wait('a');
    void wait('b');
    void wait('c');
    expect(wait('d')).toBe('queue_full');
    expect(limiter.queued).toBe(2);

    const none = setup(1, 0);
    none.wait('a');
    expect(none.wait('b')).toBe('queue_full');
    expect(none.limiter.queued).toBe(0);
  });

  it('times waiters out after queueTimeoutMs, in arrival order, with one timer for the whole queue', async () => {
    const { clock, limiter, settled, wait } = setup(1, 100, 1000);
    wait('a');
    void wait('b');
    clock.advance(300);
    void wait('c');
    clock.advance(699);
    await microtasks();
    expect(settled).toEqual(['a:admitted']);
    clock.advance(1);
    await microtasks();
    expect(settled).toEqual(['a:admitted', 'b:queue_timeout']);
    expect(limiter.queued).toBe(1);
    clock.advance(300);
    await microtasks();
    expect(settled).toEqual(['a:admitted', 'b:queue_timeout', 'c:queue_timeout']);
    expect(limiter.queued).toBe(0);
    // One timer for b, one re-armed for c: never one per waiter.
    expect(clock.armed).toBe(2);
    expect(clock.timers.size).toBe(0);
    // The slot a holds is still a's.
    expect(limiter.active).toBe(1);
  });

  it('a waiter admitted before its deadline is not timed out later', async () => {
    const { clock, limiter, settled, wait } = setup(1, 100, 1000);
    wait('a');
    void wait('b');
    clock.advance(500);
    limiter.release();
    clock.advance(5000);
    await microtasks();
    expect(settled).toEqual(['a:admitted', 'b:admitted']);
    expect(clock.timers.size).toBe(0);
  });

  it('lets a waiter whose signal aborts leave the queue at once, without taking a slot', async () => {
    const { limiter, settled, wait } = setup(1);
    wait('a');
    const leaving = new AbortController();
    void wait('b', leaving.signal);
    void wait('c');
    leaving.abort();
    await microtasks();
    expect(settled).toEqual(['a:admitted', 'b:aborted']);
    expect(limiter.queued).toBe(1);
    limiter.release();
    await microtasks();
    expect(settled).toEqual(['a:admitted', 'b:aborted', 'c:admitted']);
  });

  it('removes the head, the tail or a middle waiter alike', async () => {
    const { limiter, settled, wait } = setup(1);
    wait('x');
    const controllers = [0, 1, 2, 3, 4].map(() => new AbortController());
    controllers.forEach((c, i) => void wait(`w${i}`, c.signal));
    controllers[2]?.abort();
    controllers[0]?.abort();
    controllers[4]?.abort();
    expect(limiter.queued).toBe(2);
    limiter.release();
    limiter.release();
    limiter.release();
    await microtasks();
    expect(settled.filter((s) => s.endsWith('admitted'))).toEqual(['x:admitted', 'w1:admitted', 'w3:admitted']);
    expect(limiter.active).toBe(0);
  });

  it('refuses a request whose signal has already aborted instead of queueing it', () => {
    const { limiter, wait } = setup(1);
    wait('a');
    expect(wait('b', AbortSignal.abort())).toBe('aborted');
    expect(limiter.queued).toBe(0);
  });

  it('ignores an abort after the waiter was admitted', async () => {
    const { limiter, settled, wait } = setup(1);
    wait('a');
    const controller = new AbortController();
    void wait('b', controller.signal);
    limiter.release();
    controller.abort();
    await microtasks();
    expect(settled).toEqual(['a:admitted', 'b:admitted']);
    expect(limiter.active).toBe(1);
  });

  it('clears its timer once the queue is empty', () => {
    const { clock, limiter, wait } = setup(1);
    wait('a');
    void wait('b');
    expect(clock.timers.size).toBe(1);
    limiter.release();
    expect(clock.timers.size).toBe(0);
  });
});
