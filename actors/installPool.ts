/**
 * Runs install calls against the user's installer and reports their outcomes to the installer
 * machine, which decides how many run at once. Outcomes that settle together are reported in
 * one event, so the pipeline pays for an event per round of outcomes, not per version:
 *
 * - when the last running call settles, on a microtask: everything that settled in this turn
 *   goes at once (an installer that answers without I/O settles a whole round in one turn, and
 *   the pipeline must hear of it before the source delivers more);
 * - while other calls still run, after the current I/O phase (setImmediate): a database answers
 *   calls one socket at a time, and the answers that arrived together in one poll of the event
 *   loop become one report instead of one each.
 */
import { fromCallback } from 'xstate';
import { installItems, installJob, type DispatchedVersion, type Installer } from '../machines/domain.js';
import { callsIn, callsOf, type PoolEvent, type PoolReport } from '../machines/installer.machine.js';
import type { SettledInstall } from '../machines/statemapQueue.js';

export function createInstallPool(installer: Installer) {
  const installBatch = installer.installBatch?.bind(installer);

  /** One call of several versions; a batch must be atomic (all applied or none), since its outcome counts for every version in it. */
  function callBatch(jobs: readonly DispatchedVersion[]): Promise<void> {
    try {
      if (!installBatch) throw new Error(`installer has no installBatch, but was handed ${jobs.length} versions in one call`);
      return Promise.resolve(installBatch(jobs.map(installJob)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  function callOne(job: DispatchedVersion): Promise<void> {
    try {
      return Promise.resolve(installer.install(installItems(job), job.version));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  return fromCallback<PoolEvent, { readonly batchSize: number }>(({ sendBack, receive }) => {
    let outcomes: SettledInstall[] = [];
    /** Calls settled and not yet reported. */
    let calls = 0;
    /** Calls started and not yet settled. */
    let running = 0;
    let microtaskScheduled = false;
    let immediate: NodeJS.Immediate | null = null;
    let stopped = false;

    const flush = () => {
      if (immediate !== null) clearImmediate(immediate);
      immediate = null;
      if (stopped || calls === 0) return;
      const report: PoolReport = { type: 'POOL.SETTLED', calls, outcomes };
      outcomes = [];
      calls = 0;
      sendBack(report);
    };
    const flushOnMicrotask = () => {
      microtaskScheduled = false;
      flush();
    };

    const settled = () => {
      calls += 1;
      running -= 1;
      if (running === 0) {
        if (!microtaskScheduled) {
          microtaskScheduled = true;
          queueMicrotask(flushOnMicrotask);
        }
      } else if (immediate === null) {
        immediate = setImmediate(flush);
      }
    };
    const record = (job: DispatchedVersion, error: unknown, failed: boolean) => {
      outcomes.push(failed ? { version: job.version, ok: false, error } : { version: job.version, ok: true });
    };
    // One version per call (the common case) settles without an array around its job.
    const settleOne = (job: DispatchedVersion, error: unknown, failed: boolean) => {
      record(job, error, failed);
      settled();
    };
    const settleBatch = (jobs: readonly DispatchedVersion[], error: unknown, failed: boolean) => {
      for (const job of jobs) record(job, error, failed);
      settled();
    };

    receive((event) => {
      running += callsIn(event);
      if (event.batchSize === 1) {
        for (const job of event.jobs) {
          callOne(job).then(
            () => settleOne(job, undefined, false),
            (error: unknown) => settleOne(job, error, true),
          );
        }
        return;
      }
      for (const jobs of callsOf(event)) {
        (jobs.length === 1 ? callOne(jobs[0]!) : callBatch(jobs)).then(
          () => settleBatch(jobs, undefined, false),
          (error: unknown) => settleBatch(jobs, error, true),
        );
      }
    });

    return () => {
      stopped = true;
      if (immediate !== null) clearImmediate(immediate);
    };
  });
}
