/**
 * Failover between replicator processes of one cohort. The certification log can be read by one
 * member of a group at a time (Kafka: one partition, one consumer group). A process stands by
 * until it owns the log; while it owns it, a cohort replicator runs; when ownership moves away
 * the replicator stops as on STOP (in-flight installs finish, the snapshot is persisted) before
 * this process may start a new one, which re-reads the snapshot, so two turns never overlap.
 *
 *   standby ─owned─▶ owning { replicating ─lost─▶ handingOver } ─replicator done─▶ standby
 *      │                 └─STOP─▶ stopping ─done─▶ leaving ─left─▶ stopped
 *      └─STOP────────────────────────────────────▶ leaving
 *   a replicator that fails, or a fatal source error, ends in `failed` (after leaving the group).
 */
import { assign, enqueueActions, fromCallback, setup, stateIn, type ActorRefFrom, type DoneActorEvent } from 'xstate';
import type { ReplicatorConfig } from './config.js';
import { cohortReplicatorMachine, type CohortReplicatorOutput } from './cohortReplicator.machine.js';

export interface FailoverInput {
  readonly config: ReplicatorConfig;
}

/** What the membership actor (actors/membership.ts) reports. */
export type MembershipReport =
  | { readonly type: 'MEMBERSHIP.OWNED' }
  | { readonly type: 'MEMBERSHIP.LOST'; readonly reason: string }
  | { readonly type: 'MEMBERSHIP.FATAL'; readonly error: Error }
  | { readonly type: 'MEMBERSHIP.LEFT' };

/** What the membership actor accepts. */
export type MembershipCommand = { readonly type: 'LEAVE' };

export type FailoverEvent = { readonly type: 'STOP' } | MembershipReport | DoneActorEvent<CohortReplicatorOutput, 'replicator'>;

export interface FailoverContext {
  readonly config: ReplicatorConfig;
  /** Whether this process owns the log right now (it may still be handing over the last turn). */
  readonly owned: boolean;
  /** Turns of ownership that ran a replicator. */
  readonly turns: number;
  readonly lastTurn: CohortReplicatorOutput | null;
  readonly error: Error | null;
}

export interface FailoverOutput {
  readonly outcome: 'stopped' | 'failed';
  readonly turns: number;
  readonly lastTurn: CohortReplicatorOutput | null;
  readonly error: Error | null;
}

/** Stand-in until the composition root provides the real membership of the user's log. */
const membershipPlaceholder = fromCallback<MembershipCommand>(() => {
  throw new Error('failover: the membership actor was not provided');
});

export const failoverMachine = setup({
  types: {
    input: {} as FailoverInput,
    context: {} as FailoverContext,
    events: {} as FailoverEvent,
    output: {} as FailoverOutput,
  },
  actors: {
    membership: membershipPlaceholder,
    /** A cohort replicator reading the log for one turn of ownership (provided with the effects). */
    replicator: cohortReplicatorMachine,
  },
  guards: {
    owned: ({ context }) => context.owned,
    turnFailed: ({ event }) => (event as DoneActorEvent<CohortReplicatorOutput>).output?.outcome === 'failed',
    hasError: ({ context }) => context.error !== null,
    stopRequested: stateIn('#failover.owning.stopping'),
  },
  actions: {
    /** Hooks for logs; the composition root provides them. */
    reportTurnStarted: (_, _params: { turn: number }) => {},
    reportTurnEnded: (_, _params: { turn: number; output: CohortReplicatorOutput }) => {},
    markOwned: assign({ owned: true }),
    markLost: assign({ owned: false }),
    recordFatal: assign({ error: ({ context, event }) => context.error ?? (event as { error: Error }).error }),
    startTurn: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ turns: context.turns + 1 });
      enqueue({ type: 'reportTurnStarted', params: { turn: context.turns + 1 } } as never);
    }),
    recordTurn: enqueueActions(({ context, event, enqueue }) => {
      const output = (event as DoneActorEvent<CohortReplicatorOutput>).output;
      enqueue.assign({ lastTurn: output, error: context.error ?? (output.outcome === 'failed' ? output.error : null) });
      enqueue({ type: 'reportTurnEnded', params: { turn: context.turns, output } } as never);
    }),
    stopReplicator: enqueueActions(({ enqueue }) => enqueue.sendTo('replicator', { type: 'STOP' })),
    leave: enqueueActions(({ enqueue }) => enqueue.sendTo('membership', { type: 'LEAVE' } satisfies MembershipCommand)),
  },
}).createMachine({
  id: 'failover',
  context: ({ input }) => ({ config: input.config, owned: false, turns: 0, lastTurn: null, error: null }),
  invoke: { id: 'membership', src: 'membership' },
  on: {
    'MEMBERSHIP.OWNED': { actions: 'markOwned' },
    'MEMBERSHIP.LOST': { actions: 'markLost' },
    // Wherever it arrives (stopping, leaving), a fatal error decides the outcome.
    'MEMBERSHIP.FATAL': { actions: 'recordFatal' },
  },
  initial: 'standby',
  states: {
    standby: {
      description: 'Another member owns the log (or nobody yet); this process waits, ready to take over.',
      always: { guard: 'owned', target: 'owning' },
      on: {
        STOP: 'leaving',
        'MEMBERSHIP.FATAL': { target: 'leaving', actions: 'recordFatal' },
      },
    },
    owning: {
      description: 'One turn: a cohort replicator reads the log from the committed offset, after re-reading the snapshot.',
      entry: 'startTurn',
      invoke: {
        id: 'replicator',
        src: 'replicator',
        input: ({ context }) => ({ config: context.config }),
        onDone: [
          { guard: 'turnFailed', target: 'leaving', actions: 'recordTurn' },
          { guard: 'hasError', target: 'leaving', actions: 'recordTurn' },
          { guard: 'stopRequested', target: 'leaving', actions: 'recordTurn' },
          { target: 'standby', actions: 'recordTurn' },
        ],
      },
      initial: 'replicating',
      states: {
        replicating: {
          on: {
            'MEMBERSHIP.LOST': { target: 'handingOver', actions: 'markLost' },
            STOP: 'stopping',
            'MEMBERSHIP.FATAL': { target: 'stopping', actions: 'recordFatal' },
          },
        },
        handingOver: {
          description: 'Ownership moved: the replicator finishes in-flight installs and persists its snapshot; what it cannot commit, the next owner reads again.',
          entry: 'stopReplicator',
          on: {
            STOP: 'stopping',
            'MEMBERSHIP.FATAL': { target: 'stopping', actions: 'recordFatal' },
          },
        },
        stopping: {
          entry: 'stopReplicator',
        },
      },
    },
    leaving: {
      description: 'Leaves the group so another member takes over at once.',
      entry: 'leave',
      on: {
        'MEMBERSHIP.LEFT': [
          { guard: 'hasError', target: 'failed', actions: 'markLost' },
          { target: 'stopped', actions: 'markLost' },
        ],
      },
    },
    stopped: { type: 'final' },
    failed: { type: 'final', description: 'A turn failed (an install out of attempts) or the log cannot be read at all.' },
  },
  output: ({ context }) => ({ outcome: context.error ? 'failed' : 'stopped', turns: context.turns, lastTurn: context.lastTurn, error: context.error }),
});

export type FailoverActor = ActorRefFrom<typeof failoverMachine>;
