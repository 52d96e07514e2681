import { test } from 'node:test';
import pgLib from 'pg';
import assert from 'node:assert/strict';
import { createTransactionalInstaller } from '../../adapters/postgres/transactionalInstaller.js';
import { PostgresInstallError } from '../../adapters/postgres/errors.js';
import type { RetryNotice } from '../../adapters/postgres/retry.js';
import { usePostgres } from '../support/postgres.js';
import { appliedVersions, barrier, createAppliedLog, item, loggingInstall } from './fixtures.js';

const pg = usePostgres();
const { Pool } = pgLib;

async function setup() {
  const db = await pg.freshDatabase();
  await createAppliedLog(db.pool);
  // Detect deadlocks quickly (default 1 s); new connections of this database pick it up.
  await db.pool.query(`ALTER DATABASE ${db.name} SET deadlock_timeout = '20ms'`);
  const pool = db.newPool({ max: 4 });
  return { db, pool };
}

function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

test('a serialization failure thrown by the user code the first time is retried', async () => {
  const { pool } = await setup();
  const retries: RetryNotice[] = [];
  const user = loggingInstall(async (_version, _client, call) => {
    if (call === 1) throw pgError('40001', 'could not serialize access due to concurrent update');
  });
  const installer = createTransactionalInstaller(pool, { install: user.install, onRetry: (notice) => retries.push(notice) });
  await installer.install([item(3)], 3);
  assert.deepEqual(user.calls, [3, 3]);
  assert.deepEqual(await appliedVersions(pool), [3]);
  assert.equal(retries.length, 1);
  assert.equal(retries[0]!.sqlState, '40001');
  assert.equal(retries[0]!.attempt, 1);
});

test('a retriable code wrapped in a cause chain is recognised too', async () => {
  const { pool } = await setup();
  const user = loggingInstall(async (_version, _client, call) => {
    if (call === 1) throw new Error('repository failed', { cause: pgError('40P01', 'deadlock detected') });
  });
  const installer = createTransactionalInstaller(pool, { install: user.install });
  await installer.install([item(1)], 1);
  assert.deepEqual(user.calls, [1, 1]);
});

test('a real deadlock between two concurrent versions is retried and both apply once', async () => {
  const { db, pool } = await setup();
  await db.pool.query(`CREATE TABLE rows_ab (k text PRIMARY KEY, n int NOT NULL); INSERT INTO rows_ab VALUES ('a', 0), ('b', 0)`);
  const bothLockedFirstRow = barrier(2);
  const retries: RetryNotice[] = [];
  const user = loggingInstall(async (version, client) => {
    // Version 1 locks a then b, version 2 locks b then a: the textbook deadlock.
    const [first, second] = version === 1 ? ['a', 'b'] : ['b', 'a'];
    await client.query('UPDATE rows_ab SET n = n + 1 WHERE k = $1', [first]);
    await bothLockedFirstRow();
    await client.query('UPDATE rows_ab SET n = n + 1 WHERE k = $1', [second]);
  });
  const installer = createTransactionalInstaller(pool, { install: user.install, onRetry: (notice) => retries.push(notice) });
  await Promise.all([installer.install([item(1)], 1), installer.install([item(2)], 2)]);
  assert.deepEqual(retries.map((notice) => notice.sqlState), ['40P01']);
  assert.deepEqual([...(await appliedVersions(pool))].sort(), [1, 2]);
  const rows = await pool.query('SELECT k, n FROM rows_ab ORDER BY k');
  assert.deepEqual(rows.rows, [{ k: 'a', n: 2 }, { k: 'b', n: 2 }], 'the victim rolled back entirely before its retry');
});

test('a real serialization failure under SERIALIZABLE is retried', async () => {
  const { db, pool } = await setup();
  await db.pool.query('CREATE TABLE on_call (doctor text NOT NULL)');
  const bothRead = barrier(2);
  const retries: RetryNotice[] = [];
  // Write skew: each reads what the other writes, then writes.
  const user = loggingInstall(async (version, client) => {
    const [reads, writes] = version === 1 ? ['alice', 'bob'] : ['bob', 'alice'];
    await client.query('SELECT count(*) FROM on_call WHERE doctor = $1', [reads]);
    await bothRead();
    await client.query('INSERT INTO on_call (doctor) VALUES ($1)', [writes]);
  });
  const installer = createTransactionalInstaller(pool, {
    install: user.install,
    isolationLevel: 'serializable',
    onRetry: (notice) => retries.push(notice),
  });
  await Promise.all([installer.install([item(1)], 1), installer.install([item(2)], 2)]);
  assert.ok(retries.length >= 1);
  assert.ok(retries.every((notice) => notice.sqlState === '40001'));
  assert.deepEqual([...(await appliedVersions(pool))].sort(), [1, 2]);
  assert.equal((await pool.query('SELECT count(*)::int AS n FROM on_call')).rows[0].n, 2);
});

test('retries stop after the configured attempts with a typed error', async () => {
  const { pool } = await setup();
  const always = pgError('40001', 'could not serialize access');
  const user = loggingInstall(async () => {
    throw always;
  });
  const installer = createTransactionalInstaller(pool, { install: user.install, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
  const error: unknown = await installer.install([item(8)], 8).then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(error instanceof PostgresInstallError);
  assert.equal(error.attempts, 3);
  assert.equal(error.sqlState, '40001');
  assert.equal(error.cause, always);
  assert.deepEqual(error.versions, [8]);
  assert.equal(error.message, 'Installing version 8 failed after 3 attempts: could not serialize access (SQLSTATE 40001)');
  assert.deepEqual(user.calls, [8, 8, 8]);
  assert.equal(await installer.isInstalled(8), false);
});

test('a non-retriable SQL error is not retried and names the version', async () => {
  const { pool } = await setup();
  const user = loggingInstall(async (_version, client) => {
    await client.query('SELEC 1');
  });
  const retries: RetryNotice[] = [];
  const installer = createTransactionalInstaller(pool, { install: user.install, onRetry: (notice) => retries.push(notice) });
  const error: unknown = await installer.install([item(7)], 7).then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(error instanceof PostgresInstallError);
  assert.equal(error.name, 'PostgresInstallError');
  assert.deepEqual(error.versions, [7]);
  assert.equal(error.attempts, 1);
  assert.equal(error.sqlState, '42601');
  assert.match(error.message, /^Installing version 7 failed after 1 attempt: syntax error at or near "SELEC" \(SQLSTATE 42601\)$/);
  assert.deepEqual(user.calls, [7]);
  assert.deepEqual(retries, []);
  assert.deepEqual(await appliedVersions(pool), []);
});

test('an error without SQLSTATE is not retried either', async () => {
  const { pool } = await setup();
  const user = loggingInstall(async () => {
    throw new TypeError('payload.amount is not a string');
  });
  const installer = createTransactionalInstaller(pool, { install: user.install });
  const error: unknown = await installer.install([item(2)], 2).then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(error instanceof PostgresInstallError);
  assert.ok(error.cause instanceof TypeError);
  assert.equal(error.sqlState, undefined);
  assert.deepEqual(user.calls, [2]);
});

test('a database that cannot be reached surfaces as the typed error too', async () => {
  const pool = new Pool({ connectionString: pg.server().urlFor('no_such_database'), max: 1 });
  try {
    const installer = createTransactionalInstaller(pool, { install: async () => undefined });
    const error: unknown = await installer.install([item(1)], 1).then(() => assert.fail('expected a failure'), (e: unknown) => e);
    assert.ok(error instanceof PostgresInstallError);
    assert.equal(error.sqlState, '3D000');
    assert.match(error.message, /^Installing version 1 failed after 1 attempt: database "no_such_database" does not exist/);
  } finally {
    await pool.end();
  }
});
