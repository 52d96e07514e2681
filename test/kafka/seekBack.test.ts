/**
 * A group's committed offset past the persisted snapshot + 1 (someone moved it forward, or the
 * database was restored from an older backup): reading from there would skip the versions in
 * between for good. The replicator tells the Kafka source where it needs to start
 * (`readFrom(snapshot + 1)`), and the source seeks back there. When the topic no longer holds
 * those records (retention deleted them), the replicator fails naming the offsets, and installs
 * and commits nothing.
 *
 * The mock cluster keeps at most ~5 MiB per partition and drops the oldest batches beyond that,
 * moving the log start offset forward as retention does: that is how the second test deletes
 * records (the mock has no DeleteRecords).
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import { createKafkaReplicator } from '../../adapters/kafka/createKafkaReplicator.js';
import { parseBatch } from '../../adapters/wire/parseRecord.js';
import type { RawRecord } from '../../machines/domain.js';
import { auditCount, auditedVersions, bankMismatches, logFacts, persistedSnapshot, prepareBank, workload } from '../cli/fixtures.js';
import { makeTempDir } from '../support/cli.js';
import { mockKafkaForTest } from '../support/kafka/mockBroker.js';
import { createLogProducer } from '../support/kafka/produceLog.js';
import { usePostgres } from '../support/postgres.js';
import {
  QUICK_REPLICATOR_CONFIG,
  bankCohort,
  captureLogger,
  commitGroupOffset,
  connectAdmin,
  duplicatesIn,
  mockKafkaSettings,
  produce,
  teardown,
  until,
  workloadRecords,
} from './harness.js';

const pg = usePostgres();
const temp = await makeTempDir('talos-kafka-seek-back-');
after(() => temp.cleanup());

const LOG = workload(1200, 300, 61);
const facts = logFacts(LOG);
const TOPIC = 'certification';

/** A mock broker, a fresh bank database and an admin client, undone with the test; null when no broker can be had. */
async function setUp(t: TestContext) {
  const cleanup = teardown(t);
  const mock = await mockKafkaForTest(t, { topics: [TOPIC] });
  if (!mock) return null;
  const db = await pg.freshDatabase();
  await prepareBank(db.pool, LOG);
  const admin = await connectAdmin(mock.bootstrap);
  cleanup(() => admin.close());
  return { cleanup, mock, db, admin };
}

/** A bank cohort's replicator in `group`, noting the first offset of every batch it is handed; stopped with the test. */
async function startReplicator(setup: NonNullable<Awaited<ReturnType<typeof setUp>>>, group: string) {
  const cohort = await bankCohort(setup.db.pool, temp.dir);
  const firstOffsets: number[] = [];
  const logger = captureLogger();
  const replicator = createKafkaReplicator({
    kafka: mockKafkaSettings(setup.mock.bootstrap, TOPIC, group),
    installer: cohort.installer,
    snapshotStore: cohort.snapshotStore,
    config: QUICK_REPLICATOR_CONFIG,
    logger,
    parse: (batch: readonly RawRecord[]) => {
      if (batch.length > 0) firstOffsets.push(Number(batch[0]!.offset));
      return parseBatch(batch);
    },
  });
  const ended = replicator.run();
  setup.cleanup(() => {
    replicator.stop();
    return ended.catch(() => undefined);
  });
  return { replicator, ended, logger, cohort, firstOffsets };
}

test('a group offset moved past the persisted snapshot + 1: the replicator seeks back and installs every version once', { timeout: 120_000 }, async (t) => {
  const GROUP = 'cohort-seek-back';
  const setup = await setUp(t);
  if (!setup) return;
  const { mock, db, admin } = setup;
  const records = workloadRecords(LOG);
  await produce(mock.bootstrap, TOPIC, records);

  // Nothing is replicated yet (snapshot 0), but the group's offset says reading goes on at 600.
  const movedTo = 600;
  await commitGroupOffset(mock.bootstrap, GROUP, TOPIC, movedTo);
  assert.equal(await admin.committedOffset(GROUP, TOPIC), movedTo);

  const run = await startReplicator(setup, GROUP);
  const { cohort, firstOffsets } = run;
  await until(
    `the replicator to persist the last candidate ${facts.lastCandidate}`,
    async () => (await persistedSnapshot(db.pool)) === facts.lastCandidate && (await admin.committedOffset(GROUP, TOPIC)) === facts.lastCandidate + 1,
    60_000,
    async () => ({ persisted: await persistedSnapshot(db.pool), installed: cohort.installed.length, firstOffsets: firstOffsets.slice(0, 3), log: run.logger.text('warn') }),
  );
  run.replicator.stop();
  const out = await run.ended;
  assert.equal(out.outcome, 'stopped', String(out.error));

  assert.equal(firstOffsets[0], 1, 'the first records handed over start right after the persisted snapshot');
  assert.deepEqual(await auditedVersions(db.pool), facts.installedVersions, 'every version audited exactly once');
  assert.deepEqual(duplicatesIn(cohort.handed), [], 'no version handed to the installer twice');
  assert.deepEqual(cohort.skipped, []);
  assert.match(
    run.logger.text('warn'),
    new RegExp(`reading ${TOPIC}/0 would start at offset ${movedTo} \\(the group's committed offset, or the log start\\), past the persisted snapshot 0; seeking back to offset 1 so that versions 1\\.\\.${movedTo - 1} are not skipped`),
  );
  assert.deepEqual(await bankMismatches(db.pool, facts.expected), []);
  assert.equal(await persistedSnapshot(db.pool), facts.lastCandidate);
  assert.equal(await admin.committedOffset(GROUP, TOPIC), facts.lastCandidate + 1);
});

test('the records after the persisted snapshot are gone from the topic: the replicator fails naming the offsets, and installs and commits nothing', { timeout: 120_000 }, async (t) => {
  const GROUP = 'cohort-seek-back-gone';
  const setup = await setUp(t);
  if (!setup) return;
  const { mock, db, admin } = setup;

  // The log, then more than the ~5 MiB the mock keeps: it drops the oldest batches, the whole
  // workload among them, as retention would.
  await produce(mock.bootstrap, TOPIC, workloadRecords(LOG));
  const padding: RawRecord[] = Array.from({ length: 16 }, (_, i) => ({ offset: 0, headers: { messageType: 'Candidate' }, value: JSON.stringify({ xid: `padding-${i}`, padding: 'x'.repeat(400_000) }) }));
  const producer = await createLogProducer(mock.bootstrap, TOPIC);
  await producer.send(padding, 1).finally(() => producer.close());
  const raw = new kafkajs.Kafka({ brokers: mock.bootstrap.split(','), logLevel: kafkajs.logLevel.NOTHING }).admin();
  await raw.connect();
  const [partition] = await raw.fetchTopicOffsets(TOPIC);
  await raw.disconnect();
  const logStart = Number(partition!.low);
  t.diagnostic(`log holds offsets ${logStart}..${Number(partition!.high) - 1}`);
  assert.ok(logStart > facts.lastCandidate + 1, `the mock dropped the workload (log start ${logStart})`);

  // The group read (and committed) up to the log start; the database is back at snapshot 0.
  await commitGroupOffset(mock.bootstrap, GROUP, TOPIC, logStart);

  const run = await startReplicator(setup, GROUP);
  const { cohort, firstOffsets } = run;
  const out = await Promise.race([run.ended, delay(30_000).then(() => null)]);
  assert.ok(out, `the replicator still runs after 30 s; it was handed records from offset ${firstOffsets[0]} on`);
  assert.equal(out.outcome, 'failed');
  assert.match(
    String(out.error),
    new RegExp(`${TOPIC}/0 no longer holds offset 1 \\(retention deleted it: after seeking to 1, reading starts at offset ${logStart}\\): versions 1\\.\\.${logStart - 1} after the persisted snapshot 0 cannot be installed from this topic`),
  );
  assert.match(run.logger.text('warn'), new RegExp(`would start at offset ${logStart} .*seeking back to offset 1`));
  assert.deepEqual(firstOffsets, [], 'no record handed over');
  assert.deepEqual(cohort.handed, [], 'nothing installed');
  assert.equal(await auditCount(db.pool), 0);
  assert.equal(await persistedSnapshot(db.pool), 0);
  const committed = await admin.committedOffset(GROUP, TOPIC);
  t.diagnostic(`group offset after the failure: ${committed}`);
  assert.ok(committed === null || committed <= 1, `nothing committed past the persisted snapshot + 1 (group offset ${committed})`);
});
