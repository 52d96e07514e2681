/**
 * The simulated certifier's bank-transfer log through the whole pipeline: the accounts after
 * installing must be exactly `expectedEndState` (the committed transfers applied serially).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedEndState, generateCertificationLog, initialAccounts, type CertifierOptions } from '../../adapters/workload/certifier.js';
import type { RawRecord, Version } from '../../index.js';
import { MemoryCohort, type Row } from '../support/memoryCohort.js';
import { fastConfig, finished } from '../support/scenario.js';

function accountsOf(options: CertifierOptions): Map<string, Row> {
  return new Map(initialAccounts(options).map((account) => [account.name, { value: account.balanceCents, version: 0 }]));
}

function assertEndState(cohort: MemoryCohort, options: CertifierOptions): void {
  const expected = expectedEndState(options);
  const actual = [...cohort.rows].map(([name, row]) => [name, row.value, row.version]).sort();
  const wanted = [...expected.accounts.values()].map((account) => [account.name, account.balanceCents, account.version]).sort();
  assert.deepEqual(actual, wanted, 'every account has the serially expected balance and version');
  const committed = new Set(expected.committed.map((c) => c.version));
  const duplicates = new Set(expected.duplicates.map((d) => d.version));
  for (const call of cohort.installCalls) {
    assert.ok(call.version !== 0, 'version 0 is never installed');
    assert.ok(!duplicates.has(call.version), `duplicate ${call.version} is never installed`);
    if (!committed.has(call.version)) assert.deepEqual(call.statemaps, [], `version ${call.version} is not committed: installed with no statemaps`);
  }
  for (const version of committed) assert.ok(cohort.completedAt.has(version), `committed version ${version} was installed`);
  for (const [key, count] of cohort.entryApplications) assert.equal(count, 1, `entry ${key} applied once`);
}

function lastCandidate(options: CertifierOptions): Version {
  // The snapshot ends at the last non-duplicate candidate: every candidate of the log is decided.
  const expected = expectedEndState(options);
  const duplicates = new Set(expected.duplicates.map((d) => d.version));
  let last = 0;
  for (const record of generateCertificationLog(options)) {
    const offset = Number(record.offset);
    if (record.headers.messageType === 'Candidate' && !duplicates.has(offset) && offset > last) last = offset;
  }
  return last;
}

test('simulated certifier, 2000 transactions with conflicts, aborts, duplicates and a genesis record at offset 0: the end state equals expectedEndState', { timeout: 30_000 }, async () => {
  const options: CertifierOptions = { seed: 2024, transactions: 2000, accounts: 20, staleReadRate: 0.1, duplicateRate: 0.05, maxDecisionDelay: 12, startOffset: 0 };
  const expected = expectedEndState(options);
  assert.ok(expected.abortedCount > 50 && expected.duplicates.length > 20, 'the workload has aborts and duplicates');
  const records = [...generateCertificationLog(options)];
  const cohort = new MemoryCohort({ seed: 1, initialRows: accountsOf(options), installLatency: ({ random }) => random.int(2) });
  const run = cohort.startRun({ records, config: { ...fastConfig, statemapInstallerThreadpool: 16 }, maxBatch: 250, feed: { chunk: 500, pauseMs: 1 }, timeoutMs: 20_000 });
  const output = await finished(run);
  assert.equal(output.outcome, 'stopped');
  assertEndState(cohort, options);
  const last = lastCandidate(options);
  assert.equal(output.snapshot, last);
  assert.equal(cohort.persisted, last);
  assert.equal(run.source.commits.at(-1), last);
});

test('simulated certifier with two crashes and redelivery from the committed offset: the end state still equals expectedEndState', { timeout: 30_000 }, async () => {
  const options: CertifierOptions = { seed: 77, transactions: 1500, accounts: 10, staleReadRate: 0.05, duplicateRate: 0.03, maxDecisionDelay: 6 };
  const records: RawRecord[] = [...generateCertificationLog(options)];
  const cohort = new MemoryCohort({ seed: 3, initialRows: accountsOf(options), installLatency: ({ random }) => random.int(2), installOutcome: ({ random }) => (random.chance(0.02) ? 'fail' : 'ok') });
  const config = { ...fastConfig, statemapInstallerThreadpool: 8 };
  let from = 1;
  for (const crashAfter of [200, 500, undefined]) {
    const run = cohort.startRun({ records: records.filter((r) => Number(r.offset) >= from), config, maxBatch: 100, feed: { chunk: 200, pauseMs: 1 }, timeoutMs: 20_000, ...(crashAfter === undefined ? {} : { crashAfterInstallCalls: crashAfter }) });
    const end = await run.ended;
    if (crashAfter === undefined) {
      assert.equal(end.kind, 'done');
      break;
    }
    assert.equal(end.kind, 'crashed');
    const committed = cohort.lastCommitted;
    assert.ok(committed === null || committed <= cohort.persisted, 'no offset committed above the persisted snapshot');
    from = (committed ?? 0) + 1;
  }
  // Versions installed in a crashed run above the persisted snapshot were redelivered: no-ops under the version guard.
  assertEndState(cohort, options);
  const last = lastCandidate(options);
  assert.equal(cohort.persisted, last);
  assert.ok(cohort.runs.length === 3);
});
