import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import { createTransactionalInstaller } from '../../adapters/postgres/transactionalInstaller.js';
import { createPostgresSnapshotStore } from '../../adapters/postgres/snapshotStore.js';
import { usePostgres } from '../support/postgres.js';
import { appliedVersions, createAppliedLog, item, loggingInstall, range } from './fixtures.js';

const pg = usePostgres();

async function bookkeeping(pool: Pool): Promise<{ rows: number[]; watermark: number }> {
  const rows = await pool.query<{ version: string }>('SELECT "version" FROM replicator_installed_versions ORDER BY 1');
  const watermark = await pool.query<{ version: string }>('SELECT "version" FROM replicator_installed_watermark');
  return { rows: rows.rows.map((row) => Number(row.version)), watermark: Number(watermark.rows[0]?.version) };
}

async function installed(pool: Pool, upTo: number) {
  await createAppliedLog(pool);
  const user = loggingInstall();
  const installer = createTransactionalInstaller(pool, { install: user.install });
  for (const version of range(1, upTo)) await installer.install([item(version)], version);
  return { installer, user };
}

test('updating the snapshot with pruning removes bookkeeping at and below it, in the same transaction', async () => {
  const { pool } = await pg.freshDatabase();
  const { installer, user } = await installed(pool, 10);
  const store = createPostgresSnapshotStore(pool, { pruneInstalledBookkeeping: true });
  await store.updateSnapshot(6);
  assert.equal(await store.getSnapshot(), 6);
  assert.deepEqual(await bookkeeping(pool), { rows: [7, 8, 9, 10], watermark: 6 });

  // Pruned versions still count as installed: a redelivery is skipped, not re-applied.
  assert.equal(await installer.isInstalled(3), true);
  assert.equal(await installer.isInstalled(6), true);
  await installer.install([item(3)], 3);
  await installer.installBatch([{ version: 6, statemaps: [] }, { version: 11, statemaps: [item(11)] }]);
  assert.deepEqual(await appliedVersions(pool), [...range(1, 10), 11]);
  assert.deepEqual(user.calls, [...range(1, 10), 11]);
});

test('a lower snapshot update neither lowers the snapshot nor the watermark', async () => {
  const { pool } = await pg.freshDatabase();
  await installed(pool, 5);
  const store = createPostgresSnapshotStore(pool, { pruneInstalledBookkeeping: true });
  await store.updateSnapshot(4);
  await store.updateSnapshot(2);
  assert.equal(await store.getSnapshot(), 4);
  assert.deepEqual(await bookkeeping(pool), { rows: [5], watermark: 4 });
});

test('without the option the snapshot store leaves bookkeeping alone', async () => {
  const { pool } = await pg.freshDatabase();
  await installed(pool, 3);
  await createPostgresSnapshotStore(pool).updateSnapshot(3);
  assert.deepEqual(await bookkeeping(pool), { rows: [1, 2, 3], watermark: -1 });
});

test('pruneInstalled can be called directly and reports what it removed', async () => {
  const { pool } = await pg.freshDatabase();
  const { installer } = await installed(pool, 8);
  assert.equal(await installer.pruneInstalled(5), 5);
  assert.equal(await installer.pruneInstalled(5), 0);
  assert.equal(await installer.pruneInstalled(3), 0);
  assert.deepEqual(await bookkeeping(pool), { rows: [6, 7, 8], watermark: 5 });
  await assert.rejects(installer.pruneInstalled(-1), RangeError);
});

test('a prune racing with redelivery of the versions it prunes never lets one apply twice', async () => {
  const { pool, newPool } = await pg.freshDatabase();
  const { user } = await installed(pool, 0);
  // Separate pools play separate processes: a replicator redelivering, another pruning.
  const redeliverer = createTransactionalInstaller(newPool({ max: 4 }), { install: user.install });
  const pruner = createTransactionalInstaller(newPool({ max: 2 }), { install: user.install });
  for (let round = 1; round <= 15; round += 1) {
    const top = round * 4;
    await redeliverer.installBatch(range(top - 3, top).map((version) => ({ version, statemaps: [item(version)] })));
    await Promise.all([
      pruner.pruneInstalled(top),
      ...range(top - 3, top).map((version) => redeliverer.install([item(version)], version)),
      redeliverer.installBatch(range(Math.max(1, top - 5), top).map((version) => ({ version, statemaps: [item(version)] }))),
    ]);
  }
  assert.deepEqual(await appliedVersions(pool), range(1, 60));
});
