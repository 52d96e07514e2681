/**
 * Property tests of the whole pipeline (createCohortReplicator + memory source + in-memory cohort):
 * random certification histories, random effects (latency, failures, lost acknowledgements, failing
 * snapshot writes), random configurations (threadpool, batch installs, channel and batch sizes),
 * crashes and graceful stops with redelivery, and snapshots raised by another process. Every history is checked
 * against every invariant of test/support/pipelineChecks.ts:
 *
 * - install is called only for versions the queue must receive (never version 0, a duplicate, a
 *   version at or below the starting snapshot, or one behind an undecided candidate), with exactly
 *   the expected statemaps (aborts and candidates without statemap: an empty list);
 * - no install call starts before every version up to its safepoint is installed;
 * - within one run, no version is install-called again after it succeeded, nor while a call for it runs;
 * - every committed statemap entry is applied exactly once across all runs (the database applies a
 *   version only to rows below it), and the rows equal the serial replay of the committed versions;
 * - the root's in-memory snapshot only rises, is always a version the queue received (or the loaded
 *   snapshot), and every version up to it is installed; persisted <= snapshot and committed <= persisted;
 * - updateSnapshot is called with rising versions, each above the store, each installed and at most
 *   the in-memory snapshot; no offset is committed above the persisted snapshot;
 * - a graceful STOP starts no install, lets the running ones finish, persists the in-memory snapshot
 *   and asks to commit it;
 * - offset commits may fail (the replicator asks again); the last one asked for is the final snapshot;
 * - at the end the replicator stops on its own, the persisted snapshot and the output equal the last
 *   version before the first undecided candidate, that offset is committed and the source closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createWorkerParser } from '../../adapters/wire/workerParser.js';
import { buildHistory, historySpecArb } from '../support/history.js';
import { runParamsArb, runPipeline } from '../support/pipelineChecks.js';

const settings = { includeErrorInReport: true, interruptAfterTimeLimit: 25_000 } as const;

test('one run: random histories with out-of-order decisions, aborts, duplicates, empty statemaps, version 0, malformed and stray records, random effects and configs', { timeout: 60_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(historySpecArb(), runParamsArb(), async (spec, params) => {
      const { violations } = await runPipeline(buildHistory(spec), params);
      assert.deepEqual(violations, []);
    }),
    { numRuns: 100, ...settings },
  );
});

test('crashes and graceful stops: a replicator stopped abruptly (or by STOP) and restarted from the committed offset or the persisted snapshot applies every version exactly once', { timeout: 60_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(historySpecArb(), runParamsArb({ crashes: true }), async (spec, params) => {
      const { violations } = await runPipeline(buildHistory(spec), params);
      assert.deepEqual(violations, []);
    }),
    { numRuns: 80, ...settings },
  );
});

test('refreshes: another process installs up to some version and raises the snapshot (REFRESH_SNAPSHOT) while the replicator runs', { timeout: 60_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(historySpecArb(), runParamsArb({ refreshes: true }), async (spec, params) => {
      const { violations } = await runPipeline(buildHistory(spec), params);
      assert.deepEqual(violations, []);
    }),
    { numRuns: 80, ...settings },
  );
});

test('backpressure: a small suffixCapacity pauses and resumes the source, never for good, without losing or reordering anything (with duplicates and crashes)', { timeout: 60_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(historySpecArb(), runParamsArb({ smallSuffix: true, crashes: true }), async (spec, params) => {
      const { violations } = await runPipeline(buildHistory(spec), params, { timeoutMs: 3000 });
      assert.deepEqual(violations, []);
    }),
    { numRuns: 100, ...settings },
  );
});

test('worker-thread parser: the same invariants hold when batches are parsed off the main thread', { timeout: 60_000 }, async (t) => {
  const parser = createWorkerParser();
  t.after(() => parser.close());
  await fc.assert(
    fc.asyncProperty(historySpecArb(), runParamsArb({ crashes: true }), async (spec, params) => {
      const { violations } = await runPipeline(buildHistory(spec), params, { parse: parser.parse });
      assert.deepEqual(violations, []);
    }),
    { numRuns: 60, ...settings },
  );
});
