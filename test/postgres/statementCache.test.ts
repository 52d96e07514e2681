import { test } from 'node:test';
import assert from 'node:assert/strict';
import pgLib, { type PoolClient } from 'pg';
import { createTransactionalInstaller, type PostgresInstallFunction } from '../../adapters/postgres/transactionalInstaller.js';
import type { RetryNotice } from '../../adapters/postgres/retry.js';
import type { Version } from '../../machines/domain.js';
import { usePostgres } from '../support/postgres.js';
import { appliedVersions, createAppliedLog, item, loggingInstall } from './fixtures.js';

const pg = usePostgres();
const INSERT = 'INSERT INTO applied_log ("version", items) VALUES ($1, $2)';

interface Prepared {
  readonly name: string;
  readonly statement: string;
  readonly runs: number;
}

/** The prepared statements of the install's own connection, as Postgres lists them. */
async function preparedOn(client: PoolClient): Promise<Prepared[]> {
  const { rows } = await client.query<{ name: string; statement: string; runs: string }>(
    'SELECT name, statement, (generic_plans + custom_plans)::text AS runs FROM pg_prepared_statements ORDER BY name',
  );
  return rows.map((row) => ({ name: row.name, statement: row.statement, runs: Number(row.runs) }));
}

/** One connection, so every install runs on the same session and its prepared statements. */
async function setup() {
  const db = await pg.freshDatabase();
  await createAppliedLog(db.pool);
  return db.newPool({ max: 1 });
}

async function installAll(install: (statemaps: [], version: Version) => Promise<void>, versions: readonly Version[]) {
  for (const version of versions) await install([], version);
}

test('a parameterized install statement is prepared from its second use and then only bound and executed', async () => {
  const pool = await setup();
  let seen: Prepared[] = [];
  let viewIsClient = false;
  const user = loggingInstall(async (version, client) => {
    if (version === 7) {
      seen = await preparedOn(client);
      // The view is the client the install code always had: its other methods and identity work.
      viewIsClient = client instanceof pgLib.Client && client.escapeIdentifier('a"b') === '"a""b"';
    }
  });
  const installer = createTransactionalInstaller(pool, { install: user.install });
  await installAll((statemaps, version) => installer.install(statemaps, version), [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(await appliedVersions(pool), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(seen.length, 1, `one prepared statement, got ${JSON.stringify(seen)}`);
  assert.match(seen[0]!.name, /^talos_replicator_[0-9a-f]{24}$/);
  assert.equal(seen[0]!.statement, INSERT);
  // Prepared at version 2 and run for versions 2 to 6 before version 7 looked.
  assert.equal(seen[0]!.runs, 5);
  assert.ok(viewIsClient);
  await pool.end();
});

test('statementCacheSize 0 prepares nothing, and the cache holds at most statementCacheSize texts', async () => {
  for (const [size, expected] of [
    [0, 0],
    [1, 1],
    [5, 2],
  ] as const) {
    const pool = await setup();
    let seen: Prepared[] = [];
    const install: PostgresInstallFunction = async (_statemaps, version, client) => {
      await client.query(INSERT, [version, 0]);
      await client.query('SELECT count(*) FROM applied_log WHERE "version" = $1', [version]);
      if (version === 4) seen = await preparedOn(client);
    };
    const installer = createTransactionalInstaller(pool, { install, statementCacheSize: size });
    await installAll((statemaps, version) => installer.install(statemaps, version), [1, 2, 3, 4]);
    assert.equal(seen.length, expected, `statementCacheSize ${size}: ${JSON.stringify(seen)}`);
    assert.deepEqual(await appliedVersions(pool), [1, 2, 3, 4]);
    await pool.end();
  }
});

test('queries the cache does not name run as they are: no values, several statements, a name of their own, a callback', async () => {
  const pool = await setup();
  let seen: Prepared[] = [];
  const install: PostgresInstallFunction = async (_statemaps, version, client) => {
    await client.query(`INSERT INTO applied_log ("version", items) VALUES (${version}, 1); INSERT INTO applied_log ("version", items) VALUES (${version}, 2)`);
    await client.query({ name: 'users_own', text: 'SELECT $1::bigint AS v', values: [version] });
    await new Promise<void>((resolve, reject) => client.query('SELECT $1::int AS n', [1], (error: Error | undefined) => (error ? reject(error) : resolve())));
    if (version === 3) seen = await preparedOn(client);
  };
  const installer = createTransactionalInstaller(pool, { install });
  await installAll((statemaps, version) => installer.install(statemaps, version), [1, 2, 3]);
  assert.deepEqual(
    seen.map((row) => row.name),
    ['users_own'],
  );
  assert.deepEqual(await appliedVersions(pool), [1, 1, 2, 2, 3, 3]);
  await pool.end();
});

test('a prepared statement whose result type changed (a column added) is retried at once, unprepared, and applied once', async () => {
  const pool = await setup();
  const retries: RetryNotice[] = [];
  const user = loggingInstall(async (version, client) => {
    await client.query('SELECT * FROM applied_log WHERE "version" = $1', [version]);
  });
  const installer = createTransactionalInstaller(pool, { install: user.install, onRetry: (notice) => retries.push(notice) });
  await installAll((statemaps, version) => installer.install(statemaps, version), [1, 2, 3]);
  await pool.query('ALTER TABLE applied_log ADD COLUMN note text');
  await installAll((statemaps, version) => installer.install(statemaps, version), [4, 5]);
  assert.deepEqual(user.calls, [1, 2, 3, 4, 4, 5]);
  assert.deepEqual(await appliedVersions(pool), [1, 2, 3, 4, 5]);
  assert.equal(retries.length, 1);
  assert.equal(retries[0]!.sqlState, '0A000');
  await pool.end();
});

test('the same SQL error without a prepared statement behind it is not retried by the cache', async () => {
  const pool = await setup();
  const user = loggingInstall(async () => {
    // An 0A000 of the install code's own, not of a statement the cache prepared.
    throw Object.assign(new Error('not supported'), { code: '0A000' });
  });
  const installer = createTransactionalInstaller(pool, { install: user.install, retry: { attempts: 3 } });
  await assert.rejects(() => installer.install([item(1)], 1), /not supported/);
  assert.deepEqual(user.calls, [1]);
  await pool.end();
});

test('a prepared query keeps the rest of its config (rowMode) and its results', async () => {
  const pool = await setup();
  const rows: unknown[] = [];
  const install: PostgresInstallFunction = async (_statemaps, version, client) => {
    await client.query(INSERT, [version, 0]);
    rows.push((await client.query({ text: 'SELECT $1::bigint::text AS v, 7 AS n', values: [version], rowMode: 'array' })).rows);
  };
  const installer = createTransactionalInstaller(pool, { install });
  await installAll((statemaps, version) => installer.install(statemaps, version), [1, 2, 3]);
  // Unprepared at version 1, prepared from version 2: the same rows either way.
  assert.deepEqual(rows, [[['1', 7]], [['2', 7]], [['3', 7]]]);
  assert.deepEqual(await appliedVersions(pool), [1, 2, 3]);
  await pool.end();
});
