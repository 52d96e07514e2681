/**
 * The replicator service (Talos's `replicator_service`): keeps the suffix of candidates and
 * their decisions, and hands the queue each run of contiguous decided versions, in version
 * order, as soon as it forms. It prunes the suffix when the queue reports progress, applies
 * Talos's backpressure to the source, and asks for an offset commit only for a snapshot the
 * persister has written.
 *
 * waiting ─START─▶ running { flow ; commits: every commit interval }
 *
 * flow:  flowing ─filling─▶ slowing ─head stalled─▶ stalled ─head moved─▶ slowing
 *           ▲  ◀─below threshold─┘  └─full─▶ full ─drained─▶ flowing
 * slowing throttles the source (a wait after each batch, longer the fuller the suffix);
 * stalled and full pause it. A suffix of undecided candidates never pauses the source: only
 * reading further (their decisions) can empty it.
 */
import { enqueueActions, sendParent, setup, type ActorRefFrom } from 'xstate';
import { slowdownSize, throttleDelayMs, type BackpressureConfig } from './backpressure.js';
import type { ReplicatorConfig } from './config.js';
import type { Version } from './domain.js';
import { assignIfCopied } from './editInPlace.js';
import type { ParsedBatch, RejectedRecord } from './messages.js';
import type { QueueEntry } from './statemapQueue.js';
import { Suffix } from './suffix.js';

export type ReplicatorServiceConfig = BackpressureConfig & Pick<ReplicatorConfig, 'certifierMessageReceiverCommitFreqMs'>;

export interface ReplicatorServiceInput {
  readonly config: ReplicatorServiceConfig;
  readonly persistentData?: boolean;
}

export type ReplicatorServiceEvent =
  /** The snapshot is known: the suffix starts right above it. */
  | { readonly type: 'START'; readonly snapshot: Version }
  | { readonly type: 'RECORDS'; readonly batch: ParsedBatch }
  /** Everything at or below `snapshot` is installed. */
  | { readonly type: 'INSTALLED_UP_TO'; readonly snapshot: Version }
  | { readonly type: 'SNAPSHOT_PERSISTED'; readonly version: Version }
  /** The source confirmed a commit; until then the commit is asked for again on every interval. */
  | { readonly type: 'OFFSET_COMMITTED'; readonly version: Version }
  | { readonly type: 'UPSTREAM_ENDED' };

/** Sent to the parent, which routes them. */
export type ReplicatorServiceReport =
  | { readonly type: 'REPLICATOR.STATEMAPS'; readonly entries: readonly QueueEntry[] }
  | { readonly type: 'REPLICATOR.COMMIT'; readonly version: Version }
  | { readonly type: 'REPLICATOR.PAUSE' }
  | { readonly type: 'REPLICATOR.RESUME' }
  /** Wait this long after each batch before reading the next (0: read at full speed). */
  | { readonly type: 'REPLICATOR.THROTTLE'; readonly delayMs: number }
  /** Sent after the last STATEMAPS, so the queue sees it after every version. */
  | { readonly type: 'REPLICATOR.UPSTREAM_ENDED' };

export interface ReplicatorServiceContext {
  readonly config: ReplicatorServiceConfig;
  readonly persistentData: boolean;
  readonly suffix: Suffix | null;
  readonly persisted: Version | null;
  readonly committed: Version | null;
  readonly rejectedRecords: number;
  /** The wait after each batch the source was last told (0: none). */
  readonly throttleMs: number;
  /** The suffix head when the current stall watch (slowing) or critical stop (stalled) began. */
  readonly watchedHead: Version;
}

function editSuffix(context: ReplicatorServiceContext): Suffix {
  return context.persistentData ? context.suffix!.clone() : context.suffix!;
}

export const replicatorServiceMachine = setup({
  types: {
    input: {} as ReplicatorServiceInput,
    context: {} as ReplicatorServiceContext,
    events: {} as ReplicatorServiceEvent,
  },
  guards: {
    /**
     * Full, and some of it only waits for installs. A suffix full of undecided candidates is never
     * paused: only reading further (their decisions) can empty it.
     */
    suffixFull: ({ context }) => {
      const suffix = context.suffix;
      return suffix !== null && suffix.size >= context.config.suffixCapacity && suffix.head < suffix.nextToSend;
    },
    suffixDrained: ({ context }) => {
      const suffix = context.suffix;
      return suffix !== null && (suffix.size < context.config.suffixCapacity * context.config.suffixResumeRatio || suffix.head >= suffix.nextToSend);
    },
    suffixFilling: ({ context }) => context.suffix !== null && context.suffix.size >= slowdownSize(context.config),
    belowSlowdown: ({ context }) => context.suffix !== null && context.suffix.size < slowdownSize(context.config),
    /** Nothing got installed since the watch began, although versions wait for installs. */
    headStalled: ({ context }) => {
      const suffix = context.suffix;
      return suffix !== null && suffix.head === context.watchedHead && suffix.head < suffix.nextToSend;
    },
    headMoved: ({ context }) => context.suffix !== null && (context.suffix.head !== context.watchedHead || context.suffix.head >= context.suffix.nextToSend),
  },
  actions: {
    /** Hook for logs and metrics; the composition root provides it. */
    reportRejected: (_, _params: { rejects: readonly RejectedRecord[] }) => {},

    startSuffix: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'START') return;
      enqueue.assign({ suffix: new Suffix(event.snapshot, context.config.suffixCapacity), persisted: event.snapshot, committed: event.snapshot });
    }),
    ingest: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'RECORDS') return;
      const suffix = editSuffix(context);
      const { messages, rejects, lastOffset } = event.batch;
      let unknown: RejectedRecord[] | null = null;
      for (const message of messages) {
        if (message.kind === 'candidate') {
          suffix.addCandidate(message);
        } else {
          const result = suffix.decide(message);
          if (result.kind === 'unknown') (unknown ??= []).push({ offset: message.decisionVersion, origin: event.batch.origin ?? null, reason: result.reason });
        }
      }
      if (lastOffset !== null) suffix.noteOffset(lastOffset);
      const entries = suffix.takeReadyRun();
      assignIfCopied(context, 'suffix', suffix, enqueue);
      if (entries.length > 0) enqueue(sendParent({ type: 'REPLICATOR.STATEMAPS', entries } satisfies ReplicatorServiceReport));
      const allRejects = unknown ? [...rejects, ...unknown] : rejects;
      if (allRejects.length > 0) {
        enqueue.assign({ rejectedRecords: context.rejectedRecords + allRejects.length });
        enqueue({ type: 'reportRejected', params: { rejects: allRejects } } as never);
      }
    }),
    prune: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'INSTALLED_UP_TO') return;
      const suffix = editSuffix(context);
      suffix.prune(event.snapshot);
      assignIfCopied(context, 'suffix', suffix, enqueue);
    }),
    recordPersisted: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SNAPSHOT_PERSISTED') return;
      if (context.persisted === null || event.version > context.persisted) enqueue.assign({ persisted: event.version });
    }),
    /** Only a persisted snapshot is ever committed, so a restart resumes at or below what is installed. */
    commitPersisted: enqueueActions(({ context, enqueue }) => {
      const { persisted, committed } = context;
      if (persisted === null || (committed !== null && persisted <= committed)) return;
      enqueue(sendParent({ type: 'REPLICATOR.COMMIT', version: persisted } satisfies ReplicatorServiceReport));
    }),
    recordCommitted: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'OFFSET_COMMITTED') return;
      if (context.committed === null || event.version > context.committed) enqueue.assign({ committed: event.version });
    }),
    watchHead: enqueueActions(({ context, enqueue }) => {
      if (context.suffix) enqueue.assign({ watchedHead: context.suffix.head });
    }),
    /** Tells the source the wait for the current fill, when it changed. */
    adjustThrottle: enqueueActions(({ context, enqueue }) => {
      const delayMs = context.suffix ? throttleDelayMs(context.config, context.suffix.size) : 0;
      if (delayMs === context.throttleMs) return;
      enqueue.assign({ throttleMs: delayMs });
      enqueue(sendParent({ type: 'REPLICATOR.THROTTLE', delayMs } satisfies ReplicatorServiceReport));
    }),
    unthrottle: enqueueActions(({ context, enqueue }) => {
      if (context.throttleMs === 0) return;
      enqueue.assign({ throttleMs: 0 });
      enqueue(sendParent({ type: 'REPLICATOR.THROTTLE', delayMs: 0 } satisfies ReplicatorServiceReport));
    }),
    pauseSource: sendParent({ type: 'REPLICATOR.PAUSE' } satisfies ReplicatorServiceReport),
    resumeSource: sendParent({ type: 'REPLICATOR.RESUME' } satisfies ReplicatorServiceReport),
    passOnEnd: sendParent({ type: 'REPLICATOR.UPSTREAM_ENDED' } satisfies ReplicatorServiceReport),
  },
  delays: {
    commitInterval: ({ context }) => context.config.certifierMessageReceiverCommitFreqMs,
    stallWindow: ({ context }) => context.config.backpressureStallMs,
  },
}).createMachine({
  id: 'replicatorService',
  context: ({ input }) => ({
    config: input.config,
    persistentData: input.persistentData ?? false,
    suffix: null,
    persisted: null,
    committed: null,
    rejectedRecords: 0,
    throttleMs: 0,
    watchedHead: 0,
  }),
  initial: 'waiting',
  states: {
    waiting: {
      description: 'Until the queue has loaded the snapshot, the suffix has no head.',
      on: { START: { target: 'running', actions: 'startSuffix' } },
    },
    running: {
      type: 'parallel',
      on: {
        RECORDS: { actions: 'ingest' },
        INSTALLED_UP_TO: { actions: 'prune' },
        SNAPSHOT_PERSISTED: { actions: 'recordPersisted' },
        OFFSET_COMMITTED: { actions: 'recordCommitted' },
        UPSTREAM_ENDED: { actions: 'passOnEnd' },
      },
      states: {
        flow: {
          initial: 'flowing',
          states: {
            flowing: {
              always: [
                { guard: 'suffixFull', target: 'full' },
                { guard: 'suffixFilling', target: 'slowing' },
              ],
            },
            slowing: {
              description: 'The suffix is above the fill threshold: the source waits after each batch, longer the fuller the suffix.',
              entry: ['watchHead', 'adjustThrottle'],
              on: {
                RECORDS: { actions: ['ingest', 'adjustThrottle'] },
                INSTALLED_UP_TO: { actions: ['prune', 'adjustThrottle'] },
              },
              always: [
                { guard: 'suffixFull', target: 'full' },
                { guard: 'belowSlowdown', target: 'flowing', actions: 'unthrottle' },
              ],
              after: {
                stallWindow: [
                  { guard: 'headStalled', target: 'stalled' },
                  { target: 'slowing', reenter: true },
                ],
              },
            },
            stalled: {
              description: 'Critical stop: the suffix head did not move for backpressureStallMs while versions wait for installs; the source is paused until it moves.',
              entry: ['watchHead', 'pauseSource'],
              exit: 'resumeSource',
              always: { guard: 'headMoved', target: 'slowing' },
            },
            full: {
              description: 'The suffix holds suffixCapacity candidates, some waiting for installs; the source is paused until it drains.',
              entry: 'pauseSource',
              exit: 'resumeSource',
              always: { guard: 'suffixDrained', target: 'flowing', actions: 'unthrottle' },
            },
          },
        },
        commits: {
          initial: 'waiting',
          states: {
            waiting: {
              after: { commitInterval: { target: 'waiting', reenter: true, actions: 'commitPersisted' } },
            },
          },
        },
      },
    },
  },
});

export type ReplicatorServiceActor = ActorRefFrom<typeof replicatorServiceMachine>;
