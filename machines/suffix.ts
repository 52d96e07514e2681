/**
 * The replicator service's suffix: candidates from the first version not yet covered by the
 * snapshot up to the last record read, with their decisions. Indexed by `version - base`, as in
 * Talos. Offsets that hold no candidate (decisions, rejected records, version 0) are holes.
 *
 * Every operation is O(1) amortised per record: records are appended in offset order, the
 * pointer to the next version to send only moves forward, and pruning drops a prefix.
 */
import type { Statemap, Version } from './domain.js';
import type { CandidateMessage, DecisionMessage, DecisionOutcome } from './messages.js';
import type { QueueEntry } from './statemapQueue.js';
import { Deque } from './structures/deque.js';

interface Slot {
  readonly statemap: Statemap;
  /** 'sent': handed to the queue (every sent version shares `SENT`). */
  outcome: DecisionOutcome | 'duplicate' | 'sent' | null;
  safepoint: Version | null;
}

/**
 * What a version's slot becomes once it goes to the queue: the queue entry now holds what the
 * installs need, and a suffix thousands of versions long would otherwise keep each version's
 * statemap and slot twice (about 110 of the 400 bytes a version in flight held).
 */
const SENT: Slot = Object.freeze({ statemap: Object.freeze([]), outcome: 'sent', safepoint: null });

export type DecideResult =
  | { readonly kind: 'decided' }
  | { readonly kind: 'ignored'; readonly why: 'below-suffix-head' | 'already-decided' }
  | { readonly kind: 'unknown'; readonly reason: string };

export class Suffix {
  /** Slot i holds version base + i. */
  #slots = new Deque<Slot | null>();
  #base: Version;
  #nextToSend: Version;
  #lastOffset: Version;
  #candidates = 0;

  /** `snapshot`: everything at or below it is installed, so the suffix starts just above it. */
  constructor(snapshot: Version) {
    this.#base = snapshot + 1;
    this.#nextToSend = snapshot + 1;
    this.#lastOffset = snapshot;
  }

  /** Candidates held (installed ones are dropped by `prune`). */
  get size(): number {
    return this.#candidates;
  }

  get head(): Version {
    return this.#base;
  }

  get lastOffset(): Version {
    return this.#lastOffset;
  }

  /** The lowest version not yet handed to the queue. */
  get nextToSend(): Version {
    return this.#nextToSend;
  }

  /** Records an offset as read (a decision, a rejected record); returns false for a re-read offset. */
  noteOffset(offset: Version): boolean {
    if (offset <= this.#lastOffset) return false;
    this.#fillTo(offset + 1);
    this.#lastOffset = offset;
    return true;
  }

  /** Version 0 is never inserted (as in Talos: the suffix starts above snapshot 0); a re-read candidate is ignored. */
  addCandidate(candidate: CandidateMessage): boolean {
    if (candidate.version <= this.#lastOffset || candidate.version < this.#base) return false;
    this.#fillTo(candidate.version);
    this.#slots.push({ statemap: candidate.statemap, outcome: null, safepoint: null });
    this.#lastOffset = candidate.version;
    this.#candidates += 1;
    return true;
  }

  /** Makes `version` the next slot to append, the offsets before it being holes. */
  #fillTo(version: Version): void {
    if (this.#slots.length === 0) {
      // Nothing held: move the base instead of filling a long run of holes (a consumer that starts far ahead).
      if (version > this.#base) this.#base = version;
      if (this.#nextToSend < this.#base) this.#nextToSend = this.#base;
      return;
    }
    while (this.#base + this.#slots.length < version) this.#slots.push(null);
  }

  decide(decision: DecisionMessage): DecideResult {
    this.noteOffset(decision.decisionVersion);
    const { version } = decision;
    if (version < this.#base) return { kind: 'ignored', why: 'below-suffix-head' };
    const slot = version <= this.#lastOffset ? this.#slots.at(version - this.#base) : undefined;
    if (!slot) return { kind: 'unknown', reason: `decision for version ${version}, which holds no candidate in the suffix` };
    if (slot.outcome !== null) return { kind: 'ignored', why: 'already-decided' };
    if (decision.duplicateVersion !== null) {
      // A re-sent transaction: the original at duplicateVersion carries the effects, this copy never reaches the queue.
      slot.outcome = 'duplicate';
    } else {
      slot.outcome = decision.outcome;
      slot.safepoint = decision.outcome === 'committed' ? decision.safepoint : null;
    }
    return { kind: 'decided' };
  }

  /** The run of decided versions from the last one sent, stopping at the first undecided candidate. */
  takeReadyRun(): QueueEntry[] {
    const run: QueueEntry[] = [];
    while (this.#nextToSend <= this.#lastOffset) {
      const index = this.#nextToSend - this.#base;
      const slot = this.#slots.at(index);
      if (slot) {
        if (slot.outcome === null) break;
        if (slot.outcome !== 'duplicate') {
          run.push(toQueueEntry(this.#nextToSend, slot));
          this.#slots.set(index, SENT);
        }
      }
      this.#nextToSend += 1;
    }
    this.#dropPassedFront();
    return run;
  }

  /** Drops everything at or below `version` that was already sent (Talos prunes on the queue's last-installed feedback). */
  prune(version: Version): void {
    const limit = Math.min(version, this.#nextToSend - 1);
    while (this.#base <= limit && this.#slots.length > 0) {
      if (this.#slots.shift()) this.#candidates -= 1;
      this.#base += 1;
    }
    this.#dropPassedFront();
  }

  /**
   * Holes (decision offsets) and duplicates at the front never reach the queue, so its snapshot
   * never covers them: once passed, drop them, so the head is a candidate still waiting for its
   * install or its decision (backpressure reads `head < nextToSend` that way).
   */
  #dropPassedFront(): void {
    for (let front = this.#slots.peekFront(); this.#base < this.#nextToSend && front !== undefined && (front === null || front.outcome === 'duplicate'); front = this.#slots.peekFront()) {
      if (this.#slots.shift()) this.#candidates -= 1;
      this.#base += 1;
    }
  }

  clone(): Suffix {
    const copy = new Suffix(this.#base - 1);
    for (const slot of this.#slots) copy.#slots.push(slot && slot !== SENT ? { ...slot } : slot);
    copy.#nextToSend = this.#nextToSend;
    copy.#lastOffset = this.#lastOffset;
    copy.#candidates = this.#candidates;
    return copy;
  }

  toJSON(): object {
    return { head: this.#base, nextToSend: this.#nextToSend, lastOffset: this.#lastOffset, candidates: this.#candidates };
  }
}

const NO_STATEMAP: Statemap = Object.freeze([]);

/** The statemap goes to the queue as the parser left it: it is built when the version's install call starts. */
function toQueueEntry(version: Version, slot: Slot): QueueEntry {
  if (slot.outcome !== 'committed') return { version, safepoint: null, statemap: NO_STATEMAP };
  return { version, safepoint: slot.safepoint, statemap: slot.statemap };
}
