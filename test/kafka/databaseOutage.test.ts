/**
 * The database goes away for a while (new connections refused, open ones cut) while the
 * replicator runs and the certifier keeps producing. Installs fail and are retried; the suffix
 * fills and consumption pauses (backpressure: the head stalls, or the suffix is full), so what the replicator holds
 * stays bounded (at most the capacity plus one fetched batch) however much is produced meanwhile;
 * when the database comes back it resumes by itself and ends with the serial replay's state.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { createKafkaReplicator } from '../../adapters/kafka/createKafkaReplicator.js';
import { parseBatch } from '../../adapters/wire/parseRecord.js';
import type { RawRecord } from '../../machines/domain.js';
import { auditedVersions, bankMismatches, logFacts, persistedSnapshot, prepareBank, workload } from '../cli/fixtures.js';
import { makeTempDir } from '../support/cli.js';
import { mockKafkaForTest } from '../support/kafka/mockBroker.js';
import { usePostgres } from '../support/postgres.js';
import { QUICK_REPLICATOR_CONFIG, bankCohort, captureLogger, connectAdmin, currentTurn, duplicatesIn, mockKafkaSettings, produce, teardown, until, workloadRecords } from './harness.js';

const postgres = usePostgres();
const temp = await makeTempDir('talos-kafka-outage-');
after(() => temp.cleanup());

const LOG = workload(2000, 400, 71);
const facts = logFacts(LOG);
const TOPIC = 'certification';
const GROUP = 'cohort-outage';
const SUFFIX_CAPACITY = 200;

test('while the database is down consumption pauses with bounded memory, and it resumes by itself when the database is back', { timeout: 90_000 }, async (t) => {
  const cleanup = teardown(t);
  const mock = await mockKafkaForTest(t, { topics: [TOPIC] });
  if (!mock) return;
  const db = await postgres.freshDatabase();
  await prepareBank(db.pool, LOG);
  const cohort = await bankCohort(db.pool, temp.dir);
  const admin = await connectAdmin(mock.bootstrap);
  cleanup(() => admin.close());
  const superuser = new pg.Client({ connectionString: postgres.server().urlFor('postgres') });
  superuser.on('error', () => undefined);
  await superuser.connect();
  cleanup(() => superuser.end());
  cleanup(() => superuser.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`));

  const records = workloadRecords(LOG);
  const firstPart = Math.floor(records.length / 4);
  await produce(mock.bootstrap, TOPIC, records.slice(0, firstPart));

  let largestBatch = 0;
  const logger = captureLogger();
  const replicator = createKafkaReplicator({
    kafka: mockKafkaSettings(mock.bootstrap, TOPIC, GROUP),
    installer: cohort.installer,
    snapshotStore: cohort.snapshotStore,
    config: { ...QUICK_REPLICATOR_CONFIG, suffixCapacity: SUFFIX_CAPACITY },
    logger,
    parse: (batch: readonly RawRecord[]) => {
      largestBatch = Math.max(largestBatch, batch.length);
      return parseBatch(batch);
    },
  });
  const ended = replicator.run();
  cleanup(() => {
    replicator.stop();
    return ended.catch(() => undefined);
  });
  await until('100 versions to be installed', () => cohort.installed.length >= 100, 30_000, () => logger.text());

  // The database goes away.
  await superuser.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
  await superuser.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db.name]);
  const installedBefore = cohort.installed.length;

  // Meanwhile the certifier produces the rest of the log; the replicator reads until its suffix is full, then pauses.
  let largestSuffix = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      largestSuffix = Math.max(largestSuffix, currentTurn(replicator.actor)?.suffixSize ?? 0);
      await delay(10);
    }
  })();
  await produce(mock.bootstrap, TOPIC, records.slice(firstPart));
  await until('the replicator service to pause the source', () => currentTurn(replicator.actor)?.paused === true, 20_000, () => currentTurn(replicator.actor));
  const heldAtPause = replicator.source.lastDelivered;
  await delay(1500);
  const heldLater = replicator.source.lastDelivered;
  const end = await admin.endOffset(TOPIC);

  assert.match(logger.text('warn'), /install of version \d+ failed/, 'installs failed while the database was down');
  assert.ok(cohort.installed.length - installedBefore <= 8, 'nothing (beyond installs already committing) got in while the database was down');
  assert.equal(currentTurn(replicator.actor)?.paused, true, 'still paused while the database is down');
  assert.equal(heldLater, heldAtPause, 'no record is read while paused');
  assert.ok(heldLater !== null && heldLater < end - 1, `stopped reading at offset ${heldLater}, before the end of the log (${end - 1})`);
  assert.ok(largestSuffix <= SUFFIX_CAPACITY + largestBatch, `the suffix held at most ${largestSuffix} candidates: capacity ${SUFFIX_CAPACITY} + one batch of ${largestBatch}`);
  t.diagnostic(`paused at offset ${heldLater} of ${end - 1}; largest suffix ${largestSuffix}, largest batch ${largestBatch}`);

  // The database is back: replication resumes by itself and completes.
  await superuser.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
  await until(
    `the persisted snapshot to reach the last candidate ${facts.lastCandidate} and its offset to be committed`,
    async () =>
      (await persistedSnapshot(db.pool).catch(() => null)) === facts.lastCandidate && (await admin.committedOffset(GROUP, TOPIC)) === facts.lastCandidate + 1,
    45_000,
    async () => ({ persisted: await persistedSnapshot(db.pool).catch(() => null), installed: cohort.installed.length, turn: currentTurn(replicator.actor) }),
  );
  sampling = false;
  await sampler;
  assert.ok(largestSuffix <= SUFFIX_CAPACITY + largestBatch, `the suffix never held more than capacity + one batch (${largestSuffix})`);

  replicator.stop();
  const output = await ended;
  assert.equal(output.outcome, 'stopped', String(output.error));
  assert.equal(output.turns, 1, 'the outage did not cost the partition');
  assert.deepEqual(await bankMismatches(db.pool, facts.expected), []);
  assert.deepEqual(await auditedVersions(db.pool), facts.installedVersions, 'every version audited exactly once');
  assert.deepEqual(duplicatesIn(cohort.installed), []);
});
