/**
 * The lock between claiming a version and pruning the bookkeeping, shown step by step rather
 * than by racing (pruning.test.ts races them): a transaction is held open at the dangerous
 * moment, the other side is shown waiting for it in `pg_stat_activity`, and then the held one
 * commits. Under every isolation level the installer offers:
 *
 * - a redelivered version whose row a prune in progress is deleting must not be claimed
 *   again once that prune commits (it is at or below the new watermark);
 * - a prune that overlaps a claim still removes every row at or below its version: it waits
 *   for the claim to commit instead of missing the row that claim is writing (which would stay
 *   behind, harmless but never pruned).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pool, PoolClient } from 'pg';
import { pruneInstalledVersions } from '../../adapters/postgres/bookkeeping.js';
import { begin, claimVersionsInline, COMMIT, DEFAULT_SCHEMA, type IsolationLevel } from '../../adapters/postgres/sql.js';
import { createTransactionalInstaller } from '../../adapters/postgres/transactionalInstaller.js';
import { usePostgres } from '../support/postgres.js';
import { appliedVersions, createAppliedLog, item, loggingInstall, range } from './fixtures.js';

const pg = usePostgres();
const ISOLATION_LEVELS: readonly IsolationLevel[] = ['read committed', 'repeatable read', 'serializable'];

/** Resolves once some other session of this database waits for a lock. */
async function someoneWaitsForALock(pool: Pool, than: PoolClient): Promise<void> {
  const { rows } = await than.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const holder = rows[0]!.pid;
  for (let polls = 0; ; polls += 1) {
    const waiting = await pool.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1 AND $1 = ANY (pg_blocking_pids(pid))`,
      [holder],
    );
    if (waiting.rowCount! > 0) return;
    if (polls > 2_000) assert.fail('no session ever waited for the held transaction');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function setUp(isolation: IsolationLevel, installedUpTo: number) {
  const { pool, newPool } = await pg.freshDatabase();
  await createAppliedLog(pool);
  const user = loggingInstall();
  // Its own pool: the held transaction below must not take a connection the installer needs.
  const installer = createTransactionalInstaller(newPool({ max: 2 }), { install: user.install, isolationLevel: isolation });
  await installer.ensureSchema();
  for (const version of range(1, installedUpTo)) await installer.install([item(version)], version);
  return { pool, installer, user };
}

for (const isolation of ISOLATION_LEVELS) {
  test(`${isolation}: a redelivery that meets a prune in progress waits for it and then skips the pruned version`, async () => {
    const { pool, installer, user } = await setUp(isolation, 4);
    const pruner = await pool.connect();
    try {
      await pruner.query(begin('read committed'));
      assert.equal(await pruneInstalledVersions(pruner, DEFAULT_SCHEMA, 4), 4);
      const redelivered = installer.install([item(3)], 3);
      await someoneWaitsForALock(pool, pruner);
      await pruner.query(COMMIT);
      await redelivered;
    } finally {
      pruner.release();
    }
    assert.deepEqual(await appliedVersions(pool), [1, 2, 3, 4], 'version 3 applied once');
    assert.deepEqual(user.calls, [1, 2, 3, 4], 'the user code was not even called for the redelivery');
  });

  test(`${isolation}: a prune that meets a claim in progress waits for it, then prunes the claimed row too`, async () => {
    const { pool, installer, user } = await setUp(isolation, 4);
    const claimer = await pool.connect();
    try {
      // An install of version 5 half-way: claimed and applied, not committed yet.
      const opened = (await claimer.query(`${begin(isolation)}; ${claimVersionsInline(DEFAULT_SCHEMA, [5])}`)) as unknown as Array<{ rows: unknown[] }>;
      assert.equal(opened.at(-1)!.rows.length, 1, 'version 5 claimed');
      await claimer.query('INSERT INTO applied_log ("version", items) VALUES (5, 1)');
      const pruned = installer.pruneInstalled(5);
      await someoneWaitsForALock(pool, claimer);
      await claimer.query(COMMIT);
      assert.equal(await pruned, 5, 'the prune removes the rows of 1 to 5 once the claim committed');
    } finally {
      claimer.release();
    }
    await installer.install([item(5)], 5);
    assert.deepEqual(await appliedVersions(pool), [1, 2, 3, 4, 5], 'version 5 applied once, the redelivery skipped');
    assert.deepEqual(user.calls, [1, 2, 3, 4]);
  });
}
