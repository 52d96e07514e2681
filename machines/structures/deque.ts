/**
 * A double-ended queue on a ring buffer: O(1) push, shift and indexed access.
 * The queue and the suffix keep hundreds of thousands of entries; `Array.prototype.shift`
 * would make every removal O(n).
 *
 * The ring keeps its capacity while the queue cycles (the pipeline pushes and shifts about the
 * same number of entries per batch), so a steady stream allocates nothing here: an array that
 * was emptied from the front and then grown again from nothing reallocated its storage on every
 * cycle (about a third of a kilobyte per transaction in the pipeline's allocation profile). A
 * large ring halves once it is at most a quarter full, so memory still follows the live length
 * after a deep backlog drains.
 */
const MIN_CAPACITY = 16;
/**
 * Rings up to this many slots (512 KiB) never shrink: a source's buffer empties completely after
 * every batch and would otherwise halve and grow back each time.
 */
const KEEP_CAPACITY = 65_536;

export class Deque<T> {
  /** Capacity a power of two; entry i (from the front) at `(head + i) & mask`; free slots hold undefined. */
  #ring: (T | undefined)[] = new Array<T | undefined>(MIN_CAPACITY).fill(undefined);
  #mask = MIN_CAPACITY - 1;
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(item: T): void {
    if (this.#length === this.#ring.length) this.#resize(this.#ring.length * 2);
    this.#ring[(this.#head + this.#length) & this.#mask] = item;
    this.#length += 1;
  }

  /** The element at `index` counted from the front, or undefined. */
  at(index: number): T | undefined {
    return index < 0 || index >= this.#length ? undefined : this.#ring[(this.#head + index) & this.#mask];
  }

  /** Replaces the element at `index` counted from the front (which must exist). */
  set(index: number, item: T): void {
    if (index < 0 || index >= this.#length) throw new RangeError(`Deque.set: index ${index} outside 0..${this.#length - 1}`);
    this.#ring[(this.#head + index) & this.#mask] = item;
  }

  peekFront(): T | undefined {
    return this.#length === 0 ? undefined : this.#ring[this.#head];
  }

  peekBack(): T | undefined {
    return this.#length === 0 ? undefined : this.#ring[(this.#head + this.#length - 1) & this.#mask];
  }

  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#ring[this.#head];
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#length -= 1;
    this.#shrinkIfSparse();
    return item;
  }

  /** Removes and returns up to `count` elements from the front. */
  shiftMany(count: number): T[] {
    const n = Math.max(0, Math.min(count, this.#length));
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) {
      const at = (this.#head + i) & this.#mask;
      out[i] = this.#ring[at] as T;
      this.#ring[at] = undefined;
    }
    this.#head = (this.#head + n) & this.#mask;
    this.#length -= n;
    this.#shrinkIfSparse();
    return out;
  }

  clear(): T[] {
    return this.shiftMany(this.#length);
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.#length; i++) yield this.#ring[(this.#head + i) & this.#mask] as T;
  }

  /** A shallow copy (same elements). */
  clone(): Deque<T> {
    const copy = new Deque<T>();
    copy.#ring = this.#ring.slice();
    copy.#mask = this.#mask;
    copy.#head = this.#head;
    copy.#length = this.#length;
    return copy;
  }

  #shrinkIfSparse(): void {
    if (this.#ring.length > KEEP_CAPACITY && this.#length * 4 <= this.#ring.length) this.#resize(this.#ring.length / 2);
  }

  /** Moves the entries, in order, to the front of a ring of `capacity` (a power of two, at least the length). */
  #resize(capacity: number): void {
    const ring = new Array<T | undefined>(capacity).fill(undefined);
    for (let i = 0; i < this.#length; i++) ring[i] = this.#ring[(this.#head + i) & this.#mask];
    this.#ring = ring;
    this.#mask = capacity - 1;
    this.#head = 0;
  }
}
