/**
 * Restart from the committed offset: a replicator stopped gracefully mid-run (what `run` does on
 * SIGTERM) persists its snapshot S and commits offset S + 1; more of the log is produced; a new
 * replicator in the same group reads from offset S + 1 on, never hands a version at or below S to
 * the installer again, skips (by the installer's bookkeeping) the versions above S the first run
 * had installed, and ends with the database equal to the serial replay.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createKafkaReplicator } from '../../adapters/kafka/createKafkaReplicator.js';
import { parseBatch } from '../../adapters/wire/parseRecord.js';
import type { RawRecord } from '../../machines/domain.js';
import { auditedVersions, bankMismatches, logFacts, persistedSnapshot, prepareBank, workload } from '../cli/fixtures.js';
import { makeTempDir } from '../support/cli.js';
import { mockKafkaForTest } from '../support/kafka/mockBroker.js';
import { usePostgres } from '../support/postgres.js';
import { QUICK_REPLICATOR_CONFIG, bankCohort, captureLogger, connectAdmin, duplicatesIn, mockKafkaSettings, produce, until, workloadRecords, type BankCohort, teardown } from './harness.js';

const pg = usePostgres();
const temp = await makeTempDir('talos-kafka-restart-');
after(() => temp.cleanup());

const LOG = workload(2000, 400, 43);
const facts = logFacts(LOG);
const TOPIC = 'certification';
const GROUP = 'cohort-restart';

test('a replicator stopped mid-run and started again resumes after the persisted snapshot', { timeout: 90_000 }, async (t) => {
  const cleanup = teardown(t);
  const mock = await mockKafkaForTest(t, { topics: [TOPIC] });
  if (!mock) return;
  const db = await pg.freshDatabase();
  await prepareBank(db.pool, LOG);
  const admin = await connectAdmin(mock.bootstrap);
  cleanup(() => admin.close());

  const records = workloadRecords(LOG);
  const firstPart = Math.floor(records.length * 0.6);
  await produce(mock.bootstrap, TOPIC, records.slice(0, firstPart));

  const start = (cohort: BankCohort, firstOffsets: number[]) => {
    const logger = captureLogger();
    const replicator = createKafkaReplicator({
      kafka: mockKafkaSettings(mock.bootstrap, TOPIC, GROUP),
      installer: cohort.installer,
      snapshotStore: cohort.snapshotStore,
      // Persist rarely: the stop has to persist and commit what the run got to.
      config: { ...QUICK_REPLICATOR_CONFIG, statemapQueueCleanupFreqMs: 500, certifierMessageReceiverCommitFreqMs: 500 },
      logger,
      parse: (batch: readonly RawRecord[]) => {
        if (firstOffsets.length === 0 && batch.length > 0) firstOffsets.push(Number(batch[0]!.offset));
        return parseBatch(batch);
      },
    });
    const ended = replicator.run();
    cleanup(() => {
      replicator.stop();
      return ended.catch(() => undefined);
    });
    return { replicator, ended, logger };
  };

  // First run: stopped while installs are under way.
  const first = await bankCohort(db.pool, temp.dir);
  const firstOffsets: number[] = [];
  const run1 = start(first, firstOffsets);
  await until('the first run to install 300 versions', () => first.installed.length >= 300, 30_000);
  run1.replicator.stop();
  const out1 = await run1.ended;
  assert.equal(out1.outcome, 'stopped', String(out1.error));
  const s1 = out1.lastTurn!.persisted!;
  assert.equal(firstOffsets[0], 0, 'the first run reads from the beginning');
  assert.ok(s1 > 0 && s1 < facts.lastCandidate, `stopped mid-run: persisted snapshot ${s1}`);
  assert.equal(out1.lastTurn!.committed, s1, 'the stop commits the persisted snapshot');
  assert.equal(await persistedSnapshot(db.pool), s1);
  assert.equal(await admin.committedOffset(GROUP, TOPIC), s1 + 1, 'committed offset = persisted snapshot + 1');
  const installedAboveS1 = first.installed.filter((version) => version > s1);
  t.diagnostic(`first run: snapshot ${s1}, ${first.installed.length} versions installed, ${installedAboveS1.length} of them above the snapshot`);

  // More of the log arrives while nobody replicates.
  await produce(mock.bootstrap, TOPIC, records.slice(firstPart));

  // Second run, same group: resumes at s1 + 1.
  const second = await bankCohort(db.pool, temp.dir);
  const secondOffsets: number[] = [];
  const run2 = start(second, secondOffsets);
  await until(
    `the second run to persist the last candidate ${facts.lastCandidate}`,
    async () => (await persistedSnapshot(db.pool)) === facts.lastCandidate && (await admin.committedOffset(GROUP, TOPIC)) === facts.lastCandidate + 1,
    45_000,
    async () => ({ persisted: await persistedSnapshot(db.pool), installed: second.installed.length }),
  );
  run2.replicator.stop();
  const out2 = await run2.ended;
  assert.equal(out2.outcome, 'stopped', String(out2.error));

  assert.equal(secondOffsets[0], s1 + 1, 'the second run is handed records from the committed offset on');
  // It reads decisions for candidates at or below s1 (decisions trail their candidates): those are known, not malformed.
  assert.doesNotMatch(run2.logger.text(), /malformed record/);
  const atOrBelow = second.handed.filter((version) => version <= s1);
  assert.deepEqual(atOrBelow, [], `versions at or below the snapshot ${s1} handed to the installer again`);
  // What the first run installed above its snapshot is handed again (it was not committed) and skipped.
  assert.deepEqual([...second.skipped].sort((a, b) => a - b), installedAboveS1.filter((version) => second.handed.includes(version)).sort((a, b) => a - b));
  assert.deepEqual(duplicatesIn([...first.installed, ...second.installed.filter((version) => !second.skipped.includes(version))]), []);

  assert.deepEqual(await auditedVersions(db.pool), facts.installedVersions, 'every version audited exactly once across both runs');
  assert.deepEqual(await bankMismatches(db.pool, facts.expected), []);
  assert.equal(await persistedSnapshot(db.pool), facts.lastCandidate);
  assert.equal(await admin.committedOffset(GROUP, TOPIC), facts.lastCandidate + 1);
});
