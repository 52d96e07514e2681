import { test } from 'node:test';
import Pg from 'pg';
import assert from 'node:assert/strict';
import { createTransactionalInstaller } from '../../adapters/postgres/transactionalInstaller.js';
import { createPostgresSnapshotStore } from '../../adapters/postgres/snapshotStore.js';
import { PostgresInstallError, TransactionAbortedError } from '../../adapters/postgres/errors.js';
import { CLAIM_PROCEDURE, createClaimProcedure } from '../../adapters/postgres/sql.js';
import { usePostgres } from '../support/postgres.js';
import { appliedVersions, createAppliedLog, item, job, loggingInstall, range } from './fixtures.js';

const pg = usePostgres();

async function setup(max = 8) {
  const db = await pg.freshDatabase();
  await createAppliedLog(db.pool);
  return { db, pool: max === 8 ? db.pool : db.newPool({ max }) };
}

test('the same version installed twice in a row is applied once', async () => {
  const { pool } = await setup();
  const user = loggingInstall();
  const skipped: number[][] = [];
  const installer = createTransactionalInstaller(pool, { install: user.install, onSkipped: (versions) => skipped.push([...versions]) });
  await installer.install([item(5)], 5);
  await installer.install([item(5)], 5);
  assert.deepEqual(await appliedVersions(pool), [5]);
  assert.deepEqual(user.calls, [5], 'user code is not even called for the redelivery');
  assert.deepEqual(skipped, [[5]]);
  assert.equal(await installer.isInstalled(5), true);
  assert.equal(await installer.isInstalled(6), false);
});

test('the same version installed concurrently (one process, and two processes) is applied once', async () => {
  const { db, pool } = await setup();
  // Slow user code keeps the first transaction open while the others arrive.
  const user = loggingInstall(async (_version, client) => void (await client.query('SELECT pg_sleep(0.05)')));
  const here = createTransactionalInstaller(pool, { install: user.install });
  const elsewhere = createTransactionalInstaller(db.newPool({ max: 4 }), { install: user.install });
  await Promise.all([
    ...range(1, 4).map(() => here.install([item(9)], 9)),
    ...range(1, 4).map(() => elsewhere.install([item(9)], 9)),
    ...range(1, 3).map(() => elsewhere.installBatch([job(8), job(9), job(10)])),
  ]);
  const applied = await appliedVersions(pool);
  assert.deepEqual([...applied].sort((a, b) => a - b), [8, 9, 10]);
  assert.deepEqual([...user.calls].sort((a, b) => a - b), [8, 9, 10]);
});

test('a crash after the install committed but before the snapshot was persisted does not apply twice', async () => {
  const { db } = await setup();
  const firstRun = db.newPool({ max: 4 });
  const user = loggingInstall();
  const installer = createTransactionalInstaller(firstRun, { install: user.install });
  const store = createPostgresSnapshotStore(firstRun);
  for (const version of range(1, 5)) await installer.install([item(version)], version);
  await store.updateSnapshot(3);
  await firstRun.end(); // the process dies: versions 4 and 5 are installed, the snapshot says 3

  const secondRun = db.newPool({ max: 4 });
  const restartedUser = loggingInstall();
  const restarted = createTransactionalInstaller(secondRun, { install: restartedUser.install });
  const restartedStore = createPostgresSnapshotStore(secondRun);
  const snapshot = await restartedStore.getSnapshot();
  assert.equal(snapshot, 3);
  // Kafka redelivers from the committed offset; be harsher than the core and redeliver everything.
  for (const version of range(1, 6)) await restarted.install([item(version)], version);
  assert.deepEqual(await appliedVersions(secondRun), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(restartedUser.calls, [6]);
});

test('a crash inside the install transaction rolls back the user writes and the bookkeeping together', async () => {
  const { pool } = await setup();
  const user = loggingInstall(async (version, client, call) => {
    if (call === 1) {
      await client.query('INSERT INTO applied_log ("version", items) VALUES ($1, -1)', [version]);
      await client.query('SELECT pg_terminate_backend(pg_backend_pid())'); // the connection dies mid-transaction
    }
  });
  const installer = createTransactionalInstaller(pool, { install: user.install });
  const error: unknown = await installer.install([item(4)], 4).then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(error instanceof PostgresInstallError);
  assert.deepEqual(error.versions, [4]);
  assert.equal(error.sqlState, '57P01');
  assert.deepEqual(await appliedVersions(pool), []);
  assert.equal(await installer.isInstalled(4), false);

  await installer.install([item(4)], 4); // the core's retry
  assert.deepEqual(await appliedVersions(pool), [4]);
});

test('a batch gives the same result as installing one by one, in version order', async () => {
  const { db } = await setup();
  const single = await setup();
  const batchUser = loggingInstall();
  const singleUser = loggingInstall();
  const batched = createTransactionalInstaller(db.pool, { install: batchUser.install });
  const oneByOne = createTransactionalInstaller(single.pool, { install: singleUser.install });
  const jobs = range(1, 12).map((version) => ({ version, statemaps: range(1, version % 3).map(() => item(version)) }));
  // Out of order and with a duplicate: the adapter restores version order and installs once.
  await batched.installBatch([jobs[2]!, jobs[0]!, jobs[1]!, jobs[0]!]);
  await batched.installBatch(jobs.slice(3));
  for (const { version, statemaps } of jobs) await oneByOne.install(statemaps, version);
  const rows = 'SELECT "version", items FROM applied_log ORDER BY seq';
  assert.deepEqual((await db.pool.query(rows)).rows, (await single.pool.query(rows)).rows);
  assert.deepEqual(batchUser.calls, range(1, 12));
});

test('with skipVersionsWithoutStatemaps a version without statemaps needs no transaction: no bookkeeping row, no call, no connection', async () => {
  const { db } = await setup();
  const user = loggingInstall();
  const closed = db.newPool({ max: 1 });
  await closed.end(); // any query on it would now fail
  const installer = createTransactionalInstaller(closed, { install: user.install, skipVersionsWithoutStatemaps: true });
  await installer.install([], 7);
  await installer.installBatch([{ version: 8, statemaps: [] }, { version: 9, statemaps: [] }]);
  await installer.installBatch([]);
  assert.deepEqual(user.calls, []);
  const plain = createTransactionalInstaller(db.pool, { install: user.install });
  assert.equal(await plain.isInstalled(7), false);
  // Without the option an empty version is installed like any other (user code may audit it).
  await plain.install([], 7);
  assert.deepEqual(user.calls, [7]);
  assert.equal(await plain.isInstalled(7), true);
});

test('a batch skips versions already installed and applies the rest', async () => {
  const { pool } = await setup();
  const user = loggingInstall();
  const skipped: number[][] = [];
  const installer = createTransactionalInstaller(pool, { install: user.install, onSkipped: (versions) => skipped.push([...versions]) });
  await installer.install([item(3)], 3);
  await installer.install([item(5)], 5);
  await installer.installBatch(range(1, 6).map(job));
  assert.deepEqual(await appliedVersions(pool), [3, 5, 1, 2, 4, 6]);
  assert.deepEqual(user.calls, [3, 5, 1, 2, 4, 6]);
  assert.deepEqual(skipped, [[3, 5]]);
  await installer.installBatch([]);
});

test('a failing version rolls the whole batch back and is named in the error', async () => {
  const { pool } = await setup();
  const user = loggingInstall(async (version) => {
    if (version === 2) throw new Error('boom in user code');
  });
  const installer = createTransactionalInstaller(pool, { install: user.install });
  const error: unknown = await installer.installBatch(range(1, 3).map(job)).then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(error instanceof PostgresInstallError);
  assert.deepEqual(error.versions, [1, 2, 3]);
  assert.equal(error.failedVersion, 2);
  assert.equal(error.attempts, 1);
  assert.match(error.message, /^Installing versions 1, 2, 3 failed at version 2 after 1 attempt: boom in user code$/);
  assert.deepEqual(await appliedVersions(pool), []);
  for (const version of range(1, 3)) assert.equal(await installer.isInstalled(version), false);
});

test('a user install that swallows an SQL error is reported, not counted as installed', async () => {
  const { pool } = await setup();
  const installer = createTransactionalInstaller(pool, {
    async install(_statemaps, version, client) {
      await client.query('INSERT INTO applied_log ("version", items) VALUES ($1, 0)', [version]);
      await client.query('SELECT * FROM no_such_table').catch(() => undefined);
    },
  });
  const error: unknown = await installer.install([item(1)], 1).then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(error instanceof PostgresInstallError);
  assert.ok(error.cause instanceof TransactionAbortedError);
  assert.match(error.message, /^Installing version 1 failed after 1 attempt: COMMIT rolled back/);
  assert.equal(await installer.isInstalled(1), false);
  assert.deepEqual(await appliedVersions(pool), []);
});

test('bookkeeping lives in the configured schema', async () => {
  const { pool } = await setup();
  const user = loggingInstall();
  const installer = createTransactionalInstaller(pool, { install: user.install, schema: 'replication' });
  await installer.install([item(1)], 1);
  const tables = await pool.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'replication' ORDER BY 1`);
  assert.deepEqual(tables.rows.map((row) => row.table_name), ['replicator_installed_versions', 'replicator_installed_watermark']);
  const functions = await pool.query(`SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'replication'`);
  assert.deepEqual(functions.rows.map((row) => row.proname), [CLAIM_PROCEDURE]);
  await assert.rejects(installer.install([], -3), RangeError);
});

test('a role that did not create the claim procedure still starts and installs through it (the schema step leaves an unchanged procedure alone)', async () => {
  const { db, pool } = await setup();
  const owner = createTransactionalInstaller(pool, { install: loggingInstall().install });
  await owner.ensureSchema();
  const role = `replicator_${db.name}`.slice(0, 60);
  await pool.query(`CREATE ROLE "${role}" LOGIN PASSWORD 'secret'`);
  await pool.query(`GRANT CREATE, USAGE ON SCHEMA public TO "${role}"`);
  await pool.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "${role}"`);
  await pool.query(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "${role}"`);
  const url = new URL(db.url);
  url.username = role;
  url.password = 'secret';
  const asRole = new Pg.Pool({ connectionString: url.toString(), max: 2 });
  try {
    const user = loggingInstall();
    const installer = createTransactionalInstaller(asRole, { install: user.install });
    await installer.install([item(1)], 1);
    await installer.install([item(1)], 1);
    assert.deepEqual(user.calls, [1]);
    assert.deepEqual(await appliedVersions(pool), [1]);
  } finally {
    await asRole.end();
  }
});

test('the claim procedure works in a schema whose name needs quoting, and refuses a schema that would end its body', async () => {
  const { pool } = await setup();
  const user = loggingInstall();
  const skipped: number[][] = [];
  const schema = 'Odd "name" $x$';
  const installer = createTransactionalInstaller(pool, { install: user.install, schema, onSkipped: (versions) => skipped.push([...versions]) });
  await installer.install([item(1)], 1);
  await installer.install([item(1)], 1);
  assert.deepEqual(user.calls, [1]);
  assert.deepEqual(skipped, [[1]]);
  assert.throws(() => createClaimProcedure('x$talos_claim$y'), /must not contain \$talos_claim\$/);
});
