/**
 * A double-ended queue of numbers on a ring of doubles: O(1) push, shift and indexed access, like
 * `Deque`, but off the JavaScript heap. A deep queue keeps a number or two per waiting version;
 * here they cost eight bytes each, that no collection ever copies or visits (in a `Deque` a
 * number above 2^31 would even be an object of its own).
 */
const MIN_CAPACITY = 16;
/** Rings up to this many slots (512 KiB) never shrink, so a queue that cycles allocates nothing. */
const KEEP_CAPACITY = 65_536;

export class NumberDeque {
  #ring: Float64Array;
  #mask: number;
  #head = 0;
  #length = 0;
  /** The ring never shrinks below this many slots. */
  #keepCapacity: number;

  /**
   * `capacity`: how many numbers the ring holds before it first grows (rounded up to a power of
   * two). Slots not written to yet cost address space, not memory, so a deque that may grow deep
   * can be sized for it up front and never copy itself to grow.
   */
  constructor(capacity = MIN_CAPACITY) {
    const size = powerOfTwoAtLeast(capacity);
    this.#ring = new Float64Array(size);
    this.#mask = size - 1;
    this.#keepCapacity = Math.max(size, KEEP_CAPACITY);
  }

  get length(): number {
    return this.#length;
  }

  push(value: number): void {
    if (this.#length === this.#ring.length) this.#resize(this.#ring.length * 2);
    this.#ring[(this.#head + this.#length) & this.#mask] = value;
    this.#length += 1;
  }

  /** The number at `index` counted from the front, or undefined. */
  at(index: number): number | undefined {
    return index < 0 || index >= this.#length ? undefined : this.#ring[(this.#head + index) & this.#mask];
  }

  peekFront(): number | undefined {
    return this.#length === 0 ? undefined : this.#ring[this.#head];
  }

  peekBack(): number | undefined {
    return this.#length === 0 ? undefined : this.#ring[(this.#head + this.#length - 1) & this.#mask];
  }

  /** Replaces the number at the front (which must exist). */
  setFront(value: number): void {
    if (this.#length === 0) throw new RangeError('NumberDeque.setFront: empty');
    this.#ring[this.#head] = value;
  }

  /** Replaces the number at the back (which must exist). */
  setBack(value: number): void {
    if (this.#length === 0) throw new RangeError('NumberDeque.setBack: empty');
    this.#ring[(this.#head + this.#length - 1) & this.#mask] = value;
  }

  shift(): number | undefined {
    if (this.#length === 0) return undefined;
    const value = this.#ring[this.#head];
    this.#head = (this.#head + 1) & this.#mask;
    this.#length -= 1;
    if (this.#ring.length > this.#keepCapacity && this.#length * 4 <= this.#ring.length) this.#resize(this.#ring.length / 2);
    return value;
  }

  clear(): void {
    this.#head = 0;
    this.#length = 0;
    if (this.#ring.length > this.#keepCapacity) this.#resize(this.#keepCapacity);
  }

  /** An independent copy. */
  clone(): NumberDeque {
    const copy = new NumberDeque();
    copy.#keepCapacity = this.#keepCapacity;
    copy.#ring = this.#ring.slice();
    copy.#mask = this.#mask;
    copy.#head = this.#head;
    copy.#length = this.#length;
    return copy;
  }

  /** Moves the numbers, in order, to the front of a ring of `capacity` (a power of two, at least the length). */
  #resize(capacity: number): void {
    const ring = new Float64Array(capacity);
    copyRing(this.#ring, this.#head, this.#length, ring);
    this.#ring = ring;
    this.#mask = capacity - 1;
    this.#head = 0;
  }
}

/** The smallest power of two (at least the minimum ring) that holds `capacity`. */
export function powerOfTwoAtLeast(capacity: number): number {
  let size = MIN_CAPACITY;
  while (size < capacity) size *= 2;
  return size;
}

/** Copies `length` entries of the ring `from`, starting at `head` and wrapping around, to the front of `to`. */
export function copyRing(from: Float64Array | Uint32Array | Uint8Array, head: number, length: number, to: Float64Array | Uint32Array | Uint8Array): void {
  const first = Math.min(length, from.length - head);
  to.set(from.subarray(head, head + first), 0);
  if (first < length) to.set(from.subarray(0, length - first), first);
}
