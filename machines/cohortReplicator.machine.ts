/**
 * The cohort replicator: the root actor a host creates (or spawns inside its own machine).
 * It spawns the source consumer, the replicator service and the statemap queue (which spawns
 * the installer and the snapshot persister), and routes their reports to each other:
 *
 *   source ─records─▶ replicator service ─decided runs─▶ queue ─jobs─▶ installer
 *      ▲                   ▲    │                          │  ▲
 *      └─commit/pause──────┘    └◀─installed-up-to, persisted──┘  └─ persister
 *
 * starting ─▶ running ─▶ stopping ─▶ closing ─▶ stopped | failed
 *
 * On STOP it stops consuming, lets in-flight installs finish, persists the last snapshot,
 * commits its offset and ends in `stopped`. When an item runs out of attempts or the source
 * fails it does the same and ends in `failed`, with the error in its context and output.
 */
import { assign, enqueueActions, fromCallback, setup, type ActorRefFrom, type DoneActorEvent } from 'xstate';
import type { ReplicatorConfig } from './config.js';
import type { Version } from './domain.js';
import { InstallFailedError, SourceFailedError } from './errors.js';
import type { ParsedBatch } from './messages.js';
import { replicatorServiceMachine, type ReplicatorServiceEvent, type ReplicatorServiceReport } from './replicatorService.machine.js';
import { statemapQueueMachine, type StatemapQueueEvent, type StatemapQueueOutput, type StatemapQueueReport } from './statemapQueue.machine.js';

export interface CohortReplicatorInput {
  readonly config: ReplicatorConfig;
}

/** What the source consumer actor (actors/sourceConsumer.ts) accepts. */
export type SourceCommand =
  /** Start reading; the replicator needs every record from offset `from` on (the persisted snapshot + 1). */
  | { readonly type: 'START'; readonly from: Version }
  | { readonly type: 'PAUSE' }
  | { readonly type: 'RESUME' }
  /** Wait this long after each batch (backpressure); 0: full speed. */
  | { readonly type: 'THROTTLE'; readonly delayMs: number }
  | { readonly type: 'COMMIT'; readonly version: Version }
  /** Stop reading; records already read but not delivered are dropped (they will be read again). */
  | { readonly type: 'STOP' }
  /** Commit `version` (if any) and release the source. */
  | { readonly type: 'CLOSE'; readonly version: Version | null };

/** What the source consumer reports. */
export type SourceReport =
  | { readonly type: 'SOURCE.RECORDS'; readonly batch: ParsedBatch }
  | { readonly type: 'SOURCE.ENDED' }
  | { readonly type: 'SOURCE.FAILED'; readonly error: unknown }
  | { readonly type: 'SOURCE.COMMITTED'; readonly version: Version }
  | { readonly type: 'SOURCE.COMMIT_FAILED'; readonly version: Version; readonly error: unknown }
  | { readonly type: 'SOURCE.CLOSE_FAILED'; readonly error: unknown }
  | { readonly type: 'SOURCE.CLOSED' };

export type CohortReplicatorEvent =
  | { readonly type: 'STOP' }
  /** Re-read the persisted snapshot (Talos's UpdateSnapshot), e.g. after another process moved it. */
  | { readonly type: 'REFRESH_SNAPSHOT' }
  | SourceReport
  | ReplicatorServiceReport
  | StatemapQueueReport
  | DoneActorEvent<StatemapQueueOutput, 'queue'>;

export interface CohortReplicatorContext {
  readonly config: ReplicatorConfig;
  /** In memory: everything at or below it is installed. Null until loaded. */
  readonly snapshot: Version | null;
  readonly persisted: Version | null;
  readonly committed: Version | null;
  readonly sourceEnded: boolean;
  readonly error: Error | null;
}

export interface CohortReplicatorOutput {
  readonly outcome: 'stopped' | 'failed';
  readonly snapshot: Version | null;
  readonly persisted: Version | null;
  readonly committed: Version | null;
  readonly error: Error | null;
}

/** What the source consumer is started with. */
export interface SourceConsumerInput {
  /** Most records per batch handed to the replicator service. */
  readonly channelSize: number;
  /**
   * Most records an asynchronous (off-thread) parser may hold at once; beyond it the source is
   * paused until parsing catches up, so what waits to be parsed is bounded like the suffix.
   */
  readonly maxRecordsInParse: number;
}

/** Stand-in until the composition root provides the real consumer of the user's source. */
const sourceConsumerPlaceholder = fromCallback<SourceCommand, SourceConsumerInput>(() => {
  throw new Error('cohort replicator: the sourceConsumer actor was not provided');
});

export const cohortReplicatorMachine = setup({
  types: {
    input: {} as CohortReplicatorInput,
    context: {} as CohortReplicatorContext,
    events: {} as CohortReplicatorEvent,
    output: {} as CohortReplicatorOutput,
  },
  actors: {
    sourceConsumer: sourceConsumerPlaceholder,
    replicatorService: replicatorServiceMachine,
    statemapQueue: statemapQueueMachine,
  },
  guards: {
    failedWithError: ({ context }) => context.error !== null,
  },
  actions: {
    /** Hooks for logs and metrics; the composition root provides them. */
    reportCommitFailed: (_, _params: { version: Version; error: unknown }) => {},
    reportCloseFailed: (_, _params: { error: unknown }) => {},
    reportStateChange: (_, _params: { state: string }) => {},

    startPipeline: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'QUEUE.READY') return;
      enqueue.assign({ snapshot: event.snapshot, persisted: event.snapshot, committed: event.snapshot });
      enqueue.sendTo('replicator', { type: 'START', snapshot: event.snapshot } satisfies ReplicatorServiceEvent);
      enqueue.sendTo('source', { type: 'START', from: event.snapshot + 1 } satisfies SourceCommand);
    }),
    forwardRecords: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'SOURCE.RECORDS') enqueue.sendTo('replicator', { type: 'RECORDS', batch: event.batch } satisfies ReplicatorServiceEvent);
    }),
    forwardStatemaps: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'REPLICATOR.STATEMAPS') enqueue.sendTo('queue', { type: 'STATEMAPS', entries: event.entries } satisfies StatemapQueueEvent);
    }),
    forwardProgress: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'QUEUE.PROGRESS') return;
      enqueue.assign({ snapshot: event.snapshot });
      enqueue.sendTo('replicator', { type: 'INSTALLED_UP_TO', snapshot: event.snapshot } satisfies ReplicatorServiceEvent);
    }),
    forwardPersisted: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'QUEUE.PERSISTED') return;
      enqueue.assign({ persisted: event.version });
      enqueue.sendTo('replicator', { type: 'SNAPSHOT_PERSISTED', version: event.version } satisfies ReplicatorServiceEvent);
    }),
    forwardCommit: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'REPLICATOR.COMMIT') enqueue.sendTo('source', { type: 'COMMIT', version: event.version } satisfies SourceCommand);
    }),
    recordCommitted: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'SOURCE.COMMITTED') return;
      enqueue.assign({ committed: event.version });
      enqueue.sendTo('replicator', { type: 'OFFSET_COMMITTED', version: event.version } satisfies ReplicatorServiceEvent);
    }),
    pauseSource: enqueueActions(({ enqueue }) => enqueue.sendTo('source', { type: 'PAUSE' } satisfies SourceCommand)),
    resumeSource: enqueueActions(({ enqueue }) => enqueue.sendTo('source', { type: 'RESUME' } satisfies SourceCommand)),
    throttleSource: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'REPLICATOR.THROTTLE') enqueue.sendTo('source', { type: 'THROTTLE', delayMs: event.delayMs } satisfies SourceCommand);
    }),
    passOnSourceEnd: enqueueActions(({ enqueue }) => {
      enqueue.assign({ sourceEnded: true });
      enqueue.sendTo('replicator', { type: 'UPSTREAM_ENDED' } satisfies ReplicatorServiceEvent);
    }),
    passOnUpstreamEnd: enqueueActions(({ enqueue }) => enqueue.sendTo('queue', { type: 'UPSTREAM_ENDED' } satisfies StatemapQueueEvent)),
    refreshSnapshot: enqueueActions(({ enqueue }) => enqueue.sendTo('queue', { type: 'REFRESH_SNAPSHOT' } satisfies StatemapQueueEvent)),
    recordSourceFailure: assign({ error: ({ context, event }) => context.error ?? new SourceFailedError((event as { error?: unknown }).error) }),
    stopConsuming: enqueueActions(({ enqueue }) => {
      enqueue.sendTo('source', { type: 'STOP' } satisfies SourceCommand);
      enqueue.sendTo('queue', { type: 'DRAIN' } satisfies StatemapQueueEvent);
    }),
    recordQueueOutcome: assign(({ context, event }) => {
      const output = (event as DoneActorEvent<StatemapQueueOutput>).output;
      const failure = output.failure;
      return {
        snapshot: output.snapshot,
        persisted: output.persisted,
        error: context.error ?? (failure ? new InstallFailedError(failure.version, failure.attempts, failure.error) : null),
      };
    }),
    closeSource: enqueueActions(({ context, enqueue }) => {
      const version = context.persisted !== null && (context.committed === null || context.persisted > context.committed) ? context.persisted : null;
      enqueue.sendTo('source', { type: 'CLOSE', version } satisfies SourceCommand);
    }),
  },
}).createMachine({
  id: 'cohortReplicator',
  context: ({ input }) => ({ config: input.config, snapshot: null, persisted: null, committed: null, sourceEnded: false, error: null }),
  invoke: [
    {
      id: 'queue',
      src: 'statemapQueue',
      input: ({ context }) => ({ config: context.config }),
      onDone: { target: '.closing', actions: 'recordQueueOutcome' },
    },
    { id: 'replicator', src: 'replicatorService', input: ({ context }) => ({ config: context.config }) },
    { id: 'source', src: 'sourceConsumer', input: ({ context }): SourceConsumerInput => ({ channelSize: context.config.channelSize, maxRecordsInParse: context.config.suffixCapacity }) },
  ],
  on: {
    'REPLICATOR.STATEMAPS': { actions: 'forwardStatemaps' },
    'QUEUE.PROGRESS': { actions: 'forwardProgress' },
    'QUEUE.PERSISTED': { actions: 'forwardPersisted' },
    'REPLICATOR.COMMIT': { actions: 'forwardCommit' },
    'SOURCE.COMMITTED': { actions: 'recordCommitted' },
    'SOURCE.COMMIT_FAILED': { actions: { type: 'reportCommitFailed', params: ({ event }) => ({ version: event.version, error: event.error }) } },
    'SOURCE.CLOSE_FAILED': { actions: { type: 'reportCloseFailed', params: ({ event }) => ({ error: event.error }) } },
    'REPLICATOR.UPSTREAM_ENDED': { actions: 'passOnUpstreamEnd' },
    REFRESH_SNAPSHOT: { actions: 'refreshSnapshot' },
  },
  initial: 'starting',
  states: {
    starting: {
      description: 'The queue loads the persisted snapshot; nothing is read before it is known.',
      on: {
        'QUEUE.READY': { target: 'running', actions: 'startPipeline' },
        STOP: 'stopping',
        'SOURCE.FAILED': { target: 'stopping', actions: 'recordSourceFailure' },
      },
    },
    running: {
      on: {
        'SOURCE.RECORDS': { actions: 'forwardRecords' },
        'REPLICATOR.PAUSE': { actions: 'pauseSource' },
        'REPLICATOR.RESUME': { actions: 'resumeSource' },
        'REPLICATOR.THROTTLE': { actions: 'throttleSource' },
        'SOURCE.ENDED': { actions: 'passOnSourceEnd' },
        'SOURCE.FAILED': { target: 'stopping', actions: 'recordSourceFailure' },
        STOP: 'stopping',
        /** The queue stopped on its own (an item out of attempts, or everything done after the source ended). */
        'QUEUE.DRAINING': 'stopping',
      },
    },
    stopping: {
      description: 'Reading stops; in-flight installs finish; the queue persists the last snapshot and ends.',
      entry: 'stopConsuming',
    },
    closing: {
      description: "Commits the persisted snapshot's offset and releases the source.",
      entry: 'closeSource',
      on: {
        'SOURCE.CLOSED': [{ guard: 'failedWithError', target: 'failed' }, { target: 'stopped' }],
      },
    },
    stopped: { type: 'final' },
    failed: {
      type: 'final',
      description: 'An item ran out of install attempts or the source failed; the error is in the context and the output.',
    },
  },
  output: ({ context }) => ({
    outcome: context.error ? 'failed' : 'stopped',
    snapshot: context.snapshot,
    persisted: context.persisted,
    committed: context.committed,
    error: context.error,
  }),
});

export type CohortReplicatorActor = ActorRefFrom<typeof cohortReplicatorMachine>;
