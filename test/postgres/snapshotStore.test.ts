import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPostgresSnapshotStore } from '../../adapters/postgres/snapshotStore.js';
import { PostgresSnapshotError } from '../../adapters/postgres/errors.js';
import { usePostgres } from '../support/postgres.js';

const pg = usePostgres();

async function snapshotRows(pool: import('pg').Pool, table = 'public.cohort_snapshot'): Promise<Array<{ id: string; version: string }>> {
  return (await pool.query<{ id: string; version: string }>(`SELECT id, "version" FROM ${table}`)).rows;
}

test('a missing table is created with the SINGLETON row at version 0', async () => {
  const db = await pg.freshDatabase();
  const store = createPostgresSnapshotStore(db.pool);
  assert.equal(await store.getSnapshot(), 0);
  assert.deepEqual(await snapshotRows(db.pool), [{ id: 'SINGLETON', version: '0' }]);
});

test('updateSnapshot only ever raises the snapshot', async () => {
  const db = await pg.freshDatabase();
  const store = createPostgresSnapshotStore(db.pool);
  await store.updateSnapshot(10);
  assert.equal(await store.getSnapshot(), 10);
  await store.updateSnapshot(5);
  assert.equal(await store.getSnapshot(), 10);
  await store.updateSnapshot(10);
  assert.equal(await store.getSnapshot(), 10);
  await store.updateSnapshot(11);
  assert.equal(await store.getSnapshot(), 11);
  assert.equal((await snapshotRows(db.pool)).length, 1);
});

test('an existing snapshot survives ensureSchema and a new store (restart)', async () => {
  const db = await pg.freshDatabase();
  await createPostgresSnapshotStore(db.pool).updateSnapshot(42);
  const restarted = createPostgresSnapshotStore(db.newPool({ max: 1 }));
  await restarted.ensureSchema();
  assert.equal(await restarted.getSnapshot(), 42);
});

test('two processes creating the schema at once both succeed and leave one row', async () => {
  const db = await pg.freshDatabase();
  const stores = [db.newPool({ max: 2 }), db.newPool({ max: 2 }), db.newPool({ max: 2 })].map((pool) => createPostgresSnapshotStore(pool));
  await Promise.all(stores.flatMap((store) => [store.ensureSchema(), store.getSnapshot()]));
  assert.deepEqual(await snapshotRows(db.pool), [{ id: 'SINGLETON', version: '0' }]);
});

test('racing updates from several processes keep the highest version', async () => {
  const db = await pg.freshDatabase();
  const stores = [db.newPool({ max: 2 }), db.newPool({ max: 2 })].map((pool) => createPostgresSnapshotStore(pool));
  await stores[0]!.ensureSchema();
  const versions = Array.from({ length: 40 }, (_, i) => (i * 37) % 101);
  await Promise.all(versions.map((version, i) => stores[i % 2]!.updateSnapshot(version)));
  assert.equal(await stores[0]!.getSnapshot(), Math.max(...versions));
});

test('a deleted SINGLETON row comes back: at 0 on read, at the version on update', async () => {
  const db = await pg.freshDatabase();
  const store = createPostgresSnapshotStore(db.pool);
  await store.updateSnapshot(7);
  await db.pool.query('DELETE FROM cohort_snapshot');
  assert.equal(await store.getSnapshot(), 0);
  await db.pool.query('DELETE FROM cohort_snapshot');
  await store.updateSnapshot(9);
  assert.equal(await store.getSnapshot(), 9);
});

test('the schema name is configurable and quoted safely', async () => {
  const db = await pg.freshDatabase();
  const schema = 'cohort "one"; DROP TABLE x';
  const store = createPostgresSnapshotStore(db.pool, { schema });
  await store.updateSnapshot(3);
  assert.equal(await store.getSnapshot(), 3);
  assert.deepEqual(await snapshotRows(db.pool, `"cohort ""one""; DROP TABLE x".cohort_snapshot`), [{ id: 'SINGLETON', version: '3' }]);
  assert.equal((await db.pool.query(`SELECT to_regclass('public.cohort_snapshot') AS t`)).rows[0].t, null);
});

test('versions that are not non-negative safe integers are refused before any SQL', async () => {
  const db = await pg.freshDatabase();
  const store = createPostgresSnapshotStore(db.pool);
  await assert.rejects(store.updateSnapshot(-1), RangeError);
  await assert.rejects(store.updateSnapshot(1.5), RangeError);
  await assert.rejects(store.updateSnapshot(2 ** 53), RangeError);
});

test('failures surface as PostgresSnapshotError naming the operation, version and SQLSTATE', async () => {
  const db = await pg.freshDatabase();
  const store = createPostgresSnapshotStore(db.pool);
  await store.ensureSchema();
  await db.pool.query('ALTER TABLE cohort_snapshot ADD CONSTRAINT below_three CHECK ("version" < 3)');
  const updateError: unknown = await store.updateSnapshot(5).then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(updateError instanceof PostgresSnapshotError);
  assert.equal(updateError.operation, 'update');
  assert.equal(updateError.version, 5);
  assert.equal(updateError.sqlState, '23514');
  assert.match(updateError.message, /^Persisting cohort snapshot 5 failed: .*below_three.*\(SQLSTATE 23514\)$/);

  await db.pool.query('ALTER TABLE cohort_snapshot DROP CONSTRAINT below_three');
  await db.pool.query(`UPDATE cohort_snapshot SET "version" = $1`, [2n ** 60n]);
  const readError: unknown = await store.getSnapshot().then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(readError instanceof PostgresSnapshotError);
  assert.equal(readError.operation, 'read');
  assert.match(readError.message, /not a safe integer/);
});
