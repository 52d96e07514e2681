/**
 * Small replications for the observability tests: a certification log with known counts, an
 * in-memory snapshot store, and helpers to wait for a state or a condition.
 */
import { waitFor } from 'xstate';
import type { CohortReplicator, RawRecord, SnapshotStore, Version } from '../../index.js';
import { candidateRecord, decisionRecord } from './records.js';

export interface TransactionLog {
  readonly records: RawRecord[];
  readonly candidates: number;
  readonly commits: number;
  readonly aborts: number;
  /** Versions (candidate offsets) in order. */
  readonly versions: Version[];
  readonly lastVersion: Version;
}

/**
 * `count` transactions starting at offset `from`: each candidate followed by its decision; every
 * `abortEvery`-th one aborted; commits wait for the version `safepointLag` before them.
 */
export function transactionLog(count: number, options: { from?: number; abortEvery?: number; safepointLag?: number } = {}): TransactionLog {
  const records: RawRecord[] = [];
  const versions: Version[] = [];
  let offset = options.from ?? 1;
  let aborts = 0;
  for (let i = 0; i < count; i++) {
    const version = offset++;
    versions.push(version);
    records.push(candidateRecord(version));
    const abort = options.abortEvery !== undefined && i % options.abortEvery === options.abortEvery - 1;
    if (abort) aborts += 1;
    records.push(decisionRecord(offset++, version, abort ? { outcome: 'aborted' } : { safepoint: Math.max(0, version - (options.safepointLag ?? 2)) }));
  }
  return { records, candidates: count, commits: count - aborts, aborts, versions, lastVersion: versions.at(-1) ?? 0 };
}

export interface MemoryStore extends SnapshotStore {
  readonly persisted: Version;
}

export function memoryStore(initial: Version = 0, options: { getSnapshotGate?: () => Promise<void> } = {}): MemoryStore {
  let persisted = initial;
  return {
    async getSnapshot() {
      await options.getSnapshotGate?.();
      return persisted;
    },
    async updateSnapshot(version) {
      persisted = version;
    },
    get persisted() {
      return persisted;
    },
  };
}

/** Resolves with the root's final snapshot. */
export function runToEnd(replicator: CohortReplicator, timeout = 10_000) {
  return waitFor(replicator, (snapshot) => snapshot.status === 'done', { timeout });
}

/** Polls `check` until it returns a value other than undefined/false. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A promise and its resolver, to hold installs back. */
export function gate(): { readonly promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
