/**
 * Scenarios from the reference, one per case, through the public API: how candidates and
 * decisions in the log turn into install calls, the snapshot, the persisted snapshot and commits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { candidateRecord, decisionRecord } from '../support/records.js';
import { recordingLogger } from '../support/memoryCohort.js';
import { installedVersions, replicate, settle, start, until, finished } from '../support/scenario.js';

const set = (key: string, value: number) => [{ SET: { key, value } }];

test('decisions out of order: nothing is installed until the run from the suffix head is decided, then everything in order', { timeout: 30_000 }, async () => {
  // Candidates 1, 2, 3; their decisions arrive 3, 2, 1. Each writes key k, so each waits for the one before.
  const { cohort, run } = start(
    [candidateRecord(1, set('k', 1)), candidateRecord(2, set('k', 2)), candidateRecord(3, set('k', 3)), decisionRecord(4, 3, { safepoint: 2 }), decisionRecord(5, 2, { safepoint: 1 })],
    { end: false, config: { statemapInstallerThreadpool: 50 } },
  );
  await until(() => run.source.buffered === 0, 'the first five records are read');
  await settle();
  assert.deepEqual(cohort.installCalls, [], 'versions 2 and 3 are decided, but 1 is not: nothing may be installed');
  run.source.push(decisionRecord(6, 1, { safepoint: 0 }));
  run.source.end();
  const output = await finished(run);
  assert.equal(output.outcome, 'stopped');
  assert.deepEqual(cohort.calledVersions, [1, 2, 3]);
  for (const version of [2, 3]) {
    const call = cohort.callsOf(version)[0]!;
    assert.ok(cohort.completedAt.get(version - 1)! < call.seq, `version ${version} started before ${version - 1} was installed`);
  }
  assert.equal(cohort.rows.get('k')?.value, 3);
  assert.equal(output.snapshot, 3);
  assert.equal(cohort.persisted, 3);
  assert.equal(run.source.commits.at(-1), 3);
});

test('decisions out of order: a later independent version is installed as soon as the run reaches it, not before its predecessors are decided', { timeout: 30_000 }, async () => {
  // 2 is decided first (safepoint 0: independent), but must still wait until 1 is decided, since the run stops at the first undecided candidate.
  const { cohort, run } = start([candidateRecord(1, set('a', 1)), candidateRecord(2, set('b', 2)), decisionRecord(3, 2, { safepoint: 0 })], { end: false });
  await until(() => run.source.buffered === 0, 'three records read');
  await settle();
  assert.deepEqual(cohort.installCalls, []);
  run.source.push(decisionRecord(4, 1, { outcome: 'aborted' }));
  run.source.end();
  const output = await finished(run);
  assert.deepEqual(installedVersions(cohort), [1, 2]);
  assert.deepEqual(cohort.callsOf(1)[0]!.statemaps, [], 'the abort passes through with no statemaps');
  assert.equal(cohort.rows.get('a'), undefined);
  assert.equal(cohort.rows.get('b')?.value, 2);
  assert.equal(output.snapshot, 2);
  assert.equal(cohort.persisted, 2);
});

test('duplicate candidate: the re-sent copy is never installed, and the snapshot passes over it', { timeout: 30_000 }, async () => {
  const statemap = [{ ADD: { key: 'balance', amount: 10 } }];
  const { cohort, run, output } = await replicate([
    candidateRecord(1, statemap, 'tx-a'),
    decisionRecord(2, 1, { safepoint: 0, xid: 'tx-a' }),
    candidateRecord(3, statemap, 'tx-a'), // the same transaction, re-sent
    decisionRecord(4, 3, { safepoint: 0, duplicateVersion: 1, xid: 'tx-a' }),
    candidateRecord(5, set('other', 5)),
    decisionRecord(6, 5, { safepoint: 4 }),
  ]);
  assert.equal(output.outcome, 'stopped');
  assert.deepEqual(cohort.calledVersions, [1, 5], 'version 3 (the duplicate) never reaches the installer');
  assert.equal(cohort.rows.get('balance')?.value, 10, 'the transfer is applied once');
  assert.equal(output.snapshot, 5);
  assert.equal(cohort.persisted, 5);
  assert.equal(run.source.commits.at(-1), 5);
});

test('duplicate as the last candidate: the snapshot stays at the last version the queue received', { timeout: 30_000 }, async () => {
  const statemap = [{ ADD: { key: 'balance', amount: 10 } }];
  const { cohort, output } = await replicate([
    candidateRecord(1, statemap, 'tx-a'),
    decisionRecord(2, 1, { safepoint: 0, xid: 'tx-a' }),
    candidateRecord(3, statemap, 'tx-a'),
    decisionRecord(4, 3, { safepoint: 0, duplicateVersion: 1, xid: 'tx-a' }),
  ]);
  assert.deepEqual(cohort.calledVersions, [1]);
  assert.equal(output.snapshot, 1);
  assert.equal(cohort.persisted, 1);
});

test('aborted candidates and candidates without statemap pass through installation with an empty list, so the snapshot can move', { timeout: 30_000 }, async () => {
  const { cohort, output } = await replicate([
    candidateRecord(1, set('k', 1)), // aborted
    candidateRecord(2, null), // committed, no statemap field
    candidateRecord(3, []), // committed, empty statemap
    candidateRecord(4, set('k', 4)), // committed, waits for 1..3
    decisionRecord(5, 1, { outcome: 'aborted' }),
    decisionRecord(6, 2, { safepoint: 1 }),
    decisionRecord(7, 3, { safepoint: 2 }),
    decisionRecord(8, 4, { safepoint: 3 }),
  ]);
  assert.equal(output.outcome, 'stopped');
  for (const version of [1, 2, 3]) {
    const calls = cohort.callsOf(version);
    assert.equal(calls.length, 1, `version ${version} passes through installation once`);
    assert.deepEqual(calls[0]!.statemaps, [], `version ${version} is installed with an empty list`);
  }
  const four = cohort.callsOf(4);
  assert.equal(four.length, 1);
  assert.deepEqual(four[0]!.statemaps, [{ action: 'SET', version: 4, safepoint: 3, payload: { key: 'k', value: 4 } }]);
  for (const version of [1, 2, 3]) assert.ok(cohort.completedAt.get(version)! < four[0]!.seq, `4 waits for ${version}`);
  assert.equal(cohort.rows.get('k')?.value, 4);
  assert.equal(output.snapshot, 4);
  assert.equal(cohort.persisted, 4);
});

test('version 0 is never installed, even when committed with a statemap', { timeout: 30_000 }, async () => {
  const { cohort, run, output } = await replicate([
    candidateRecord(0, set('zero', 0)),
    decisionRecord(1, 0, { safepoint: 0 }),
    candidateRecord(2, set('two', 2)),
    decisionRecord(3, 2, { safepoint: 0 }),
  ]);
  assert.equal(output.outcome, 'stopped');
  assert.deepEqual(cohort.calledVersions, [2]);
  assert.equal(cohort.rows.get('zero'), undefined);
  assert.equal(output.snapshot, 2);
  assert.equal(cohort.persisted, 2);
  assert.ok(run.source.commits.every((version) => version > 0));
});

test('decisions for versions below the suffix head (at or below the persisted snapshot) are ignored', { timeout: 30_000 }, async () => {
  const logger = recordingLogger();
  // The store says 5: everything up to 5 is installed. The source redelivers from offset 1.
  const { cohort, output } = await replicate(
    [
      candidateRecord(1, set('k', 1)),
      candidateRecord(2, set('k', 2)),
      decisionRecord(3, 1, { safepoint: 0 }),
      candidateRecord(4, set('k', 4)),
      decisionRecord(5, 2, { safepoint: 1 }),
      decisionRecord(6, 4, { safepoint: 2 }), // for version 4, below the head (6)
      candidateRecord(7, set('k', 7)),
      decisionRecord(8, 7, { safepoint: 4 }),
    ],
    { cohort: { initialSnapshot: 5, initialRows: new Map([['k', { value: 4, version: 4 }]]) }, logger },
  );
  assert.equal(output.outcome, 'stopped');
  assert.deepEqual(cohort.calledVersions, [7], 'nothing at or below the persisted snapshot is installed again');
  assert.equal(cohort.rows.get('k')?.value, 7);
  assert.equal(output.snapshot, 7);
  assert.equal(cohort.persisted, 7);
  assert.deepEqual(logger.lines.filter((line) => line.level !== 'debug'), [], 'ignoring a decision below the head is not an error');
});

test('a decision for an unknown version is counted as rejected, logged with its offset, and the pipeline continues', { timeout: 30_000 }, async () => {
  const logger = recordingLogger();
  const { cohort, run } = start(
    [
      candidateRecord(1, set('k', 1)),
      decisionRecord(2, 1, { safepoint: 0 }),
      decisionRecord(3, 2, { safepoint: 0 }), // offset 2 holds a decision, not a candidate
      candidateRecord(4, set('k', 4)),
      decisionRecord(5, 4, { safepoint: 1 }),
    ],
    { logger, end: false },
  );
  await until(() => run.lastObservedSnapshot === 4, 'the snapshot reaches 4');
  const replicator = run.actor.getSnapshot().children.replicator;
  assert.ok(replicator, 'the replicator service is running');
  assert.equal((replicator.getSnapshot() as { context: { rejectedRecords: number } }).context.rejectedRecords, 1);
  run.source.end();
  const output = await finished(run);
  assert.equal(output.outcome, 'stopped');
  assert.deepEqual(cohort.calledVersions, [1, 4]);
  assert.equal(output.snapshot, 4);
  const warnings = logger.lines.filter((line) => line.level === 'warn');
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.meta?.offset, 3);
  assert.match(warnings[0]!.message, /offset 3/);
  assert.match(warnings[0]!.message, /version 2/);
});
