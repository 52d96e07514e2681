/**
 * The installer's backlog: dispatched versions not yet started, first in first out, kept as
 * columns (version, safepoint, statemap) rather than an object each. Behind a slow database this
 * is where a deep queue's versions wait, and an object per version would be one more that every
 * young-generation collection it lives through copies; a version's `DispatchedVersion` is made
 * again when it leaves, for its install call.
 */
import type { DispatchedVersion, Statemap, Version } from '../domain.js';
import { NumberDeque } from './numberDeque.js';
import { RunDeque } from './runDeque.js';

export class DispatchedBacklog {
  #versions: NumberDeque;
  /** `NO_SAFEPOINT` for a null safepoint. */
  #safepoints: NumberDeque;
  /** Runs of versions share a statemap object (a chunk's deferred statemaps): kept once per run. */
  #statemaps = new RunDeque<Statemap>();

  /** `capacity`: how many versions the number columns hold before they first grow (see `NumberDeque`). */
  constructor(capacity?: number) {
    this.#versions = new NumberDeque(capacity);
    this.#safepoints = new NumberDeque(capacity);
  }

  get length(): number {
    return this.#versions.length;
  }

  push(dispatched: DispatchedVersion): void {
    this.#versions.push(dispatched.version);
    this.#safepoints.push(dispatched.safepoint ?? NO_SAFEPOINT);
    this.#statemaps.push(dispatched.statemap);
  }

  /** The versions in order, each made again as a `DispatchedVersion`. */
  *[Symbol.iterator](): IterableIterator<DispatchedVersion> {
    let i = 0;
    for (const statemap of this.#statemaps) {
      yield dispatched(this.#versions.at(i)!, this.#safepoints.at(i)!, statemap);
      i += 1;
    }
  }

  /** Removes and returns up to `count` versions from the front. */
  shiftMany(count: number): DispatchedVersion[] {
    const n = Math.max(0, Math.min(count, this.length));
    const out = new Array<DispatchedVersion>(n);
    for (let i = 0; i < n; i++) out[i] = dispatched(this.#versions.shift()!, this.#safepoints.shift()!, this.#statemaps.shift()!);
    return out;
  }

  /** Empties the backlog; returns the versions it held, in order. */
  clear(): Version[] {
    const versions = new Array<Version>(this.length);
    for (let i = 0; i < versions.length; i++) versions[i] = this.#versions.at(i)!;
    this.#versions.clear();
    this.#safepoints.clear();
    this.#statemaps.clear();
    return versions;
  }

  /** An independent copy (the statemaps themselves are shared: they never change). */
  clone(): DispatchedBacklog {
    const copy = new DispatchedBacklog();
    copy.#versions = this.#versions.clone();
    copy.#safepoints = this.#safepoints.clone();
    copy.#statemaps = this.#statemaps.clone();
    return copy;
  }

  /** What the inspector shows instead of every version. */
  toJSON(): object {
    return { length: this.length };
  }
}

/** A null safepoint in a column of numbers (the backlog's and the queue's). */
export const NO_SAFEPOINT = NaN;

/** A safepoint as its column holds it, back as a `Version` or null. */
export function safepointOf(column: number): Version | null {
  return Number.isNaN(column) ? null : column;
}

/** A `DispatchedVersion` made again from its columns. */
export function dispatched(version: Version, safepoint: number, statemap: Statemap): DispatchedVersion {
  return { version, safepoint: safepointOf(safepoint), statemap };
}
