/**
 * A first-in-first-out queue of values in which a value pushed again right after itself is kept
 * once, as a run with a count. The pipeline's versions come in runs that share one statemap object
 * (a chunk's deferred statemaps), so a deep queue keeps a few hundred pointers where it would keep
 * a million: no slot per version for a collection to visit, and no ring of millions to grow.
 *
 * Every push returns its value's run number, which `get` takes while the run is held; runs are
 * numbered from 0 in push order and dropped from the front as `shift` takes their last value.
 */
import { Deque } from './deque.js';
import { NumberDeque } from './numberDeque.js';

export class RunDeque<T> {
  #values = new Deque<T>();
  /** Values left in each run. */
  #counts = new NumberDeque();
  /** The number of the run at the front. */
  #firstRun = 0;
  #length = 0;

  /** Values held (counting every repeat). */
  get length(): number {
    return this.#length;
  }

  /** Appends `value`; returns its run number. */
  push(value: T): number {
    const runs = this.#values.length;
    if (runs > 0 && this.#values.peekBack() === value) {
      this.#counts.setBack(this.#counts.peekBack()! + 1);
    } else {
      this.#values.push(value);
      this.#counts.push(1);
    }
    this.#length += 1;
    return this.#firstRun + this.#values.length - 1;
  }

  /** The value of a run still held. */
  get(run: number): T {
    const value = this.#values.at(run - this.#firstRun);
    if (value === undefined) throw new RangeError(`RunDeque.get: run ${run} is not held (runs ${this.#firstRun} to ${this.#firstRun + this.#values.length - 1})`);
    return value;
  }

  /** Removes and returns the value at the front, or undefined. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const value = this.#values.peekFront()!;
    const left = this.#counts.peekFront()! - 1;
    if (left === 0) {
      this.#values.shift();
      this.#counts.shift();
      this.#firstRun += 1;
    } else {
      this.#counts.setFront(left);
    }
    this.#length -= 1;
    return value;
  }

  clear(): void {
    this.#firstRun += this.#values.length;
    this.#values.clear();
    this.#counts.clear();
    this.#length = 0;
  }

  /** Every value in order, repeats included. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let run = 0; run < this.#values.length; run++) {
      const value = this.#values.at(run)!;
      for (let k = this.#counts.at(run)!; k > 0; k--) yield value;
    }
  }

  /** An independent copy (the values themselves are shared). */
  clone(): RunDeque<T> {
    const copy = new RunDeque<T>();
    copy.#values = this.#values.clone();
    copy.#counts = this.#counts.clone();
    copy.#firstRun = this.#firstRun;
    copy.#length = this.#length;
    return copy;
  }
}
