/**
 * Creating the adapter's tables: idempotent, and safe when several processes start at once
 * (they take turns on a transaction-scoped advisory lock, see `lockSchemaCreation`).
 */
import type { Pool } from 'pg';
import { inTransaction } from './transaction.js';
import * as sql from './sql.js';

export interface SchemaParts {
  /** `cohort_snapshot` and its SINGLETON row at version 0. */
  readonly snapshot?: boolean;
  /** `replicator_installed_versions`, `replicator_installed_watermark` (with its row) and the claim procedure. */
  readonly bookkeeping?: boolean;
}

export async function ensureAdapterSchema(pool: Pool, schema: string, parts: SchemaParts): Promise<void> {
  await inTransaction(pool, 'read committed', async (client) => {
    await client.query(sql.lockSchemaCreation(schema));
    if (schema !== sql.DEFAULT_SCHEMA) await client.query(sql.createSchema(schema));
    if (parts.snapshot === true) {
      await client.query(sql.createSnapshotTable(schema));
      await client.query(sql.insertSnapshotRow(schema));
    }
    if (parts.bookkeeping === true) {
      await client.query(sql.createInstalledTable(schema));
      await client.query(sql.createWatermarkTable(schema));
      await client.query(sql.insertWatermarkRow(schema));
      const existing = (await client.query<{ prosrc: string; prokind: string }>(sql.selectClaimProcedure(schema))).rows[0];
      if (existing !== undefined && existing.prokind !== 'p') await client.query(sql.dropClaimFunction(schema));
      if (existing?.prokind !== 'p' || existing.prosrc !== sql.claimProcedureBody(schema)) await client.query(sql.createClaimProcedure(schema));
    }
  });
}

/**
 * Run `create` once per owner; concurrent callers share the same attempt, and a failed
 * attempt is forgotten so the next call tries again (the database may be back by then).
 */
export function once(create: () => Promise<void>): () => Promise<void> {
  let pending: Promise<void> | undefined;
  return () => {
    pending ??= create().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
