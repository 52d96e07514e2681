/**
 * An array-backed double-ended queue with amortised O(1) push, shift and indexed access.
 * The queue and the suffix keep hundreds of thousands of entries; `Array.prototype.shift`
 * would make every removal O(n).
 */
export class Deque<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The element at `index` counted from the front, or undefined. */
  at(index: number): T | undefined {
    return index < 0 ? undefined : this.#items[this.#head + index];
  }

  peekFront(): T | undefined {
    return this.#items[this.#head];
  }

  peekBack(): T | undefined {
    return this.#items[this.#items.length - 1];
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head += 1;
    // Compact once the dead prefix dominates, so memory follows the live length.
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes and returns up to `count` elements from the front. */
  shiftMany(count: number): T[] {
    const n = Math.min(count, this.length);
    const out = this.#items.slice(this.#head, this.#head + n) as T[];
    for (let i = 0; i < n; i++) this.#items[this.#head + i] = undefined;
    this.#head += n;
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return out;
  }

  clear(): T[] {
    return this.shiftMany(this.length);
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as T;
  }

  /** A shallow copy (same elements). */
  clone(): Deque<T> {
    const copy = new Deque<T>();
    copy.#items = this.#items.slice(this.#head);
    return copy;
  }
}
