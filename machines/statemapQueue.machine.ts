/**
 * The statemap queue service (the job of Talos's `statemap_queue_service`).
 *
 * loading ─▶ running ─▶ draining ─▶ flushing ─▶ done
 *
 * - loading: reads the snapshot once (`getSnapshot`), retrying with backoff.
 * - running: accepts decided versions in batches, dispatches every item to the installer the
 *   moment it becomes eligible (every version up to its safepoint installed), applies install
 *   feedback, retries failures after a backoff, keeps the in-memory snapshot, and every
 *   `statemapQueueCleanupFreqMs` hands it to the persister. REFRESH_SNAPSHOT re-reads the store.
 * - draining (on DRAIN, on an item out of attempts, or once upstream ended and nothing is
 *   pending): no new dispatches; in-flight installs finish.
 * - flushing: the last snapshot is persisted; the machine ends with it as output.
 *
 * It owns two spawned actors: the installer and the snapshot persister. The per-item state
 * lives in `StatemapQueue`, which moves items with the table derived from queueItemMachine.
 */
import { enqueueActions, fromPromise, sendParent, setup, type ActorRefFrom } from 'xstate';
import { backoffDelay } from './backoff.js';
import type { ReplicatorConfig } from './config.js';
import type { Version } from './domain.js';
import { assignIfCopied } from './editInPlace.js';
import { installerMachine, type InstallerEvent, type InstallerReport } from './installer.machine.js';
import { snapshotPersisterMachine, type SnapshotPersisterEvent, type SnapshotPersisterReport } from './snapshotPersister.machine.js';
import { StatemapQueue, type InstallFailure, type QueueEntry } from './statemapQueue.js';

export type QueueConfig = Pick<
  ReplicatorConfig,
  'statemapQueueCleanupFreqMs' | 'statemapInstallerThreadpool' | 'installBatchSize' | 'maxInstallAttempts' | 'installRetry' | 'snapshotRetry' | 'suffixCapacity'
>;

export interface StatemapQueueInput {
  readonly config: QueueConfig;
  readonly random?: () => number;
  /** Copy the queue before each change, so a model checker can branch from any state (tests only). */
  readonly persistentData?: boolean;
}

export type StatemapQueueEvent =
  | { readonly type: 'STATEMAPS'; readonly entries: readonly QueueEntry[] }
  | { readonly type: 'RETRY_DUE'; readonly version: Version }
  | { readonly type: 'REFRESH_SNAPSHOT' }
  /** Nothing more will arrive: finish what is pending, persist, and end. */
  | { readonly type: 'UPSTREAM_ENDED' }
  /** Stop now: let in-flight installs finish, persist, and end. */
  | { readonly type: 'DRAIN' }
  | InstallerReport
  | SnapshotPersisterReport;

/** Sent to the parent. */
export type StatemapQueueReport =
  | { readonly type: 'QUEUE.READY'; readonly snapshot: Version }
  /** The in-memory snapshot moved: everything at or below it is installed. */
  | { readonly type: 'QUEUE.PROGRESS'; readonly snapshot: Version }
  | { readonly type: 'QUEUE.PERSISTED'; readonly version: Version }
  /** The queue stopped dispatching (an item ran out of attempts, or upstream ended): stop reading. */
  | { readonly type: 'QUEUE.DRAINING' };

export interface StatemapQueueOutput {
  /** Null when the queue ended before the snapshot was loaded. */
  readonly snapshot: Version | null;
  readonly persisted: Version | null;
  /** Set when an item ran out of attempts; the snapshot stops below it. */
  readonly failure: InstallFailure | null;
}

export interface StatemapQueueContext {
  readonly config: QueueConfig;
  readonly random: () => number;
  readonly persistentData: boolean;
  /** Null until the snapshot is loaded. */
  readonly queue: StatemapQueue | null;
  readonly loadAttempts: number;
  /** The last version handed to the persister, and the last it reported written. */
  readonly persistRequested: Version | null;
  readonly persisted: Version | null;
  readonly failure: InstallFailure | null;
  readonly upstreamEnded: boolean;
  /** The snapshot last reported as progress. */
  readonly reported: Version | null;
}

/**
 * Progress is reported once the snapshot moved this far, or whenever nothing is pending, so the
 * replicator service's suffix is pruned without an event per install round.
 */
export const PROGRESS_REPORT_STEP = 1024;

/**
 * Reports the snapshot to the parent if it moved enough since the last report (see
 * PROGRESS_REPORT_STEP), or, with `always`, whenever it moved at all.
 */
function reportProgress(
  context: StatemapQueueContext,
  queue: StatemapQueue,
  enqueue: { assign(values: Partial<StatemapQueueContext>): void },
  send: (report: StatemapQueueReport) => void,
  always = false,
): void {
  const last = context.reported ?? -1;
  if (queue.snapshot <= last) return;
  if (!always && queue.snapshot - last < PROGRESS_REPORT_STEP && queue.pending > 0) return;
  enqueue.assign({ reported: queue.snapshot });
  send({ type: 'QUEUE.PROGRESS', snapshot: queue.snapshot });
}

/** The queue to change in this step: the live one, or a copy in persistent mode. */
function editQueue(context: StatemapQueueContext): StatemapQueue {
  const queue = context.queue!;
  return context.persistentData ? queue.clone() : queue;
}

/**
 * A reference to one of the `report*` hooks below, from inside another action of the same
 * setup (whose names TypeScript cannot see yet).
 */
function report(type: string, params: unknown): never {
  return { type, params } as never;
}

/** Stand-in until the composition root provides the store's `getSnapshot` (actors/readSnapshot.ts). */
const readSnapshotPlaceholder = fromPromise<Version, void>(async () => {
  throw new Error('statemap queue: the readSnapshot actor was not provided');
});

export const statemapQueueMachine = setup({
  types: {
    input: {} as StatemapQueueInput,
    context: {} as StatemapQueueContext,
    events: {} as StatemapQueueEvent,
    output: {} as StatemapQueueOutput,
  },
  actors: {
    readSnapshot: readSnapshotPlaceholder,
    installer: installerMachine,
    persister: snapshotPersisterMachine,
  },
  guards: {
    hasFailure: ({ context }) => context.failure !== null,
    finishedUpstream: ({ context }) => context.upstreamEnded && context.queue !== null && context.queue.pending === 0,
    nothingInFlight: ({ context }) => context.queue === null || context.queue.inflight === 0,
    persistedUpToSnapshot: ({ context }) => context.queue === null || (context.persisted ?? -1) >= context.queue.snapshot || context.persistRequested === null,
  },
  actions: {
    /** Hook for logs and metrics; the composition root provides it. */
    reportInstallRetry: (_, _params: { version: Version; attempts: number; delayMs: number; error: unknown }) => {},
    reportSnapshotLoadFailed: (_, _params: { attempts: number; error: unknown }) => {},
    reportSnapshotWriteFailed: (_, _params: { version: Version; attempts: number; error: unknown }) => {},
    reportItemFailed: (_, _params: InstallFailure) => {},
    reportRefreshFailed: (_, _params: { error: unknown }) => {},

    adoptSnapshot: enqueueActions(({ context, event, enqueue }) => {
      const snapshot = (event as unknown as { output: Version }).output;
      enqueue.assign({ queue: new StatemapQueue(snapshot, context.config.suffixCapacity), persistRequested: snapshot, persisted: snapshot, loadAttempts: 0 });
      enqueue(sendParent({ type: 'QUEUE.READY', snapshot } satisfies StatemapQueueReport));
    }),
    countLoadFailure: enqueueActions(({ context, event, enqueue }) => {
      const attempts = context.loadAttempts + 1;
      enqueue.assign({ loadAttempts: attempts });
      enqueue(report('reportSnapshotLoadFailed', { attempts, error: (event as unknown as { error: unknown }).error }));
    }),
    acceptStatemaps: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STATEMAPS') return;
      const queue = editQueue(context);
      queue.accept(event.entries);
      assignIfCopied(context, 'queue', queue, enqueue);
      reportProgress(context, queue, enqueue, (report) => enqueue(sendParent(report)));
    }),
    applyResults: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'INSTALL_RESULTS') return;
      const queue = editQueue(context);
      const { retries, failure } = queue.settle(event.outcomes, context.config.maxInstallAttempts);
      assignIfCopied(context, 'queue', queue, enqueue);
      for (const retry of retries) {
        const delayMs = backoffDelay(context.config.installRetry, retry.attempts, context.random);
        enqueue(report('reportInstallRetry', { version: retry.version, attempts: retry.attempts, delayMs, error: retry.error }));
        enqueue.raise({ type: 'RETRY_DUE', version: retry.version }, { delay: delayMs, id: `retry-${retry.version}` });
      }
      if (failure && context.failure === null) {
        enqueue.assign({ failure });
        enqueue(report('reportItemFailed', failure));
      }
      reportProgress(context, queue, enqueue, (report) => enqueue(sendParent(report)));
    }),
    takeBackCancelled: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'INSTALLS_CANCELLED') return;
      const queue = editQueue(context);
      queue.cancel(event.versions);
      assignIfCopied(context, 'queue', queue, enqueue);
    }),
    makeRetryReady: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'RETRY_DUE') return;
      const queue = editQueue(context);
      queue.retryDue(event.version);
      assignIfCopied(context, 'queue', queue, enqueue);
    }),
    coverRefreshedSnapshot: enqueueActions(({ context, event, enqueue }) => {
      const snapshot = (event as unknown as { output: Version }).output;
      const queue = editQueue(context);
      queue.coverUpTo(snapshot);
      assignIfCopied(context, 'queue', queue, enqueue);
      reportProgress(context, queue, enqueue, (report) => enqueue(sendParent(report)));
    }),
    /** Hands every eligible item to the installer, in one event. */
    dispatchReady: enqueueActions(({ context, enqueue }) => {
      // Once an item is out of attempts the queue drains: nothing new may start.
      if (context.queue === null || context.queue.readyCount === 0 || context.failure !== null) return;
      const queue = editQueue(context);
      const jobs = queue.takeReady();
      assignIfCopied(context, 'queue', queue, enqueue);
      if (jobs.length > 0) enqueue.sendTo('installer', { type: 'INSTALL', jobs } satisfies InstallerEvent);
    }),
    requestPersist: enqueueActions(({ context, enqueue }) => {
      const queue = context.queue;
      const snapshot = queue?.snapshot;
      if (!queue || snapshot === undefined || (context.persistRequested !== null && snapshot <= context.persistRequested)) return;
      // The parent hears of a snapshot before it can hear that it was persisted.
      reportProgress(context, queue, enqueue, (report) => enqueue(sendParent(report)), true);
      enqueue.assign({ persistRequested: snapshot });
      enqueue.sendTo('persister', { type: 'PERSIST', version: snapshot } satisfies SnapshotPersisterEvent);
    }),
    recordPersisted: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SNAPSHOT_PERSISTED') return;
      if (context.persisted === null || event.version > context.persisted) enqueue.assign({ persisted: event.version });
      enqueue(sendParent({ type: 'QUEUE.PERSISTED', version: event.version } satisfies StatemapQueueReport));
    }),
    recordWriteFailure: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'SNAPSHOT_WRITE_FAILED') return;
      enqueue(report('reportSnapshotWriteFailed', { version: event.version, attempts: event.attempts, error: event.error }));
    }),
    drainInstaller: enqueueActions(({ enqueue }) => {
      enqueue.sendTo('installer', { type: 'DRAIN' } satisfies InstallerEvent);
      enqueue(sendParent({ type: 'QUEUE.DRAINING' } satisfies StatemapQueueReport));
    }),
    noteUpstreamEnded: enqueueActions(({ enqueue }) => enqueue.assign({ upstreamEnded: true })),
  },
  delays: {
    cleanupInterval: ({ context }) => context.config.statemapQueueCleanupFreqMs,
    loadRetryDelay: ({ context }) => backoffDelay(context.config.snapshotRetry, context.loadAttempts, context.random),
  },
}).createMachine({
  id: 'statemapQueue',
  context: ({ input }) => ({
    config: input.config,
    random: input.random ?? Math.random,
    persistentData: input.persistentData ?? false,
    queue: null,
    loadAttempts: 0,
    persistRequested: null,
    persisted: null,
    failure: null,
    upstreamEnded: false,
    reported: null,
  }),
  invoke: [
    {
      id: 'installer',
      src: 'installer',
      input: ({ context }) => ({
        concurrency: context.config.statemapInstallerThreadpool,
        batchSize: context.config.installBatchSize,
        backlogCapacity: context.config.suffixCapacity,
        persistentData: context.persistentData,
      }),
    },
    { id: 'persister', src: 'persister', input: ({ context }) => ({ retry: context.config.snapshotRetry, random: context.random }) },
  ],
  on: {
    SNAPSHOT_PERSISTED: { actions: 'recordPersisted' },
    SNAPSHOT_WRITE_FAILED: { actions: 'recordWriteFailure' },
    UPSTREAM_ENDED: { actions: 'noteUpstreamEnded' },
  },
  initial: 'loading',
  states: {
    loading: {
      description: 'Reads the persisted snapshot once; nothing is accepted before it is known.',
      initial: 'reading',
      states: {
        reading: {
          invoke: {
            src: 'readSnapshot',
            onDone: { target: '#statemapQueue.running', actions: 'adoptSnapshot' },
            onError: { target: 'backingOff', actions: 'countLoadFailure' },
          },
        },
        backingOff: {
          after: { loadRetryDelay: { target: 'reading' } },
        },
      },
      on: { DRAIN: { target: 'done' } },
    },
    running: {
      type: 'parallel',
      always: [
        { guard: 'hasFailure', target: 'draining' },
        { guard: 'finishedUpstream', target: 'draining' },
      ],
      on: {
        STATEMAPS: { actions: ['acceptStatemaps', 'dispatchReady'] },
        INSTALL_RESULTS: { actions: ['applyResults', 'dispatchReady'] },
        INSTALLS_CANCELLED: { actions: ['takeBackCancelled', 'dispatchReady'] },
        RETRY_DUE: { actions: ['makeRetryReady', 'dispatchReady'] },
        DRAIN: { target: 'draining' },
      },
      states: {
        persistence: {
          description: 'Every statemapQueueCleanupFreqMs, hand the snapshot to the persister if it moved.',
          initial: 'waiting',
          states: {
            waiting: {
              after: { cleanupInterval: { target: 'waiting', reenter: true, actions: 'requestPersist' } },
            },
          },
        },
        refresh: {
          description: "Talos's UpdateSnapshot: re-read the store; versions it covers count as installed.",
          initial: 'idle',
          states: {
            idle: { on: { REFRESH_SNAPSHOT: 'reading' } },
            reading: {
              invoke: {
                src: 'readSnapshot',
                onDone: { target: 'idle', actions: ['coverRefreshedSnapshot', 'dispatchReady'] },
                onError: {
                  target: 'idle',
                  actions: { type: 'reportRefreshFailed', params: ({ event }) => ({ error: event.error }) },
                },
              },
            },
          },
        },
      },
    },
    draining: {
      description: 'No new dispatches; in-flight installs finish and are applied; unstarted ones come back.',
      entry: 'drainInstaller',
      always: { guard: 'nothingInFlight', target: 'flushing' },
      on: {
        INSTALL_RESULTS: { actions: 'applyResults' },
        INSTALLS_CANCELLED: { actions: 'takeBackCancelled' },
      },
    },
    flushing: {
      description: 'Persists the final snapshot, then ends.',
      entry: 'requestPersist',
      always: { guard: 'persistedUpToSnapshot', target: 'done' },
    },
    done: {
      type: 'final',
    },
  },
  output: ({ context }) => ({ snapshot: context.queue?.snapshot ?? null, persisted: context.persisted, failure: context.failure }),
});

export type StatemapQueueActor = ActorRefFrom<typeof statemapQueueMachine>;
