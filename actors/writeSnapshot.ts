/** Persists one snapshot version through the user's `updateSnapshot`; resolves with the version written. */
import { fromPromise } from 'xstate';
import type { SnapshotStore, Version } from '../machines/domain.js';

export function createWriteSnapshot(store: SnapshotStore) {
  return fromPromise<Version, { readonly version: Version }>(async ({ input }) => {
    await store.updateSnapshot(input.version);
    return input.version;
  });
}
