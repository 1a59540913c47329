/**
 * A bounded table from a client key to one number, in least-recently-seen order, every operation
 * O(1): the rate limiter's memory (rate-limit.ts).
 *
 * Why not a Map re-inserted on touch, taking the oldest from `map.keys().next()`: V8's ordered
 * hash tables leave a hole for each deleted entry until the next rehash, and an iterator walks
 * over them from the front, so evicting the oldest entry over and over costs time in proportion
 * to the evictions since the last rehash: a flood of new addresses made it quadratic (a million
 * addresses through a 100 000-entry table took minutes). Here the Map only maps a key to a slot
 * (a small integer, stored unboxed); the order is a doubly linked list over typed arrays, and a
 * touch relinks a slot without touching the Map.
 */
export class ClientTable {
  readonly #max: number;
  readonly #index = new Map<string, number>();
  #keys: (string | undefined)[] = [];
  #values: Float64Array;
  #prev: Int32Array;
  #next: Int32Array;
  /** Least recently seen slot, or -1. */
  #head = -1;
  /** Most recently seen slot, or -1. */
  #tail = -1;
  /** Slots given back (dropOldest), chained through #next. */
  #free = -1;
  /** Slots handed out so far; slots at and above it have never been used. */
  #used = 0;

  /** Room for `initial` clients at first, growing by doubling up to `max`: a quiet sidecar holds little. */
  constructor(max: number, initial = 1024) {
    this.#max = max;
    const capacity = Math.min(max, initial);
    this.#values = new Float64Array(capacity);
    this.#prev = new Int32Array(capacity);
    this.#next = new Int32Array(capacity);
  }

  get size(): number {
    return this.#index.size;
  }

  /** The key's slot, now marked most recently seen; -1 if the key is not in the table. */
  touch(key: string): number {
    const slot = this.#index.get(key);
    if (slot === undefined) return -1;
    if (slot !== this.#tail) {
      this.#unlink(slot);
      this.#append(slot);
    }
    return slot;
  }

  /** Adds a key that is not in the table, as most recently seen; at the bound, the least recently seen goes first. */
  add(key: string, value: number): number {
    if (this.#index.size >= this.#max) this.dropOldest();
    const slot = this.#allocate();
    this.#keys[slot] = key;
    this.#values[slot] = value;
    this.#index.set(key, slot);
    this.#append(slot);
    return slot;
  }

  value(slot: number): number {
    return this.#values[slot]!;
  }

  setValue(slot: number, value: number): void {
    this.#values[slot] = value;
  }

  /** The least recently seen entry's value; undefined when the table is empty. */
  oldestValue(): number | undefined {
    return this.#head < 0 ? undefined : this.#values[this.#head];
  }

  dropOldest(): void {
    const slot = this.#head;
    if (slot < 0) return;
    this.#unlink(slot);
    this.#index.delete(this.#keys[slot]!);
    this.#keys[slot] = undefined;
    this.#next[slot] = this.#free;
    this.#free = slot;
  }

  #allocate(): number {
    if (this.#free >= 0) {
      const slot = this.#free;
      this.#free = this.#next[slot]!;
      return slot;
    }
    if (this.#used === this.#values.length) this.#grow();
    return this.#used++;
  }

  #grow(): void {
    const capacity = Math.min(this.#max, this.#values.length * 2);
    const values = new Float64Array(capacity);
    const prev = new Int32Array(capacity);
    const next = new Int32Array(capacity);
    values.set(this.#values);
    prev.set(this.#prev);
    next.set(this.#next);
    this.#values = values;
    this.#prev = prev;
    this.#next = next;
  }

  #unlink(slot: number): void {
    const prev = this.#prev[slot]!;
    const next = this.#next[slot]!;
    if (prev >= 0) this.#next[prev] = next;
    else this.#head = next;
    if (next >= 0) this.#prev[next] = prev;
    else this.#tail = prev;
  }

  #append(slot: number): void {
    this.#prev[slot] = this.#tail;
    this.#next[slot] = -1;
    if (this.#tail >= 0) this.#next[this.#tail] = slot;
    else this.#head = slot;
    this.#tail = slot;
  }
}
