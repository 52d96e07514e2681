/**
 * The replicator service's suffix: candidates from the first version not yet covered by the
 * snapshot up to the last record read, with their decisions. Offsets that hold no candidate
 * (decisions, rejected records, version 0) are holes. Talos keeps one slot per offset from the
 * head; here only the part not yet sent to the queue has slots (indexed by `version -
 * nextToSend`), and the part sent and not yet installed is a list of versions.
 *
 * Every operation is O(1) amortised per record: records are appended in offset order, the
 * pointer to the next version to send only moves forward, and pruning drops a prefix. Only a
 * decision read again for a version already sent costs O(log n) (a binary search of the list).
 */
import type { Statemap, Version } from './domain.js';
import type { CandidateMessage, DecisionMessage, DecisionOutcome } from './messages.js';
import type { QueueEntry } from './statemapQueue.js';
import { Deque } from './structures/deque.js';
import { NumberDeque } from './structures/numberDeque.js';

interface Slot {
  readonly statemap: Statemap;
  outcome: DecisionOutcome | 'duplicate' | null;
  safepoint: Version | null;
}

export type DecideResult =
  | { readonly kind: 'decided' }
  | { readonly kind: 'ignored'; readonly why: 'below-suffix-head' | 'already-decided' }
  | { readonly kind: 'unknown'; readonly reason: string };

export class Suffix {
  /**
   * The versions not yet sent, from `#nextToSend` to the last offset read: slot i holds version
   * `#nextToSend + i`, a candidate (with its decision once it has one) or null for a hole.
   */
  #unsent = new Deque<Slot | null>();
  /**
   * The candidates sent to the queue (and duplicates passed over, as their negated versions), in
   * version order, from the head up to `#nextToSend`. Once sent, a version's queue entry holds what
   * its install needs: here it is only a number, off the heap, so a suffix a million versions
   * deep behind a slow database keeps no object, and no slot, per version it waits for.
   */
  #sent: NumberDeque;
  #base: Version;
  #nextToSend: Version;
  #lastOffset: Version;
  /** Candidates in `#unsent`. */
  #unsentCandidates = 0;

  /**
   * `snapshot`: everything at or below it is installed, so the suffix starts just above it.
   * `capacity`: how many sent versions it holds before that list first grows (`suffixCapacity`).
   */
  constructor(snapshot: Version, capacity?: number) {
    this.#sent = new NumberDeque(capacity);
    this.#base = snapshot + 1;
    this.#nextToSend = snapshot + 1;
    this.#lastOffset = snapshot;
  }

  /** Candidates held (installed ones are dropped by `prune`). */
  get size(): number {
    return this.#sent.length + this.#unsentCandidates;
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
    this.#unsent.push({ statemap: candidate.statemap, outcome: null, safepoint: null });
    this.#lastOffset = candidate.version;
    this.#unsentCandidates += 1;
    return true;
  }

  /** Makes `version` the next slot to append, the offsets before it being holes. */
  #fillTo(version: Version): void {
    if (this.#unsent.length === 0) {
      // Nothing unsent: move past the holes instead of filling a long run of them (a consumer that starts far ahead).
      if (version > this.#nextToSend) this.#nextToSend = version;
      this.#moveBase();
      return;
    }
    while (this.#nextToSend + this.#unsent.length < version) this.#unsent.push(null);
  }

  decide(decision: DecisionMessage): DecideResult {
    this.noteOffset(decision.decisionVersion);
    const { version } = decision;
    if (version < this.#base) return { kind: 'ignored', why: 'below-suffix-head' };
    if (version < this.#nextToSend) {
      // Sent, or passed over: decided already if it was a candidate, a hole otherwise.
      return this.#wasSent(version) ? { kind: 'ignored', why: 'already-decided' } : unknownVersion(version);
    }
    const slot = version <= this.#lastOffset ? this.#unsent.at(version - this.#nextToSend) : undefined;
    if (!slot) return unknownVersion(version);
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
    while (this.#unsent.length > 0) {
      const slot = this.#unsent.peekFront()!;
      if (slot) {
        if (slot.outcome === null) break;
        if (slot.outcome === 'duplicate') {
          this.#sent.push(-this.#nextToSend);
        } else {
          run.push(toQueueEntry(this.#nextToSend, slot));
          this.#sent.push(this.#nextToSend);
        }
        this.#unsentCandidates -= 1;
      }
      this.#unsent.shift();
      this.#nextToSend += 1;
    }
    this.#moveBase();
    return run;
  }

  /** Drops everything at or below `version` that was already sent (Talos prunes on the queue's last-installed feedback). */
  prune(version: Version): void {
    const limit = Math.min(version, this.#nextToSend - 1);
    while (this.#sent.length > 0 && Math.abs(this.#sent.peekFront()!) <= limit) this.#sent.shift();
    this.#moveBase();
  }

  /**
   * Holes (decision offsets) and duplicates at the front never reach the queue, so its snapshot
   * never covers them: once passed, drop them, so the head is a candidate still waiting for its
   * install or its decision (backpressure reads `head < nextToSend` that way).
   */
  #moveBase(): void {
    while (this.#sent.length > 0 && this.#sent.peekFront()! < 0) this.#sent.shift();
    this.#base = this.#sent.length > 0 ? this.#sent.peekFront()! : this.#nextToSend;
  }

  /** Whether `version` (below `#nextToSend`, not below the head) was a candidate sent or passed over as a duplicate. */
  #wasSent(version: Version): boolean {
    let low = 0;
    let high = this.#sent.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const at = Math.abs(this.#sent.at(mid)!);
      if (at === version) return true;
      if (at < version) low = mid + 1;
      else high = mid - 1;
    }
    return false;
  }

  clone(): Suffix {
    const copy = new Suffix(this.#base - 1);
    for (const slot of this.#unsent) copy.#unsent.push(slot && { ...slot });
    copy.#sent = this.#sent.clone();
    copy.#base = this.#base;
    copy.#nextToSend = this.#nextToSend;
    copy.#lastOffset = this.#lastOffset;
    copy.#unsentCandidates = this.#unsentCandidates;
    return copy;
  }

  toJSON(): object {
    return { head: this.#base, nextToSend: this.#nextToSend, lastOffset: this.#lastOffset, candidates: this.size };
  }
}

function unknownVersion(version: Version): DecideResult {
  return { kind: 'unknown', reason: `decision for version ${version}, which holds no candidate in the suffix` };
}

const NO_STATEMAP: Statemap = Object.freeze([]);

/** The statemap goes to the queue as the parser left it: it is built when the version's install call starts. */
function toQueueEntry(version: Version, slot: Slot): QueueEntry {
  if (slot.outcome !== 'committed') return { version, safepoint: null, statemap: NO_STATEMAP };
  return { version, safepoint: slot.safepoint, statemap: slot.statemap };
}
