/**
 * The data the statemap queue service keeps: every version received and not yet covered by
 * the snapshot, each in a state of the item lifecycle, and the in-memory snapshot.
 *
 * Costs per item, whatever the depth of the queue:
 * - accept: O(1), or O(log d) when the item must wait for its safepoint, d being how many
 *   queued items lie between its safepoint and itself (a search from the back of the queue);
 * - dispatch: O(1) (a ready list, never a scan);
 * - install feedback: O(log n) (binary search by version) plus O(1) amortised snapshot advance;
 * - release of waiting items when the snapshot moves: O(1) each (see `Item.firstWaiter`).
 * Installed items are dropped as soon as the snapshot covers them, so nothing installed is
 * ever walked again (Talos rescans them on every event until its 10 s prune).
 *
 * Every state change goes through `nextItemState`, the table derived from queueItemMachine.
 */
import { isDeferred, type DispatchedVersion, type Statemap, type Version } from './domain.js';
import { ITEM_STATES, ItemStates, itemStateName, nextItemState, type ItemState, type ItemStateName } from './queueItem.lifecycle.js';
import type { QueueItemEvent } from './queueItem.machine.js';
import { Deque } from './structures/deque.js';

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

/** A queued version; the installer gets the item itself as its `DispatchedVersion`. */
interface Item extends DispatchedVersion {
  /** Null when the item waits for nothing (also for a committed empty statemap). */
  readonly safepoint: Version | null;
  state: ItemState;
  /**
   * Items that wait for this one: each waits for its safepoint, and this is the last queued item
   * at or below it, so once this one leaves the front of the queue (installed, and every item
   * before it too) they are eligible. A list threaded through the waiting items themselves (the
   * latest first: they go at once, so their order does not matter): a deep queue's waiting items
   * cost no allocation and no heap of safepoints to keep in order.
   *
   * Every field counts: a deep queue holds an item per waiting version (72 bytes with these six
   * fields; Node has no pointer compression), and every young-generation collection it lives
   * through copies it. So the list has no tail pointer, and failed attempts, which are rare,
   * are counted beside the items (`#failedAttempts`).
   */
  firstWaiter: Item | null;
  /** The next item in the list this one waits in. */
  nextWaiter: Item | null;
}

/** The last version that must be installed before `item`, or null. */
function waitsFor(item: Item): Version | null {
  return item.safepoint === null ? null : Math.min(item.safepoint, item.version - 1);
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

export class StatemapQueue {
  /** Items not yet covered by the snapshot, in version order; the front is the first one not installed. */
  #items = new Deque<Item>();
  /** Eligible items waiting for dispatch (may hold stale entries, skipped on take). */
  #ready = new Deque<Item>();
  /** Items waiting in some item's waiter list. */
  #waiting = 0;
  /** Failed install attempts of the items that have had any. */
  #failedAttempts = new Map<Item, number>();
  #snapshot: Version;
  /** A snapshot learnt from the store (a refresh): versions at or below it count as installed. */
  #floor: Version;
  #lastAccepted: Version;
  #counts: number[];

  constructor(snapshot: Version) {
    this.#snapshot = snapshot;
    this.#floor = snapshot;
    this.#lastAccepted = snapshot;
    this.#counts = ITEM_STATES.map(() => 0);
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
    return this.#items.length;
  }

  get inflight(): number {
    return this.#counts[ItemStates.inflight]!;
  }

  /** Items that still need an install (awaiting, backing off or in flight). */
  get pending(): number {
    return this.#items.length - this.#counts[ItemStates.installed]! - this.#counts[ItemStates.failed]!;
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
      const item: Item = { version: entry.version, safepoint, statemap, state: ItemStates.ready, firstWaiter: null, nextWaiter: null };
      this.#items.push(item);
      this.#counts[ItemStates.ready]! += 1;
      if (entry.version <= this.#floor) {
        this.#transition(item, { type: 'COVERED_BY_SNAPSHOT' });
      } else if (this.#isEligible(item)) {
        this.#ready.push(item);
      } else {
        this.#waitBehind(item);
      }
    }
    this.#advance();
  }

  /** Marks every ready item in flight and returns them for the installer, in the order they became eligible. */
  takeReady(): DispatchedVersion[] {
    const jobs: DispatchedVersion[] = [];
    while (this.#ready.length > 0) {
      const item = this.#ready.shift()!;
      if (item.state !== ItemStates.ready) continue;
      this.#transition(item, { type: 'DISPATCH' });
      // The item itself is what the installer gets (its version, safepoint and statemap): no copy per dispatch.
      jobs.push(item);
    }
    return jobs;
  }

  /** Applies install feedback. */
  settle(outcomes: readonly SettledInstall[], maxAttempts: number): SettleResult {
    const retries: RetryRequest[] = [];
    let failure: InstallFailure | null = null;
    for (const outcome of outcomes) {
      const item = this.#inflightItem(outcome.version);
      if (outcome.ok) {
        this.#transition(item, { type: 'INSTALL_SUCCEEDED' });
        if (this.#failedAttempts.size > 0) this.#failedAttempts.delete(item);
      } else {
        const attempts = (this.#failedAttempts.get(item) ?? 0) + 1;
        this.#failedAttempts.set(item, attempts);
        this.#transition(item, { type: 'INSTALL_FAILED', attempts, maxAttempts, covered: item.version <= this.#floor });
        if (item.state === ItemStates.failed) failure ??= { version: item.version, attempts, error: outcome.error };
        else if (item.state === ItemStates.backingOff) retries.push({ version: item.version, attempts, error: outcome.error });
      }
    }
    this.#advance();
    return { retries, failure };
  }

  /** The installer gave these back untried: they are eligible again at once. */
  cancel(versions: readonly Version[]): void {
    for (const version of versions) {
      const item = this.#inflightItem(version);
      this.#transition(item, { type: 'INSTALL_CANCELLED' });
      this.#ready.push(item);
    }
  }

  /** A backoff ran out: the item may be dispatched again (it was eligible before, and eligibility only grows). */
  retryDue(version: Version): void {
    const item = this.#find(version);
    if (!item || item.state !== ItemStates.backingOff) return;
    this.#transition(item, { type: 'RETRY_DUE' });
    this.#ready.push(item);
  }

  /**
   * The store says everything up to `version` is installed (Talos's UpdateSnapshot). Items that
   * are not in flight and fall under it are marked installed; in-flight ones finish normally.
   */
  coverUpTo(version: Version): void {
    if (version <= this.#floor) return;
    this.#floor = version;
    for (const item of this.#items) {
      if (item.version > version) break;
      if (item.state === ItemStates.ready || item.state === ItemStates.backingOff) this.#transition(item, { type: 'COVERED_BY_SNAPSHOT' });
    }
    this.#advance();
  }

  /** An independent copy, so that a model checker can branch from the same state. */
  clone(): StatemapQueue {
    const copy = new StatemapQueue(this.#snapshot);
    const mapped = new Map<Item, Item>();
    const map = (item: Item): Item => {
      let twin = mapped.get(item);
      if (!twin) mapped.set(item, (twin = { ...item }));
      return twin;
    };
    const orNull = (item: Item | null) => (item === null ? null : map(item));
    for (const item of this.#items) copy.#items.push(map(item));
    for (const item of this.#ready) copy.#ready.push(map(item));
    // Waiter lists link queued items only (a waiter comes after its anchor, which leaves the queue first).
    for (const twin of copy.#items) {
      twin.firstWaiter = orNull(twin.firstWaiter);
      twin.nextWaiter = orNull(twin.nextWaiter);
    }
    copy.#waiting = this.#waiting;
    for (const [item, attempts] of this.#failedAttempts) copy.#failedAttempts.set(map(item), attempts);
    copy.#floor = this.#floor;
    copy.#lastAccepted = this.#lastAccepted;
    copy.#counts = this.#counts.slice();
    return copy;
  }

  /** What the inspector and the status page show instead of every item. */
  toJSON(): object {
    return { snapshot: this.#snapshot, size: this.size, ready: this.readyCount, waiting: this.#waiting, counts: this.counts() };
  }

  #isEligible(item: Item): boolean {
    const waitingFor = waitsFor(item);
    if (waitingFor === null) return true;
    const firstPending = this.#items.peekFront();
    return firstPending === undefined || waitingFor < firstPending.version;
  }

  #transition(item: Item, event: QueueItemEvent): void {
    const next = nextItemState(item.state, event);
    if (next === item.state) {
      throw new Error(`queue item ${item.version} in state ${itemStateName(item.state)} does not accept ${event.type}`);
    }
    this.#counts[item.state]! -= 1;
    this.#counts[next]! += 1;
    item.state = next;
  }

  /** Drops the installed prefix, moves the snapshot over it and releases the items it unblocks. */
  #advance(): void {
    let front = this.#items.peekFront();
    while (front && front.state === ItemStates.installed) {
      this.#items.shift();
      this.#counts[ItemStates.installed]! -= 1;
      this.#snapshot = front.version;
      // Every item up to this one is installed: whoever waited for it may go.
      if (front.firstWaiter !== null) this.#releaseWaiters(front);
      // Covered by a refreshed snapshot after failing: its count goes with it.
      if (this.#failedAttempts.size > 0) this.#failedAttempts.delete(front);
      front = this.#items.peekFront();
    }
    // Everything up to a refreshed snapshot is installed once no pending item lies at or below it
    // (the items at or below it have left the queue, and released their waiters as they left).
    if ((!front || front.version > this.#floor) && this.#floor > this.#snapshot) this.#snapshot = this.#floor;
  }

  /**
   * Puts a new item that is not eligible yet in the waiter list of the last queued item at or
   * below its safepoint. Searched from the back, since a safepoint is usually recent.
   */
  #waitBehind(item: Item): void {
    const waitingFor = waitsFor(item)!;
    // Galloping back from the item before the new one: [low, high] ends up holding the anchor.
    let high = this.#items.length - 2;
    let step = 1;
    let low = high - step;
    while (low >= 0 && this.#items.at(low)!.version > waitingFor) {
      high = low - 1;
      step *= 2;
      low = high - step;
    }
    const anchor = this.#items.at(this.#lastIndexAtOrBelow(waitingFor, Math.max(low, 0), high))!;
    item.nextWaiter = anchor.firstWaiter;
    anchor.firstWaiter = item;
    this.#waiting += 1;
  }

  #releaseWaiters(anchor: Item): void {
    let waiter = anchor.firstWaiter;
    anchor.firstWaiter = null;
    while (waiter !== null) {
      const next = waiter.nextWaiter;
      waiter.nextWaiter = null;
      this.#waiting -= 1;
      // A waiter covered by a refreshed snapshot meanwhile is installed already.
      if (waiter.state === ItemStates.ready) this.#ready.push(waiter);
      waiter = next;
    }
  }

  #find(version: Version): Item | undefined {
    const item = this.#items.at(this.#lastIndexAtOrBelow(version, 0, this.#items.length - 1));
    return item?.version === version ? item : undefined;
  }

  /** Binary search of `#items[low..high]` (in version order): the last index whose version is at most `version`, or `low - 1`. */
  #lastIndexAtOrBelow(version: Version, low: number, high: number): number {
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.#items.at(mid)!.version <= version) low = mid + 1;
      else high = mid - 1;
    }
    return high;
  }

  #inflightItem(version: Version): Item {
    const item = this.#find(version);
    if (!item || item.state !== ItemStates.inflight) {
      throw new Error(`install feedback for version ${version}, which is not in flight (${item ? itemStateName(item.state) : 'unknown'})`);
    }
    return item;
  }
}
