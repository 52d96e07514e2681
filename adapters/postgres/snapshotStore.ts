/**
 * The cohort snapshot on the Talos convention: `cohort_snapshot`, row 'SINGLETON', only
 * ever raised. Optionally prunes the installer's bookkeeping in the same transaction, since
 * a persisted snapshot is exactly the proof that every version at or below it is installed.
 */
import type { Pool } from 'pg';
import type { SnapshotStore, Version } from '../../machines/domain.js';
import { pruneInstalledVersions } from './bookkeeping.js';
import { PostgresSnapshotError } from './errors.js';
import { resolveRetryPolicy, withRetry, type RetryOptions } from './retry.js';
import { ensureAdapterSchema, once } from './schema.js';
import * as sql from './sql.js';
import { inTransaction } from './transaction.js';
import { assertVersion, versionFromColumn } from './versions.js';

export interface PostgresSnapshotStoreOptions {
  /** Schema of `cohort_snapshot` (and of the bookkeeping tables when pruning). Default `public`. */
  readonly schema?: string;
  /**
   * After raising the snapshot, delete the transactional installer's bookkeeping rows at or
   * below it, in the same transaction. Use the installer's schema.
   */
  readonly pruneInstalledBookkeeping?: boolean;
  /** Backoff for serialization failures and deadlocks. */
  readonly retry?: RetryOptions;
}

export interface PostgresSnapshotStore extends SnapshotStore {
  /** Create the table (and the row at version 0) if missing. The other methods call it once on their own. */
  ensureSchema(): Promise<void>;
}

export function createPostgresSnapshotStore(pool: Pool, options: PostgresSnapshotStoreOptions = {}): PostgresSnapshotStore {
  const schema = options.schema ?? sql.DEFAULT_SCHEMA;
  sql.quoteIdentifier(schema); // fail at construction, not at the first read
  const prune = options.pruneInstalledBookkeeping === true;
  const policy = resolveRetryPolicy(options.retry);
  const ensureSchema = once(() => ensureAdapterSchema(pool, schema, { snapshot: true, bookkeeping: prune }));

  async function readSnapshot(): Promise<Version> {
    const first = await pool.query<{ version: string }>(sql.selectSnapshot(schema));
    if (first.rows[0] !== undefined) return versionFromColumn(first.rows[0].version, 'cohort snapshot');
    // Someone deleted the row since ensureSchema: put back the Talos default rather than fail.
    await pool.query(sql.insertSnapshotRow(schema));
    const second = await pool.query<{ version: string }>(sql.selectSnapshot(schema));
    return versionFromColumn(second.rows[0]?.version ?? 0, 'cohort snapshot');
  }

  async function writeSnapshot(version: Version): Promise<void> {
    if (!prune) {
      await pool.query(sql.raiseSnapshot(schema, version));
      return;
    }
    await inTransaction(pool, 'read committed', async (client) => {
      // The prune first: it waits for the installs in flight, and should not hold the snapshot row meanwhile.
      // Safe even when the row held a higher version: `version` is below it then.
      await pruneInstalledVersions(client, schema, version);
      await client.query(sql.raiseSnapshot(schema, version));
    });
  }

  return {
    ensureSchema,

    async getSnapshot() {
      const outcome = await withRetry(policy, async () => {
        await ensureSchema();
        return readSnapshot();
      });
      if (!outcome.ok) throw new PostgresSnapshotError({ operation: 'read', cause: outcome.error });
      return outcome.value;
    },

    async updateSnapshot(version) {
      assertVersion(version);
      const outcome = await withRetry(policy, async () => {
        await ensureSchema();
        await writeSnapshot(version);
      });
      if (!outcome.ok) throw new PostgresSnapshotError({ operation: 'update', version, cause: outcome.error });
    },
  };
}
