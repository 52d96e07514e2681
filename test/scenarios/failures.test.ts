/** Failing user callbacks: installs that never succeed, snapshot writes and reads that fail for a while. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { waitFor } from 'xstate';
import { createCohortReplicator, InstallFailedError, SourceFailedError, type MessageSource, type RawRecord } from '../../index.js';
import { candidateRecord, decisionRecord } from '../support/records.js';
import { gate, MemoryCohort, recordingLogger } from '../support/memoryCohort.js';
import { fastConfig, finished, replicate, settle, start, until } from '../support/scenario.js';

const set = (key: string, value: number) => [{ SET: { key, value } }];

test('an install that always fails, with maxInstallAttempts 3, ends the replicator in "failed" with an error naming the version; nothing passes it', { timeout: 30_000 }, async () => {
  const logger = recordingLogger();
  const { cohort, run, output } = await replicate(
    [
      candidateRecord(1, set('a', 1)),
      decisionRecord(2, 1, { safepoint: 0 }),
      candidateRecord(3, set('b', 3)), // always fails
      decisionRecord(4, 3, { safepoint: 0 }),
      candidateRecord(5, set('c', 5)), // independent of 3: may be installed, but the snapshot must not pass 3
      decisionRecord(6, 5, { safepoint: 0 }),
      candidateRecord(7, set('b', 7)), // depends on 3: never installed
      decisionRecord(8, 7, { safepoint: 3 }),
    ],
    {
      logger,
      config: { maxInstallAttempts: 3 },
      cohort: { installOutcome: ({ version }) => (version === 3 ? 'fail' : 'ok') },
    },
  );
  assert.equal(output.outcome, 'failed');
  assert.equal(run.actor.getSnapshot().value, 'failed');
  assert.ok(output.error instanceof InstallFailedError, `error is an InstallFailedError: ${String(output.error)}`);
  assert.equal(output.error.version, 3);
  assert.equal(output.error.attempts, 3);
  assert.match(output.error.message, /version 3\b/);
  assert.equal(cohort.callsOf(3).length, 3, 'exactly maxInstallAttempts calls');
  assert.equal(cohort.callsOf(7).length, 0, 'version 7 waits for 3 (its safepoint) and is never installed');
  assert.ok(output.snapshot !== null && output.snapshot < 3, `the in-memory snapshot stays below 3 (is ${output.snapshot})`);
  assert.ok(cohort.persisted < 3, `the persisted snapshot stays below 3 (is ${cohort.persisted})`);
  assert.ok(run.observations.every((o) => o.snapshot === null || o.snapshot < 3), 'no observed snapshot passes 3');
  assert.ok(run.source.commits.every((version) => version < 3), `no commit passes 3: ${run.source.commits.join(', ')}`);
  assert.ok(cohort.snapshotWrites.every((write) => write.version < 3));
  assert.equal(output.snapshot, 1, 'everything below the failed version is installed and covered');
  assert.equal(cohort.persisted, 1);
  assert.ok(run.source.closed, 'the source is released');
  assert.ok(logger.lines.some((line) => line.level === 'error' && /version 3\b/.test(line.message)), 'the give-up is logged as an error naming the version');
  assert.equal(logger.lines.filter((line) => line.level === 'warn' && /install of version 3 failed/.test(line.message)).length, 2, 'each retry is logged');
});

test('updateSnapshot failing a few times then succeeding: retried until the snapshot is persisted and committed', { timeout: 30_000 }, async () => {
  const logger = recordingLogger();
  const { cohort, run, output } = await replicate(
    [candidateRecord(1, set('a', 1)), decisionRecord(2, 1, { safepoint: 0 }), candidateRecord(3, set('a', 3)), decisionRecord(4, 3, { safepoint: 1 })],
    { logger, cohort: { updateSnapshotFails: (call) => call <= 3 } },
  );
  assert.equal(output.outcome, 'stopped');
  assert.equal(output.error, null);
  assert.deepEqual(cohort.snapshotWrites.slice(0, 3).map((write) => write.outcome), ['failed', 'failed', 'failed']);
  assert.equal(cohort.snapshotWrites.at(-1)!.outcome, 'ok');
  assert.equal(cohort.persisted, 3);
  assert.equal(output.persisted, 3);
  assert.equal(run.source.commits.at(-1), 3);
  for (const commit of run.commits) assert.ok(commit.version <= commit.persistedAtCommit, `commit ${commit.version} waited for the write`);
  assert.ok(logger.lines.filter((line) => /updateSnapshot\(\d+\) failed/.test(line.message)).length >= 3, 'each failed write is logged');
});

test('getSnapshot failing at start then succeeding: nothing is read or installed before the snapshot is known', { timeout: 30_000 }, async () => {
  const logger = recordingLogger();
  const { cohort, output } = await replicate(
    [candidateRecord(1, set('a', 1)), decisionRecord(2, 1, { safepoint: 0 }), candidateRecord(3, set('a', 3)), decisionRecord(4, 3, { safepoint: 1 }), candidateRecord(5, set('a', 5)), decisionRecord(6, 5, { safepoint: 3 })],
    { logger, cohort: { initialSnapshot: 3, initialRows: new Map([['a', { value: 3, version: 3 }]]), getSnapshotFails: (call) => call <= 2 } },
  );
  assert.equal(output.outcome, 'stopped');
  assert.deepEqual(cohort.snapshotReads.map((read) => read.ok), [false, false, true]);
  const loadedAt = cohort.snapshotReads[2]!.seq;
  assert.ok(cohort.installCalls.every((call) => call.seq > loadedAt));
  assert.deepEqual(cohort.calledVersions, [5], 'versions up to the loaded snapshot (3) are not installed again');
  assert.equal(cohort.rows.get('a')?.value, 5);
  assert.equal(output.snapshot, 5);
  assert.equal(cohort.persisted, 5);
  assert.equal(logger.lines.filter((line) => /getSnapshot failed/.test(line.message)).length, 2);
});

test('installs failing transiently (maxInstallAttempts unlimited): retried with backoff until they succeed, each applied once', { timeout: 30_000 }, async () => {
  const { cohort, output } = await replicate(
    [candidateRecord(1, [{ ADD: { key: 'n', amount: 1 } }]), decisionRecord(2, 1, { safepoint: 0 }), candidateRecord(3, [{ ADD: { key: 'n', amount: 2 } }]), decisionRecord(4, 3, { safepoint: 1 })],
    // Version 1: fails twice; version 3: its first success is not acknowledged (applied, reported failed).
    { cohort: { installOutcome: ({ version, attempt }) => (version === 1 && attempt <= 2 ? 'fail' : version === 3 && attempt === 1 ? 'ambiguous' : 'ok') } },
  );
  assert.equal(output.outcome, 'stopped');
  assert.deepEqual(cohort.calledVersions, [1, 1, 1, 3, 3]);
  assert.equal(cohort.rows.get('n')?.value, 3, 'the retried ambiguous install is a no-op under the version guard');
  assert.equal(output.snapshot, 3);
});

test('the source failing mid-run ends the replicator in "failed" with a SourceFailedError, after in-flight installs finish and the snapshot is persisted and committed', { timeout: 30_000 }, async (t) => {
  const hold = gate();
  const cohort = new MemoryCohort({ installGate: (version) => (version === 3 ? hold.promise : undefined) });
  const { run, installer, snapshotStore, source } = cohort.openRun();
  const subject = new Subject<readonly RawRecord[]>();
  const failing: MessageSource = { ...source, batches: subject };
  const actor = createCohortReplicator({ source: failing, installer, snapshotStore, logger: recordingLogger(), config: fastConfig });
  t.after(() => actor.stop());
  actor.start();
  await until(() => subject.observed, 'the replicator subscribed to the source');
  subject.next([candidateRecord(1, set('a', 1)), decisionRecord(2, 1, { safepoint: 0 }), candidateRecord(3, set('b', 3)), decisionRecord(4, 3, { safepoint: 0 })]);
  await until(() => cohort.completedAt.has(1) && cohort.installCalls.some((call) => call.version === 3), 'version 1 installed, version 3 in flight');
  subject.error(new Error('broker connection lost'));
  await settle();
  assert.equal(actor.getSnapshot().status, 'active', 'waits for the install in flight');
  hold.open();
  const done = await waitFor(actor, (s) => s.status === 'done', { timeout: 5000 });
  assert.equal(done.value, 'failed');
  const output = done.output!;
  assert.equal(output.outcome, 'failed');
  assert.ok(output.error instanceof SourceFailedError, String(output.error));
  assert.match(output.error.message, /broker connection lost/);
  assert.deepEqual(cohort.installCalls.map((call) => [call.version, call.outcome]), [[1, 'ok'], [3, 'ok']], 'the install in flight completed');
  assert.equal(output.snapshot, 3);
  assert.equal(cohort.persisted, 3);
  assert.equal(run.source.commits.at(-1), 3, 'the persisted snapshot is committed on the way out');
});

test('offset commits failing are asked for again until one succeeds; no commit is ever above the persisted snapshot', { timeout: 30_000 }, async () => {
  const logger = recordingLogger();
  let attempts = 0;
  const { cohort, run } = start(
    [candidateRecord(1, set('a', 1)), decisionRecord(2, 1, { safepoint: 0 }), candidateRecord(3, set('a', 3)), decisionRecord(4, 3, { safepoint: 1 })],
    { logger, end: false, cohort: { commitFails: () => ++attempts <= 3 } },
  );
  await until(() => run.commits.some((commit) => commit.ok && commit.version === 3), 'offset 3 is committed');
  run.source.end();
  const output = await finished(run);
  assert.equal(output.outcome, 'stopped');
  assert.equal(output.committed, 3);
  assert.deepEqual(run.commits.slice(0, 3).map((commit) => commit.ok), [false, false, false]);
  assert.ok(run.commits.some((commit) => commit.ok), 'a later attempt succeeded');
  for (const commit of run.commits) assert.ok(commit.version <= commit.persistedAtCommit);
  assert.equal(cohort.persisted, 3);
  assert.ok(logger.lines.filter((line) => /offset commit for version \d+ failed/.test(line.message)).length >= 3, 'each failed commit is logged');
});

test('close() failing is logged, and the replicator still ends stopped', { timeout: 30_000 }, async (t) => {
  const cohort = new MemoryCohort();
  const { run, installer, snapshotStore, source } = cohort.openRun();
  const logger = recordingLogger();
  const actor = createCohortReplicator({ source: { ...source, close: async () => Promise.reject(new Error('leave group failed')) }, installer, snapshotStore, logger, config: fastConfig });
  t.after(() => actor.stop());
  actor.start();
  run.source.push([candidateRecord(1, set('a', 1)), decisionRecord(2, 1, { safepoint: 0 })]);
  run.source.end();
  const done = await waitFor(actor, (s) => s.status === 'done', { timeout: 5000 });
  assert.equal(done.value, 'stopped');
  assert.equal(done.output?.error, null);
  assert.equal(cohort.persisted, 1);
  assert.ok(logger.lines.some((line) => /leave group failed/.test(line.message) || /leave group failed/.test(JSON.stringify(line.meta ?? {}))), 'the close failure is logged');
});

test('a final offset commit that fails at close is logged, and the output reports the last confirmed commit', { timeout: 30_000 }, async () => {
  // The close makes one attempt (redelivery of what follows the committed offset is harmless).
  const logger = recordingLogger();
  const { cohort, run, output } = await replicate([candidateRecord(1, set('a', 1)), decisionRecord(2, 1, { safepoint: 0 })], {
    logger,
    config: { certifierMessageReceiverCommitFreqMs: 60_000 },
    cohort: { commitFails: () => true },
  });
  assert.equal(output.outcome, 'stopped');
  assert.equal(cohort.persisted, 1);
  assert.deepEqual(run.commits.map((commit) => [commit.version, commit.ok]), [[1, false]]);
  assert.equal(output.committed, 0, 'the output does not claim a commit that failed');
  assert.ok(logger.lines.some((line) => /offset commit for version 1 failed/.test(line.message)));
});
