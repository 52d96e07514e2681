/**
 * Runs install calls against the user's installer and reports their outcomes to the installer
 * machine, which decides how many run at once. Outcomes that settle together are reported in
 * one event (flushed on a microtask), so a fast installer costs one event per round, not one per
 * version.
 */
import { fromCallback } from 'xstate';
import type { InstallJob, Installer } from '../machines/domain.js';
import type { PoolEvent, PoolReport } from '../machines/installer.machine.js';
import type { SettledInstall } from '../machines/statemapQueue.js';

export function createInstallPool(installer: Installer) {
  const installBatch = installer.installBatch?.bind(installer);

  function call(jobs: readonly InstallJob[]): Promise<void> {
    try {
      if (jobs.length === 1) return Promise.resolve(installer.install(jobs[0]!.statemaps, jobs[0]!.version));
      // A batch must be atomic (all applied or none), since its outcome counts for every version in it.
      if (!installBatch) throw new Error(`installer has no installBatch, but was handed ${jobs.length} versions in one call`);
      return Promise.resolve(installBatch(jobs));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  return fromCallback<PoolEvent, { readonly batchSize: number }>(({ sendBack, receive }) => {
    let outcomes: SettledInstall[] = [];
    let calls = 0;
    let flushScheduled = false;
    let stopped = false;

    const flush = () => {
      flushScheduled = false;
      if (stopped || calls === 0) return;
      const report: PoolReport = { type: 'POOL.SETTLED', calls, outcomes };
      outcomes = [];
      calls = 0;
      sendBack(report);
    };

    const settle = (jobs: readonly InstallJob[], error: unknown, failed: boolean) => {
      for (const job of jobs) outcomes.push(failed ? { version: job.version, ok: false, error } : { version: job.version, ok: true });
      calls += 1;
      if (!flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flush);
      }
    };

    receive((event) => {
      for (const jobs of event.calls) {
        call(jobs).then(
          () => settle(jobs, undefined, false),
          (error: unknown) => settle(jobs, error, true),
        );
      }
    });

    return () => {
      stopped = true;
    };
  });
}
