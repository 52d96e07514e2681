/** Reads the persisted snapshot through the user's `getSnapshot`, checking what comes back. */
import { fromPromise } from 'xstate';
import type { SnapshotStore, Version } from '../machines/domain.js';

export function createReadSnapshot(store: SnapshotStore) {
  return fromPromise<Version, void>(async () => {
    const value: unknown = await store.getSnapshot();
    const version = typeof value === 'bigint' || typeof value === 'string' ? Number(value) : value;
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
      throw new TypeError(`getSnapshot() must resolve to a non-negative integer version, got ${JSON.stringify(String(value))}`);
    }
    return version;
  });
}
