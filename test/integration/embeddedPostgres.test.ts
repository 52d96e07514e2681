/**
 * Embedding with Postgres through the package root alone (what a host imports): the
 * transactional installer and the snapshot store under createCohortReplicator, on a real
 * Postgres; afterwards readReplicationStatus reads back what the run left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from 'xstate';
import {
  createCohortReplicator,
  createMemorySource,
  createPostgresSnapshotStore,
  createTransactionalInstaller,
  readReplicationStatus,
  silentLogger,
  type PostgresInstallFunction,
} from '../../index.js';
import { candidateRecord, decisionRecord } from '../support/records.js';
import { usePostgres } from '../support/postgres.js';

const pg = usePostgres();

test('a host embeds the replicator with the exactly-once Postgres installer and snapshot store from the package root', async () => {
  const db = await pg.freshDatabase();
  await db.pool.query('CREATE TABLE kv (key text PRIMARY KEY, "version" bigint NOT NULL)');
  const install: PostgresInstallFunction = async (statemaps, version, client) => {
    for (const { payload } of statemaps) {
      await client.query('INSERT INTO kv (key, "version") VALUES ($1, $2)', [(payload as { key: string }).key, version]);
    }
  };
  const source = createMemorySource();
  const replicator = createCohortReplicator({
    source,
    installer: createTransactionalInstaller(db.pool, { install }),
    snapshotStore: createPostgresSnapshotStore(db.pool, { pruneInstalledBookkeeping: true }),
    logger: silentLogger,
    config: { statemapQueueCleanupFreqMs: 10, certifierMessageReceiverCommitFreqMs: 10 },
  });
  replicator.start();
  // Versions 1..3 committed (2 waits for 1), 4 aborted; decisions out of order.
  source.push([candidateRecord(1), candidateRecord(2), candidateRecord(3), candidateRecord(4)]);
  source.push([decisionRecord(5, 2, { safepoint: 1 }), decisionRecord(6, 1, { safepoint: 0 }), decisionRecord(7, 4, { outcome: 'aborted' }), decisionRecord(8, 3, { safepoint: 0 })]);
  source.end();
  const done = await waitFor(replicator, (s) => s.status === 'done', { timeout: 10_000 });
  assert.equal(done.value, 'stopped');
  const rows = await db.pool.query<{ key: string; version: string }>('SELECT key, "version" FROM kv ORDER BY key');
  assert.deepEqual(rows.rows, [{ key: 'k1', version: '1' }, { key: 'k2', version: '2' }, { key: 'k3', version: '3' }]);
  assert.deepEqual(await readReplicationStatus(db.pool), {
    replicated: true,
    schema: 'public',
    snapshot: 4,
    bookkeeping: { watermark: 4, rows: 0, lowest: null, highest: null, coveredBySnapshot: 0, aboveSnapshot: 0 },
  });
  assert.equal(source.commits.at(-1), 4);
});
