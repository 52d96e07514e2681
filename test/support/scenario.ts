/** Small helpers for scenario tests of the whole pipeline over a MemoryCohort. */
import assert from 'node:assert/strict';
import type { RawRecord, ReplicatorConfigInput, Version } from '../../index.js';
import { MemoryCohort, type CohortRun, type MemoryCohortOptions, type ReplicatorOutput, type StartRunOptions } from './memoryCohort.js';

/** Timers short enough that a scenario finishes in milliseconds. */
export const fastConfig: ReplicatorConfigInput = {
  statemapQueueCleanupFreqMs: 2,
  certifierMessageReceiverCommitFreqMs: 2,
  installRetry: { initialDelayMs: 1, maxDelayMs: 5 },
  snapshotRetry: { initialDelayMs: 1, maxDelayMs: 5 },
};

export interface ReplicateOptions extends Omit<StartRunOptions, 'records' | 'config'> {
  readonly cohort?: MemoryCohort | MemoryCohortOptions;
  readonly config?: ReplicatorConfigInput;
}

/** Starts one replicator over `records` (ended unless `end: false`). */
export function start(records: readonly RawRecord[], options: ReplicateOptions = {}): { cohort: MemoryCohort; run: CohortRun } {
  const cohort = options.cohort instanceof MemoryCohort ? options.cohort : new MemoryCohort(options.cohort ?? {});
  const run = cohort.startRun({ ...options, records, config: { ...fastConfig, ...options.config } });
  return { cohort, run };
}

/** Runs one replicator over `records` until it reaches a final state, and returns its output. */
export async function replicate(records: readonly RawRecord[], options: ReplicateOptions = {}): Promise<{ cohort: MemoryCohort; run: CohortRun; output: ReplicatorOutput }> {
  const { cohort, run } = start(records, options);
  const output = await finished(run);
  return { cohort, run, output };
}

/** The run's output once it reached a final state; fails the test on a crash, an error or the safety timeout. */
export async function finished(run: CohortRun): Promise<ReplicatorOutput> {
  const end = await run.ended;
  if (end.kind !== 'done') assert.fail(`the replicator did not reach a final state: ${JSON.stringify(end, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`);
  return end.output;
}

/** Polls `predicate` every millisecond; fails after `timeoutMs` (a safety net, not a timed assertion). */
export async function until(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Lets pending macrotasks and short timers run (to show that something does NOT happen). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 2));
}

/** Versions install was called for, sorted and without repeats. */
export function installedVersions(cohort: MemoryCohort): Version[] {
  return [...new Set(cohort.installCalls.map((call) => call.version))].sort((a, b) => a - b);
}

/** The highest number of install calls that were running at the same time. */
export function maxConcurrentInstalls(cohort: MemoryCohort): number {
  const events: Array<[number, number]> = [];
  for (const call of cohort.installCalls) {
    events.push([call.seq, 1]);
    if (call.settledSeq !== null) events.push([call.settledSeq, -1]);
  }
  events.sort((a, b) => a[0] - b[0]);
  let running = 0;
  let max = 0;
  for (const [, delta] of events) {
    running += delta;
    max = Math.max(max, running);
  }
  return max;
}
