/**
 * The snapshot persister: writes the latest snapshot through `updateSnapshot`, one write at a
 * time, never a version at or below one already written; requests that arrive during a write
 * are coalesced into the next one; a failed write is retried with backoff. Reports every
 * persisted version to its parent (the queue), which passes it on for the offset commit.
 */
import { assign, enqueueActions, fromPromise, sendParent, setup } from 'xstate';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import type { Version } from './domain.js';

export interface SnapshotPersisterInput {
  readonly retry: BackoffPolicy;
  /** Defaults to Math.random; tests pass a seeded one. */
  readonly random?: () => number;
}

export type SnapshotPersisterEvent = { readonly type: 'PERSIST'; readonly version: Version };

/** Sent to the parent. */
export type SnapshotPersisterReport =
  | { readonly type: 'SNAPSHOT_PERSISTED'; readonly version: Version }
  | { readonly type: 'SNAPSHOT_WRITE_FAILED'; readonly version: Version; readonly attempts: number; readonly error: unknown };

export interface SnapshotPersisterContext {
  /** Highest version written, null before the first write. */
  readonly persisted: Version | null;
  /** Highest version asked for. */
  readonly requested: Version | null;
  /** The version of the write in flight (or of the last one attempted). */
  readonly writing: Version | null;
  /** Failed attempts at the current write. */
  readonly attempts: number;
  readonly retry: BackoffPolicy;
  readonly random: () => number;
}

/** Stand-in until the composition root provides the store's `updateSnapshot` (actors/writeSnapshot.ts). */
const writeSnapshotPlaceholder = fromPromise<Version, { readonly version: Version }>(async () => {
  throw new Error('snapshot persister: the writeSnapshot actor was not provided');
});

const isNewer = (version: Version, than: Version | null): boolean => than === null || version > than;

export const snapshotPersisterMachine = setup({
  types: {
    input: {} as SnapshotPersisterInput,
    context: {} as SnapshotPersisterContext,
    events: {} as SnapshotPersisterEvent,
  },
  actors: { writeSnapshot: writeSnapshotPlaceholder },
  guards: {
    requestIsNewer: ({ context, event }) => isNewer(event.version, context.requested) && isNewer(event.version, context.persisted),
    /** A request arrived during the write that just finished. */
    newerRequested: ({ context, event }) => context.requested !== null && context.requested > (event as unknown as { output: Version }).output,
  },
  actions: {
    recordPersisted: enqueueActions(({ event, enqueue }) => {
      const version = (event as unknown as { output: Version }).output;
      enqueue.assign({ persisted: version, attempts: 0 });
      enqueue(sendParent({ type: 'SNAPSHOT_PERSISTED', version } satisfies SnapshotPersisterReport));
    }),
    recordRequest: assign({ requested: ({ context, event }) => (isNewer(event.version, context.requested) ? event.version : context.requested) }),
  },
  delays: {
    retryDelay: ({ context }) => backoffDelay(context.retry, context.attempts, context.random),
  },
}).createMachine({
  id: 'snapshotPersister',
  context: ({ input }) => ({ persisted: null, requested: null, writing: null, attempts: 0, retry: input.retry, random: input.random ?? Math.random }),
  initial: 'idle',
  states: {
    idle: {
      on: { PERSIST: { guard: 'requestIsNewer', target: 'writing', actions: 'recordRequest' } },
    },
    writing: {
      description: 'One updateSnapshot call in flight, for the highest version requested when it started.',
      entry: assign({ writing: ({ context }) => context.requested }),
      invoke: {
        src: 'writeSnapshot',
        input: ({ context }) => ({ version: context.requested! }),
        onDone: [
          {
            guard: 'newerRequested',
            target: 'writing',
            reenter: true,
            actions: 'recordPersisted',
          },
          { target: 'idle', actions: 'recordPersisted' },
        ],
        onError: {
          target: 'backingOff',
          actions: [
            assign({ attempts: ({ context }) => context.attempts + 1 }),
            sendParent(({ context, event }) => ({ type: 'SNAPSHOT_WRITE_FAILED', version: context.writing!, attempts: context.attempts, error: event.error })),
          ],
        },
      },
      on: { PERSIST: { actions: 'recordRequest' } },
    },
    backingOff: {
      description: 'The last write failed; wait, then write the highest version requested by then.',
      after: { retryDelay: { target: 'writing' } },
      on: { PERSIST: { actions: 'recordRequest' } },
    },
  },
});
