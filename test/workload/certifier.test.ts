import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { RawRecord } from '../../machines/domain.js';
import {
  accountName,
  CANDIDATE_HEADERS,
  DECISION_HEADERS,
  expectedEndState,
  formatCents,
  generateCertificationLog,
  generateCertificationLogBatches,
  initialAccounts,
  resolveCertifierOptions,
  type CertifierOptions,
} from '../../adapters/workload/certifier.js';
import { checkWireFormat, replayAndCheckRules } from './logChecks.js';

function digest(options: CertifierOptions): string {
  const h = createHash('sha256');
  for (const r of generateCertificationLog(options)) h.update(`${String(r.offset)}|${String(r.headers['messageType'])}|${String(r.value)}\n`);
  return h.digest('hex');
}

function names(options: CertifierOptions): string[] {
  const o = resolveCertifierOptions(options);
  return Array.from({ length: o.accounts }, (_, i) => accountName(i, o.accounts));
}

/** Runs every independent check on one generated log and compares with expectedEndState. */
function checkAll(options: CertifierOptions): { log: ReturnType<typeof checkWireFormat>; replay: ReturnType<typeof replayAndCheckRules> } {
  const o = resolveCertifierOptions(options);
  const log = checkWireFormat(generateCertificationLog(options), o.startOffset);
  const replay = replayAndCheckRules(log, names(options), Number(o.initialBalance.replace('.', '')));
  const expected = expectedEndState(options);
  assert.equal(expected.lastOffset, log.lastOffset, 'lastOffset');
  assert.equal(expected.firstOffset, o.startOffset);
  assert.equal(expected.records, log.lastOffset - o.startOffset + 1);
  assert.equal(expected.candidates, log.candidates.size);
  assert.equal(expected.decisions, log.decisions.size);
  assert.deepEqual(expected.committed, replay.committed.filter((c) => c.version !== 0), 'committed versions and safepoints');
  assert.deepEqual(expected.duplicates, replay.duplicates, 'duplicates');
  assert.deepEqual(expected.abortedByRule, replay.aborts, 'aborts by rule');
  assert.equal(expected.committedCount, expected.committed.length);
  assert.deepEqual(
    [...expected.accounts].map(([n, a]) => [n, a.balanceCents, a.version, a.balance]),
    [...replay.accounts].map(([n, a]) => [n, a.balanceCents, a.version, formatCents(a.balanceCents)]),
    'end state of every account',
  );
  let total = 0;
  for (const a of expected.accounts.values()) {
    assert.ok(a.balanceCents >= 0, `${a.name} went negative`);
    total += a.balanceCents;
  }
  assert.equal(total, expected.totalCents);
  assert.equal(total, o.accounts * Number(o.initialBalance.replace('.', '')), 'transfers conserve money');
  return { log, replay };
}

describe('simulated certifier', () => {
  test('is deterministic from its seed', () => {
    const opts = { seed: 7, transactions: 2000, accounts: 30, duplicateRate: 0.05 };
    assert.equal(digest(opts), digest(opts));
    assert.equal(digest({ ...opts, seed: 'seven' }), digest({ ...opts, seed: 'seven' }));
    assert.notEqual(digest(opts), digest({ ...opts, seed: 8 }));
    assert.notEqual(digest(opts), digest({ ...opts, seed: 'seven' }));
    assert.deepEqual(expectedEndState(opts), expectedEndState(opts));
  });

  test('writes the Talos wire format and obeys R1-R4 (default options)', () => {
    const { log, replay } = checkAll({ transactions: 3000 });
    assert.ok(replay.committed.length > 2000);
    assert.ok(log.candidates.size > 3000, 'some duplicates at the default rate');
  });

  test('with many conflicts: small bank, long decision delays, stale reads, old snapshots, duplicates', () => {
    const { replay, log } = checkAll({
      seed: 99, transactions: 4000, accounts: 5, staleReadRate: 0.2, oldSnapshotRate: 0.05,
      duplicateRate: 0.2, maxDecisionDelay: 30, suffixSize: 50, snapshotLag: 20,
    });
    assert.ok(replay.aborts.R3 > 100, `R3 aborts: ${replay.aborts.R3}`);
    assert.ok(replay.aborts.R2 > 50, `R2 aborts: ${replay.aborts.R2}`);
    assert.ok(replay.duplicates.some((d) => d.outcome === 'committed'));
    assert.ok(replay.duplicates.some((d) => d.outcome === 'aborted'));
    // decisions sometimes overtake each other
    let inversions = 0;
    for (let i = 1; i < log.decisionOrder.length; i++) if (log.decisionOrder[i]! < log.decisionOrder[i - 1]!) inversions++;
    assert.ok(inversions > 100, `out-of-order decisions: ${inversions}`);
  });

  test('records: offsets are numbers, headers are the shared frozen objects, origin is set', () => {
    const recs = [...generateCertificationLog({ transactions: 20 })];
    for (const r of recs) {
      assert.equal(typeof r.offset, 'number');
      assert.ok(r.headers === CANDIDATE_HEADERS || r.headers === DECISION_HEADERS);
      assert.equal(r.origin, 'simulated-certifier');
    }
    assert.ok(Object.isFrozen(CANDIDATE_HEADERS) && Object.isFrozen(DECISION_HEADERS));
    assert.equal(recs[0]!.offset, 1, 'starts at offset 1 by default');
    assert.equal(recs[0]!.headers['messageType'], 'Candidate');
  });

  test('maxDecisionDelay 0: every decision right after its candidate', () => {
    const recs = [...generateCertificationLog({ transactions: 200, maxDecisionDelay: 0, duplicateRate: 0.1 })];
    for (let i = 0; i < recs.length; i += 2) {
      assert.equal(recs[i]!.headers['messageType'], 'Candidate');
      assert.equal(recs[i + 1]!.headers['messageType'], 'Decision');
      assert.equal((JSON.parse(recs[i + 1]!.value as string) as { version: number }).version, recs[i]!.offset);
    }
    checkAll({ transactions: 200, maxDecisionDelay: 0, duplicateRate: 0.1 });
  });

  test('startOffset 0: a no-op genesis candidate at version 0, committed without safepoint', () => {
    const opts = { startOffset: 0, transactions: 300, seed: 3 };
    const { log } = checkAll(opts);
    const genesis = log.candidates.get(0)!;
    assert.equal(genesis.transfer, null);
    assert.deepEqual(JSON.parse(genesis.text).readset, []);
    assert.equal(log.decisions.get(0)!.decision, 'committed');
    assert.equal(log.decisions.get(0)!.safepoint, undefined);
    const st = expectedEndState(opts);
    assert.ok(st.committed.every((c) => c.version > 0), 'version 0 is not in the committed list');
    assert.equal(st.candidates, 301 + st.duplicates.length);
  });

  test('a later startOffset shifts the whole log', () => {
    const { log } = checkAll({ startOffset: 1_000_000, transactions: 300 });
    assert.equal(log.firstOffset, 1_000_000);
    for (const c of log.candidates.values()) assert.ok(c.snapshot >= 999_999);
  });

  test('an empty workload yields an empty log', () => {
    assert.deepEqual([...generateCertificationLog({ transactions: 0 })], []);
    const st = expectedEndState({ transactions: 0, accounts: 3 });
    assert.equal(st.lastOffset, 0);
    assert.equal(st.records, 0);
    assert.deepEqual([...st.accounts.values()], initialAccounts({ accounts: 3 }));
  });

  test('is lazy: the first records of a huge workload come at once', () => {
    const it = generateCertificationLog({ transactions: 1e12 });
    const first: RawRecord[] = [];
    for (const r of it) {
      first.push(r);
      if (first.length === 100) break;
    }
    assert.equal(first.length, 100);
  });

  test('batches: same records, in order, batchSize at a time', () => {
    const opts = { transactions: 500, seed: 11 };
    const flat = [...generateCertificationLog(opts)];
    const batches = [...generateCertificationLogBatches(opts, 64)];
    assert.ok(batches.slice(0, -1).every((b) => b.length === 64));
    assert.deepEqual(batches.flat(), flat);
    assert.throws(() => generateCertificationLogBatches(opts, 0).next(), RangeError);
  });

  test('accounts: names, widths, initial state', () => {
    assert.equal(accountName(0), 'acc-00001');
    assert.equal(accountName(99_999, 100_000), 'acc-100000');
    assert.equal(accountName(0, 100_000), 'acc-000001');
    const accs = initialAccounts({ accounts: 2, initialBalance: '5.5' });
    assert.deepEqual(accs, [
      { name: 'acc-00001', balance: '5.50', balanceCents: 550, version: 0 },
      { name: 'acc-00002', balance: '5.50', balanceCents: 550, version: 0 },
    ]);
    assert.equal(formatCents(-5), '-0.05');
    assert.equal(formatCents(123456), '1234.56');
  });

  test('expectedEndState can skip the committed list', () => {
    const st = expectedEndState({ transactions: 100 }, { collectCommitted: false });
    assert.deepEqual(st.committed, []);
    assert.ok(st.committedCount > 0);
  });

  test('rejects unusable options', () => {
    for (const bad of [
      { accounts: 1 }, { transactions: -1 }, { transactions: 1.5 }, { duplicateRate: 1 }, { staleReadRate: -0.1 },
      { snapshotLag: 64 }, { suffixSize: 0 }, { startOffset: -1 }, { maxAmount: '0' }, { initialBalance: '1.234' },
      { seed: Number.NaN },
    ] as CertifierOptions[]) {
      assert.throws(() => resolveCertifierOptions(bad), RangeError, JSON.stringify(bad));
      assert.throws(() => generateCertificationLog(bad).next(), RangeError);
    }
  });

  test('property: every option mix gives a well-formed log whose rules and end state check out', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.oneof(fc.integer(), fc.string({ maxLength: 8 })),
          transactions: fc.integer({ min: 0, max: 300 }),
          accounts: fc.integer({ min: 2, max: 40 }),
          staleReadRate: fc.double({ min: 0, max: 1, noNaN: true }),
          oldSnapshotRate: fc.double({ min: 0, max: 0.3, noNaN: true }),
          duplicateRate: fc.double({ min: 0, max: 0.5, noNaN: true }),
          maxDecisionDelay: fc.integer({ min: 0, max: 40 }),
          snapshotLag: fc.integer({ min: 0, max: 63 }),
          suffixSize: fc.integer({ min: 1, max: 200 }),
          startOffset: fc.oneof(fc.constant(0), fc.constant(1), fc.integer({ min: 2, max: 1_000_000 })),
          initialBalance: fc.constantFrom('0', '0.01', '10.00', '1000.00'),
          maxAmount: fc.constantFrom('0.01', '5.00', '100.00'),
        }),
        (opts) => {
          checkAll(opts);
        },
      ),
      { numRuns: 60 },
    );
  });
});
