/**
 * End to end over a real Kafka-protocol broker (the librdkafka mock cluster) and a real Postgres:
 * a bank workload produced to the certification topic, half before the replicator starts and half
 * while it runs, is replicated by `createKafkaReplicator` with the Postgres transactional installer
 * and the user's install module. The rows equal the serial replay, every installed version is
 * audited exactly once, the persisted snapshot reaches the last candidate, and the group's
 * committed offset ends at the persisted snapshot + 1, never above it on the way.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createKafkaReplicator } from '../../adapters/kafka/createKafkaReplicator.js';
import { auditedVersions, bankMismatches, logFacts, persistedSnapshot, prepareBank, workload } from '../cli/fixtures.js';
import { makeTempDir } from '../support/cli.js';
import { mockKafkaForTest } from '../support/kafka/mockBroker.js';
import { usePostgres } from '../support/postgres.js';
import { QUICK_REPLICATOR_CONFIG, bankCohort, captureLogger, connectAdmin, duplicatesIn, mockKafkaSettings, produce, until, workloadRecords, teardown } from './harness.js';

const pg = usePostgres();
const temp = await makeTempDir('talos-kafka-e2e-');
after(() => temp.cleanup());

const LOG = workload(2000, 400, 31);
const facts = logFacts(LOG);
const TOPIC = 'certification';
const GROUP = 'cohort-e2e';

test('a bank workload on Kafka ends in Postgres equal to the serial replay, snapshot persisted and offset committed up to it', { timeout: 90_000 }, async (t) => {
  const cleanup = teardown(t);
  const mock = await mockKafkaForTest(t, { topics: [TOPIC] });
  if (!mock) return;
  const db = await pg.freshDatabase();
  await prepareBank(db.pool, LOG);
  const cohort = await bankCohort(db.pool, temp.dir);
  const admin = await connectAdmin(mock.bootstrap);
  cleanup(() => admin.close());

  const records = workloadRecords(LOG);
  const half = Math.floor(records.length / 2);
  await produce(mock.bootstrap, TOPIC, records.slice(0, half));

  const logger = captureLogger();
  const replicator = createKafkaReplicator({
    kafka: mockKafkaSettings(mock.bootstrap, TOPIC, GROUP),
    installer: cohort.installer,
    snapshotStore: cohort.snapshotStore,
    config: { ...QUICK_REPLICATOR_CONFIG, installBatchSize: 4 },
    logger,
  });
  const ended = replicator.run();
  cleanup(() => {
    replicator.stop();
    return ended.catch(() => undefined);
  });

  // While it runs: the committed offset (read first) never passes the persisted snapshot (read after) + 1.
  let sampling = true;
  const samples: Array<{ committed: number | null; persisted: number | null }> = [];
  const sampler = (async () => {
    while (sampling) {
      const committed = await admin.committedOffset(GROUP, TOPIC);
      const persisted = await persistedSnapshot(db.pool);
      samples.push({ committed, persisted });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();

  await until('some of the first half to be installed', async () => cohort.installed.length > 0, 30_000, () => logger.text());
  await produce(mock.bootstrap, TOPIC, records.slice(half)).then((sent) => assert.equal(sent, records.length - half));

  await until(
    `the persisted snapshot to reach the last candidate ${facts.lastCandidate} and its offset to be committed`,
    async () => (await persistedSnapshot(db.pool)) === facts.lastCandidate && (await admin.committedOffset(GROUP, TOPIC)) === facts.lastCandidate + 1,
    45_000,
    async () => ({ persisted: await persistedSnapshot(db.pool), committed: await admin.committedOffset(GROUP, TOPIC), installed: cohort.installed.length }),
  );
  sampling = false;
  await sampler;
  // The high watermark of the latest fetch: the log's last offset, all of it read.
  const status = replicator.observability.status();
  assert.equal(status.endOffset, records.length - 1);
  assert.equal(status.unread, 0);

  replicator.stop();
  const output = await ended;
  assert.equal(output.outcome, 'stopped', String(output.error));
  assert.equal(output.turns, 1, 'one turn of ownership');
  assert.equal(output.lastTurn?.persisted, facts.lastCandidate);
  assert.equal(output.lastTurn?.committed, facts.lastCandidate);

  for (const { committed, persisted } of samples) {
    if (committed === null) continue;
    assert.ok(persisted !== null && committed <= persisted + 1, `committed offset ${committed} above the persisted snapshot ${persisted} + 1`);
  }
  assert.ok(samples.some((sample) => sample.committed !== null && sample.committed < facts.lastCandidate + 1), 'offsets were committed along the way, not only at the end');

  assert.deepEqual(await bankMismatches(db.pool, facts.expected), [], 'rows equal the serial replay');
  assert.deepEqual(await auditedVersions(db.pool), facts.installedVersions, 'every installed version audited exactly once');
  assert.deepEqual(duplicatesIn(cohort.installed), [], 'no version installed twice');
  assert.deepEqual(cohort.skipped, [], 'nothing re-delivered within one turn');
  assert.equal(await persistedSnapshot(db.pool), facts.lastCandidate);
  assert.equal(await admin.committedOffset(GROUP, TOPIC), facts.lastCandidate + 1, 'committed offset = persisted snapshot + 1');
  assert.doesNotMatch(logger.text('warn'), /malformed record/);
});
