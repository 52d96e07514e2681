/**
 * The data the statemap queue service keeps: every version received and not yet covered by
 * the snapshot, each in a state of the item lifecycle, and the in-memory snapshot.
 *
 * Costs per item, whatever the depth of the queue:
 * - accept: O(1), or, when the item must wait for its safepoint, a search for its anchor;
 * - dispatch: O(1) (a ready list, never a scan);
 * - install feedback: a search for the item, plus O(1) amortised snapshot advance;
 * - each search by version: O(log e) from a guess by the average gap between queued versions,
 *   e being how far off the guess was, and never worse than O(log n) (`#lastIndexAtOrBelow`);
 * - release of waiting items when the snapshot moves: O(1) each (see `#firstWaiter`).
 * Installed items are dropped as soon as the snapshot covers them, so nothing installed is
 * ever walked again (Talos rescans them on every event until its 10 s prune).
 *
 * Every state change goes through `nextItemState`, the table derived from queueItemMachine.
 */
import { isDeferred, type DispatchedVersion, type Statemap, type Version } from './domain.js';
import { ITEM_STATES, ItemStates, itemStateName, nextItemState, type ItemState, type ItemStateName } from './queueItem.lifecycle.js';
import type { QueueItemEvent } from './queueItem.machine.js';
import { dispatched, NO_SAFEPOINT, safepointOf } from './structures/dispatchedBacklog.js';
import { copyRing, NumberDeque, powerOfTwoAtLeast } from './structures/numberDeque.js';
import { RunDeque } from './structures/runDeque.js';

/** One decided version, as the replicator service hands it to the queue (in version order). */
export interface QueueEntry {
  readonly version: Version;
  /**
   * Every version up to this one (or up to the version before this one, whichever is lower) must
   * be installed first; null when it waits for nothing (aborts, empty statemaps).
   */
  readonly safepoint: Version | null;
  /** As the parser left it (possibly deferred, never empty then): built when its install call starts. */
  readonly statemap: Statemap;
}

export interface RetryRequest {
  readonly version: Version;
  readonly attempts: number;
  readonly error: unknown;
}

export interface InstallFailure {
  readonly version: Version;
  readonly attempts: number;
  readonly error: unknown;
}

export interface SettleResult {
  readonly retries: readonly RetryRequest[];
  /** The first item that ran out of attempts in this batch, if any. */
  readonly failure: InstallFailure | null;
}

export type SettledInstall =
  | { readonly version: Version; readonly ok: true }
  | { readonly version: Version; readonly ok: false; readonly error: unknown };

export type QueueCounts = Readonly<Record<ItemStateName, number>>;

/** Rings up to this many items (a few MiB of columns) never shrink, so a queue that cycles allocates nothing. */
const KEEP_CAPACITY = 65_536;
const MIN_CAPACITY = 16;
/** No item, as an index; and as a link in a waiter column (where a link is a distance, never 0). */
const NO_ITEM = -1;
const NO_LINK = 0;

export class StatemapQueue {
  /*
   * Items not yet covered by the snapshot, in version order, kept as columns of one ring rather
   * than an object each: item i from the front sits at slot `(#head + i) & #mask` of every column.
   * A deep queue holds an item per waiting version, and an object each (72 bytes, six fields)
   * would be one more that every young-generation collection it lives through copies; here an
   * item costs 33 bytes of columns that no collection copies or visits (its statemap is kept once
   * per run of items that share it).
   * An item is named by its sequence number (items accepted before it), which stays valid while
   * the front moves: item `seq` is at index `seq - #frontSeq`.
   */
  #head = 0;
  #size = 0;
  #frontSeq = 0;
  #mask = MIN_CAPACITY - 1;
  #versions = new Float64Array(MIN_CAPACITY);
  /** Null (`NO_SAFEPOINT`) when the item waits for nothing (also for a committed empty statemap). */
  #safepoints = new Float64Array(MIN_CAPACITY);
  #states = new Uint8Array(MIN_CAPACITY);
  /**
   * Items that wait for this one: each waits for its safepoint, and this is the last queued item
   * at or below it, so once this one leaves the front of the queue (installed, and every item
   * before it too) they are eligible. A list threaded through the waiting items themselves (the
   * latest first: they go at once, so their order does not matter), so waiting costs nothing
   * beyond the columns and no heap of safepoints is kept in order. Links are distances in
   * sequence numbers (a waiter lies after its anchor, and the next waiter of a list before the
   * one that links to it), so they fit 32 bits, and 0 (`NO_LINK`) is the end of a list: a grown
   * column needs no filling.
   */
  #firstWaiter = new Uint32Array(MIN_CAPACITY);
  /** The next item in the list this one waits in. */
  #nextWaiter = new Uint32Array(MIN_CAPACITY);
  /**
   * The items' statemaps as the parser left them (built when the install call starts), once per
   * run of items that share one (a chunk's deferred statemaps), so the queue holds a few pointers
   * per chunk rather than one per item. An item's column holds its run number.
   */
  #statemaps = new RunDeque<Statemap>();
  #statemapRuns = new Float64Array(MIN_CAPACITY);
  /** Eligible items waiting for dispatch, by sequence number (may hold stale ones, skipped on take). */
  #ready = new NumberDeque();
  /** Items waiting in some item's waiter list. */
  #waiting = 0;
  /** Failed install attempts of the versions that have had any (rare, so not a column). */
  #failedAttempts = new Map<Version, number>();
  #snapshot: Version;
  /** A snapshot learnt from the store (a refresh): versions at or below it count as installed. */
  #floor: Version;
  #lastAccepted: Version;
  #counts: number[];
  /** The columns never shrink below this many items. */
  #keepCapacity: number;

  /**
   * `capacity`: how many items the columns hold before they first grow (rounded up to a power of
   * two). The queue machine passes `suffixCapacity`, about the most versions the replicator holds
   * before it pauses the source: a deep queue then never copies its columns to grow (at a
   * million items, growing and shrinking them cost 4 % of the main thread, most of it in page
   * faults on the fresh copies). Typed arrays nobody has written to yet cost address space, not
   * memory.
   */
  constructor(snapshot: Version, capacity = MIN_CAPACITY) {
    this.#snapshot = snapshot;
    this.#floor = snapshot;
    this.#lastAccepted = snapshot;
    this.#counts = ITEM_STATES.map(() => 0);
    const size = powerOfTwoAtLeast(capacity);
    this.#keepCapacity = Math.max(size, KEEP_CAPACITY);
    if (size > MIN_CAPACITY) this.#resize(size);
  }

  /** The highest version such that it and every version received before it is installed. */
  get snapshot(): Version {
    return this.#snapshot;
  }

  get lastAccepted(): Version {
    return this.#lastAccepted;
  }

  /** Items received and not yet covered by the snapshot. */
  get size(): number {
    return this.#size;
  }

  get inflight(): number {
    return this.#counts[ItemStates.inflight]!;
  }

  /** Items that still need an install (awaiting, backing off or in flight). */
  get pending(): number {
    return this.#size - this.#counts[ItemStates.installed]! - this.#counts[ItemStates.failed]!;
  }

  get readyCount(): number {
    return this.#ready.length;
  }

  counts(): QueueCounts {
    const counts = {} as Record<ItemStateName, number>;
    for (const code of Object.values(ItemStates)) counts[itemStateName(code)] = this.#counts[code]!;
    return counts;
  }

  /** Takes decided versions in version order. Versions already received are ignored (redelivery). */
  accept(entries: readonly QueueEntry[]): void {
    for (const entry of entries) {
      if (entry.version <= this.#lastAccepted) continue;
      this.#lastAccepted = entry.version;
      const { statemap } = entry;
      const safepoint = !isDeferred(statemap) && statemap.length === 0 ? null : entry.safepoint;
      const index = this.#size;
      const slot = this.#append(entry.version, safepoint, statemap);
      if (entry.version <= this.#floor) {
        this.#transition(slot, { type: 'COVERED_BY_SNAPSHOT' });
      } else if (this.#isEligible(slot)) {
        this.#ready.push(this.#frontSeq + index);
      } else {
        this.#waitBehind(slot, index);
      }
    }
    this.#advance();
  }

  /** Marks every ready item in flight and returns them for the installer, in the order they became eligible. */
  takeReady(): DispatchedVersion[] {
    const jobs: DispatchedVersion[] = [];
    while (this.#ready.length > 0) {
      const index = this.#ready.shift()! - this.#frontSeq;
      // Covered by a refreshed snapshot after it became ready, and gone since.
      if (index < 0) continue;
      const slot = this.#slotAt(index);
      if (this.#states[slot] !== ItemStates.ready) continue;
      this.#transition(slot, { type: 'DISPATCH' });
      jobs.push(dispatched(this.#versions[slot]!, this.#safepoints[slot]!, this.#statemaps.get(this.#statemapRuns[slot]!)));
    }
    return jobs;
  }

  /** Applies install feedback. */
  settle(outcomes: readonly SettledInstall[], maxAttempts: number): SettleResult {
    const retries: RetryRequest[] = [];
    let failure: InstallFailure | null = null;
    for (const outcome of outcomes) {
      const { version } = outcome;
      const slot = this.#slotAt(this.#inflightIndex(version));
      if (outcome.ok) {
        this.#transition(slot, { type: 'INSTALL_SUCCEEDED' });
        if (this.#failedAttempts.size > 0) this.#failedAttempts.delete(version);
      } else {
        const attempts = (this.#failedAttempts.get(version) ?? 0) + 1;
        this.#failedAttempts.set(version, attempts);
        this.#transition(slot, { type: 'INSTALL_FAILED', attempts, maxAttempts, covered: version <= this.#floor });
        const state = this.#states[slot];
        if (state === ItemStates.failed) failure ??= { version, attempts, error: outcome.error };
        else if (state === ItemStates.backingOff) retries.push({ version, attempts, error: outcome.error });
      }
    }
    this.#advance();
    return { retries, failure };
  }

  /** The installer gave these back untried: they are eligible again at once. */
  cancel(versions: readonly Version[]): void {
    for (const version of versions) {
      const index = this.#inflightIndex(version);
      this.#transition(this.#slotAt(index), { type: 'INSTALL_CANCELLED' });
      this.#ready.push(this.#frontSeq + index);
    }
  }

  /** A backoff ran out: the item may be dispatched again (it was eligible before, and eligibility only grows). */
  retryDue(version: Version): void {
    const index = this.#find(version);
    if (index === NO_ITEM || this.#states[this.#slotAt(index)] !== ItemStates.backingOff) return;
    this.#transition(this.#slotAt(index), { type: 'RETRY_DUE' });
    this.#ready.push(this.#frontSeq + index);
  }

  /**
   * The store says everything up to `version` is installed (Talos's UpdateSnapshot). Items that
   * are not in flight and fall under it are marked installed; in-flight ones finish normally.
   */
  coverUpTo(version: Version): void {
    if (version <= this.#floor) return;
    this.#floor = version;
    for (let index = 0; index < this.#size; index++) {
      const slot = this.#slotAt(index);
      if (this.#versions[slot]! > version) break;
      const state = this.#states[slot];
      if (state === ItemStates.ready || state === ItemStates.backingOff) this.#transition(slot, { type: 'COVERED_BY_SNAPSHOT' });
    }
    this.#advance();
  }

  /** An independent copy, so that a model checker can branch from the same state. */
  clone(): StatemapQueue {
    const copy = new StatemapQueue(this.#snapshot);
    copy.#keepCapacity = this.#keepCapacity;
    copy.#head = this.#head;
    copy.#size = this.#size;
    copy.#frontSeq = this.#frontSeq;
    copy.#mask = this.#mask;
    copy.#versions = this.#versions.slice();
    copy.#safepoints = this.#safepoints.slice();
    copy.#states = this.#states.slice();
    copy.#firstWaiter = this.#firstWaiter.slice();
    copy.#nextWaiter = this.#nextWaiter.slice();
    copy.#statemaps = this.#statemaps.clone();
    copy.#statemapRuns = this.#statemapRuns.slice();
    copy.#ready = this.#ready.clone();
    copy.#waiting = this.#waiting;
    copy.#failedAttempts = new Map(this.#failedAttempts);
    copy.#floor = this.#floor;
    copy.#lastAccepted = this.#lastAccepted;
    copy.#counts = this.#counts.slice();
    return copy;
  }

  /** What the inspector and the status page show instead of every item. */
  toJSON(): object {
    return { snapshot: this.#snapshot, size: this.size, ready: this.readyCount, waiting: this.#waiting, counts: this.counts() };
  }

  #slotAt(index: number): number {
    return (this.#head + index) & this.#mask;
  }

  #versionAt(index: number): Version {
    return this.#versions[this.#slotAt(index)]!;
  }

  /** The last version that must be installed before the item in `slot`, or null. */
  #waitsFor(slot: number): Version | null {
    const safepoint = safepointOf(this.#safepoints[slot]!);
    return safepoint === null ? null : Math.min(safepoint, this.#versions[slot]! - 1);
  }

  /** Adds an item at the back, ready; returns its slot. */
  #append(version: Version, safepoint: Version | null, statemap: Statemap): number {
    if (this.#size === this.#versions.length) this.#resize(this.#versions.length * 2);
    const slot = this.#slotAt(this.#size);
    this.#versions[slot] = version;
    this.#safepoints[slot] = safepoint ?? NO_SAFEPOINT;
    this.#states[slot] = ItemStates.ready;
    this.#firstWaiter[slot] = NO_LINK;
    this.#nextWaiter[slot] = NO_LINK;
    this.#statemapRuns[slot] = this.#statemaps.push(statemap);
    this.#size += 1;
    this.#counts[ItemStates.ready]! += 1;
    return slot;
  }

  #isEligible(slot: number): boolean {
    const waitingFor = this.#waitsFor(slot);
    // The item is queued already, so the front exists.
    return waitingFor === null || waitingFor < this.#versionAt(0);
  }

  #transition(slot: number, event: QueueItemEvent): void {
    const state = this.#states[slot] as ItemState;
    const next = nextItemState(state, event);
    if (next === state) {
      throw new Error(`queue item ${this.#versions[slot]} in state ${itemStateName(state)} does not accept ${event.type}`);
    }
    this.#counts[state]! -= 1;
    this.#counts[next]! += 1;
    this.#states[slot] = next;
  }

  /** Drops the installed prefix, moves the snapshot over it and releases the items it unblocks. */
  #advance(): void {
    while (this.#size > 0 && this.#states[this.#head] === ItemStates.installed) {
      const slot = this.#head;
      const version = this.#versions[slot]!;
      const firstWaiter = this.#firstWaiter[slot]!;
      // Items leave in order, and so do their runs.
      this.#statemaps.shift();
      this.#head = (this.#head + 1) & this.#mask;
      this.#size -= 1;
      this.#frontSeq += 1;
      this.#counts[ItemStates.installed]! -= 1;
      this.#snapshot = version;
      // Every item up to this one is installed: whoever waited for it may go.
      if (firstWaiter !== NO_LINK) this.#releaseWaiters(this.#frontSeq - 1 + firstWaiter);
      // Covered by a refreshed snapshot after failing: its count goes with it.
      if (this.#failedAttempts.size > 0) this.#failedAttempts.delete(version);
    }
    if (this.#versions.length > this.#keepCapacity && this.#size * 4 <= this.#versions.length) this.#resize(this.#versions.length / 2);
    // Everything up to a refreshed snapshot is installed once no pending item lies at or below it
    // (the items at or below it have left the queue, and released their waiters as they left).
    if ((this.#size === 0 || this.#versionAt(0) > this.#floor) && this.#floor > this.#snapshot) this.#snapshot = this.#floor;
  }

  /**
   * Puts a new item (at `index`, the back) that is not eligible yet in the waiter list of the
   * last queued item at or below its safepoint (there is one: the front, at least).
   */
  #waitBehind(slot: number, index: number): void {
    const anchorIndex = this.#lastIndexAtOrBelow(this.#waitsFor(slot)!, index - 1);
    const anchor = this.#slotAt(anchorIndex);
    const previousFirst = this.#firstWaiter[anchor]!;
    // Distances: the anchor's old first waiter lies (anchor + previousFirst), so index - that before this one.
    if (previousFirst !== NO_LINK) this.#nextWaiter[slot] = index - (anchorIndex + previousFirst);
    this.#firstWaiter[anchor] = index - anchorIndex;
    this.#waiting += 1;
  }

  /** Releases the waiter list that starts at sequence number `first`. */
  #releaseWaiters(first: number): void {
    for (let seq = first; ; ) {
      // Waiters come after their anchor, so they are still queued.
      const slot = this.#slotAt(seq - this.#frontSeq);
      const next = this.#nextWaiter[slot]!;
      this.#nextWaiter[slot] = NO_LINK;
      this.#waiting -= 1;
      // A waiter covered by a refreshed snapshot meanwhile is installed already.
      if (this.#states[slot] === ItemStates.ready) this.#ready.push(seq);
      if (next === NO_LINK) return;
      seq -= next;
    }
  }

  /** The index of `version`, or `NO_ITEM`. */
  #find(version: Version): number {
    const index = this.#lastIndexAtOrBelow(version, this.#size - 1);
    return index >= 0 && this.#versionAt(index) === version ? index : NO_ITEM;
  }

  /**
   * The last index up to `last` whose version is at most `version`, or -1. Queued versions are
   * spread about evenly (an offset per record, a candidate and its decision per transaction), so
   * the search starts where the average gap between them puts `version` and gallops from there:
   * O(log e), e being how far off that guess was, and never worse than O(log n). In a deep queue
   * a plain binary search (20 steps at a million items, on as many cold cache lines) cost more
   * than the rest of accepting or settling an item.
   */
  #lastIndexAtOrBelow(version: Version, last: number): number {
    if (last < 0) return -1;
    const lowest = this.#versionAt(0);
    if (lowest > version) return -1;
    const highest = this.#versionAt(last);
    if (highest <= version) return last;
    // lowest <= version < highest, so the guess lies in [0, last) and the answer in [0, last - 1].
    const guess = Math.min(Math.floor(((version - lowest) / (highest - lowest)) * last), last - 1);
    if (this.#versionAt(guess) <= version) {
      // Forward: [low, high] ends up holding the answer.
      let low = guess;
      let step = 1;
      while (low + step < last && this.#versionAt(low + step) <= version) {
        low += step;
        step *= 2;
      }
      return this.#binarySearch(version, low, Math.min(low + step, last) - 1);
    }
    // Back: the answer is at most `high`; each probe at `low` either bounds it from below or moves `high` under it.
    let high = guess - 1;
    let step = 1;
    let low = high - step;
    while (low >= 0 && this.#versionAt(low) > version) {
      high = low - 1;
      step *= 2;
      low = high - step;
    }
    return this.#binarySearch(version, Math.max(low, 0), high);
  }

  /** Binary search of indexes `low..high`: the last whose version is at most `version`, or `low - 1`. */
  #binarySearch(version: Version, low: number, high: number): number {
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.#versionAt(mid) <= version) low = mid + 1;
      else high = mid - 1;
    }
    return high;
  }

  #inflightIndex(version: Version): number {
    const index = this.#find(version);
    const state = index === NO_ITEM ? undefined : (this.#states[this.#slotAt(index)] as ItemState);
    if (state !== ItemStates.inflight) {
      throw new Error(`install feedback for version ${version}, which is not in flight (${state === undefined ? 'unknown' : itemStateName(state)})`);
    }
    return index;
  }

  /** Moves the items, in order, to the front of columns of `capacity` slots (a power of two, at least the size). */
  #resize(capacity: number): void {
    const from = { head: this.#head, size: this.#size };
    const moved = <T extends Float64Array | Uint32Array | Uint8Array>(column: T, to: T): T => {
      copyRing(column, from.head, from.size, to);
      return to;
    };
    this.#versions = moved(this.#versions, new Float64Array(capacity));
    this.#safepoints = moved(this.#safepoints, new Float64Array(capacity));
    this.#states = moved(this.#states, new Uint8Array(capacity));
    this.#firstWaiter = moved(this.#firstWaiter, new Uint32Array(capacity));
    this.#nextWaiter = moved(this.#nextWaiter, new Uint32Array(capacity));
    this.#statemapRuns = moved(this.#statemapRuns, new Float64Array(capacity));
    this.#head = 0;
    this.#mask = capacity - 1;
  }
}
