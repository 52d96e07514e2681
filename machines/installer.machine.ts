/**
 * The installer: takes install jobs from the queue, runs at most `concurrency` install calls at
 * once through the `installPool` actor (the only part that touches user code), and reports every
 * outcome back to the queue. On DRAIN it stops starting calls and gives unstarted jobs back.
 *
 * Jobs and results travel in batches: one event per batch, never one per version.
 */
import { enqueueActions, fromCallback, sendParent, setup, type ActorRefFrom } from 'xstate';
import type { DispatchedVersion, Version } from './domain.js';
import { assignIfCopied } from './editInPlace.js';
import type { SettledInstall } from './statemapQueue.js';
import { DispatchedBacklog } from './structures/dispatchedBacklog.js';

export interface InstallerInput {
  /** Install calls at once (`statemapInstallerThreadpool`). */
  readonly concurrency: number;
  /** Versions per call (1 unless the installer has `installBatch`). */
  readonly batchSize: number;
  /** How many jobs the backlog's number columns hold before they first grow (the queue passes `suffixCapacity`). */
  readonly backlogCapacity?: number;
  /** Copy the backlog before each change, so a model checker can branch from any state (tests only). */
  readonly persistentData?: boolean;
}

/**
 * What the pool receives: jobs in version order, every `batchSize` consecutive ones (the last
 * group possibly fewer) being one install call. Flat, so one version per call costs no array.
 */
export type PoolEvent = { readonly type: 'RUN'; readonly jobs: readonly DispatchedVersion[]; readonly batchSize: number };

/** How many install calls a RUN holds. */
export function callsIn(event: PoolEvent): number {
  return Math.ceil(event.jobs.length / event.batchSize);
}

/** The install calls of a RUN, each as its jobs. */
export function callsOf(event: PoolEvent): (readonly DispatchedVersion[])[] {
  const calls: (readonly DispatchedVersion[])[] = [];
  for (let start = 0; start < event.jobs.length; start += event.batchSize) calls.push(event.jobs.slice(start, start + event.batchSize));
  return calls;
}
/** What the pool reports: the outcome of every version of `calls` finished calls. */
export type PoolReport = { readonly type: 'POOL.SETTLED'; readonly calls: number; readonly outcomes: readonly SettledInstall[] };

export type InstallerEvent =
  | { readonly type: 'INSTALL'; readonly jobs: readonly DispatchedVersion[] }
  | { readonly type: 'DRAIN' }
  | PoolReport;

/** Sent to the parent (the queue). */
export type InstallerReport =
  | { readonly type: 'INSTALL_RESULTS'; readonly outcomes: readonly SettledInstall[] }
  | { readonly type: 'INSTALLS_CANCELLED'; readonly versions: readonly Version[] };

export interface InstallerContext {
  readonly concurrency: number;
  readonly batchSize: number;
  readonly running: number;
  readonly backlog: DispatchedBacklog;
  readonly persistentData: boolean;
}

/** The backlog to change in this step: the live one, or a copy in persistent mode. */
function editBacklog(context: InstallerContext): DispatchedBacklog {
  return context.persistentData ? context.backlog.clone() : context.backlog;
}

/** How many jobs the pool can take now: `batchSize` for each free call. */
function room(context: InstallerContext): number {
  return Math.max(0, context.concurrency - context.running) * context.batchSize;
}

/** Starts `jobs` (at most `room`) as install calls: counts them as running and hands them to the pool. */
function startRun(context: InstallerContext, jobs: readonly DispatchedVersion[], enqueue: { assign(values: Partial<InstallerContext>): void; sendTo(to: 'pool', event: PoolEvent): void }): void {
  const run: PoolEvent = { type: 'RUN', jobs, batchSize: context.batchSize };
  enqueue.assign({ running: context.running + callsIn(run) });
  enqueue.sendTo('pool', run);
}

/** Stand-in until the composition root provides the real pool (actors/installPool.ts). */
const installPoolPlaceholder = fromCallback<PoolEvent, { readonly batchSize: number }>(() => {
  throw new Error('installer machine: the installPool actor was not provided');
});

export const installerMachine = setup({
  types: {
    input: {} as InstallerInput,
    context: {} as InstallerContext,
    events: {} as InstallerEvent,
  },
  actors: { installPool: installPoolPlaceholder },
  actions: {
    startCalls: enqueueActions(({ context, enqueue }) => {
      if (context.running >= context.concurrency || context.backlog.length === 0) return;
      const backlog = editBacklog(context);
      const jobs = backlog.shiftMany(room(context));
      assignIfCopied(context, 'backlog', backlog, enqueue);
      startRun(context, jobs, enqueue);
    }),
    startOrQueueJobs: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'INSTALL') return;
      const { jobs } = event;
      // With nothing waiting, the jobs the pool has room for start at once, and only the rest
      // wait: the backlog keeps its versions as columns, so a job would be taken apart and made
      // again on the way through. (The backlog only holds jobs while the pool is full; should it
      // hold any with room in the pool, `startCalls`, next, starts them.)
      const free = context.backlog.length === 0 ? room(context) : 0;
      const now = jobs.length <= free ? jobs : jobs.slice(0, free);
      if (now.length < jobs.length) {
        const backlog = editBacklog(context);
        for (let i = now.length; i < jobs.length; i++) backlog.push(jobs[i]!);
        assignIfCopied(context, 'backlog', backlog, enqueue);
      }
      if (now.length > 0) startRun(context, now, enqueue);
    }),
    countSettled: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'POOL.SETTLED') return;
      enqueue.assign({ running: context.running - event.calls });
      enqueue(sendParent({ type: 'INSTALL_RESULTS', outcomes: event.outcomes } satisfies InstallerReport));
    }),
    giveBackUnstarted: enqueueActions(({ context, event, enqueue }) => {
      const backlog = editBacklog(context);
      const versions = backlog.clear();
      assignIfCopied(context, 'backlog', backlog, enqueue);
      if (event.type === 'INSTALL') versions.push(...event.jobs.map((job) => job.version));
      if (versions.length > 0) enqueue(sendParent({ type: 'INSTALLS_CANCELLED', versions } satisfies InstallerReport));
    }),
  },
}).createMachine({
  id: 'installer',
  context: ({ input }) => ({ concurrency: input.concurrency, batchSize: input.batchSize, running: 0, backlog: new DispatchedBacklog(input.backlogCapacity), persistentData: input.persistentData ?? false }),
  invoke: { id: 'pool', src: 'installPool', input: ({ context }) => ({ batchSize: context.batchSize }) },
  initial: 'accepting',
  states: {
    accepting: {
      description: 'Starts install calls while fewer than `concurrency` run; the rest wait in the backlog.',
      on: {
        INSTALL: { actions: ['startOrQueueJobs', 'startCalls'] },
        'POOL.SETTLED': { actions: ['countSettled', 'startCalls'] },
        DRAIN: { target: 'draining' },
      },
    },
    draining: {
      description: 'Lets running calls finish and reports them; hands every job not started back to the queue.',
      entry: 'giveBackUnstarted',
      on: {
        INSTALL: { actions: 'giveBackUnstarted' },
        'POOL.SETTLED': { actions: 'countSettled' },
      },
    },
  },
});

export type InstallerActor = ActorRefFrom<typeof installerMachine>;
