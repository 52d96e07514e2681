/**
 * What a cohort database says about its replication, read without changing anything: the
 * persisted snapshot and the exactly-once bookkeeping, in one read-only snapshot of the
 * database so the figures belong together. `talos-replicator status` prints it; a host can
 * show it too.
 */
import type { Pool } from 'pg';
import type { Version } from '../../machines/domain.js';
import * as sql from './sql.js';
import { versionFromColumn } from './versions.js';

export interface InstalledBookkeeping {
  /** Every version at or below it counts as installed (its rows were pruned); null before the first prune. */
  readonly watermark: Version | null;
  /** Versions recorded one row each since the last prune. */
  readonly rows: number;
  readonly lowest: Version | null;
  readonly highest: Version | null;
  /** Rows at or below the persisted snapshot: installed for good, removed by the next prune. */
  readonly coveredBySnapshot: number;
  /** Rows above the persisted snapshot: installed, so a restart skips them, but not yet behind a persisted snapshot. */
  readonly aboveSnapshot: number;
}

export type ReplicationStatus =
  /** No `cohort_snapshot` table in the schema: no replicator has run against it. */
  | { readonly replicated: false; readonly schema: string }
  | {
      readonly replicated: true;
      readonly schema: string;
      /** The persisted snapshot (0 when the row is missing: where a replicator would start). */
      readonly snapshot: Version;
      /** Null when the bookkeeping tables are missing: the snapshot store is used without this project's transactional installer. */
      readonly bookkeeping: InstalledBookkeeping | null;
    };

export async function readReplicationStatus(pool: Pool, schema: string = sql.DEFAULT_SCHEMA): Promise<ReplicationStatus> {
  sql.quoteIdentifier(schema);
  const client = await pool.connect();
  // pg-pool drops its error listener while a client is checked out: a connection the server
  // closes now would otherwise be an unhandled 'error' event. The query then fails on its own.
  const ignore = (): void => undefined;
  client.on('error', ignore);
  let reusable = false;
  try {
    await client.query(sql.BEGIN_READ_ONLY_SNAPSHOT);
    const tables = new Set((await client.query<{ table: string }>(sql.selectExistingTables(schema))).rows.map((row) => row.table));
    if (!tables.has(sql.SNAPSHOT_TABLE)) return { replicated: false, schema };
    const row = (await client.query<{ version: string }>(sql.selectSnapshot(schema))).rows[0];
    const snapshot = row === undefined ? 0 : versionFromColumn(row.version, 'cohort snapshot');
    const bookkeeping = tables.has(sql.INSTALLED_TABLE) && tables.has(sql.WATERMARK_TABLE) ? await readBookkeeping(client, schema, snapshot) : null;
    return { replicated: true, schema, snapshot, bookkeeping };
  } finally {
    // Read only: nothing to keep. A connection whose ROLLBACK failed is not given back.
    reusable = await client.query(sql.ROLLBACK).then(
      () => true,
      () => false,
    );
    client.removeListener('error', ignore);
    client.release(reusable ? undefined : new Error('connection left in an unknown transaction state'));
  }
}

async function readBookkeeping(client: Pick<Pool, 'query'>, schema: string, snapshot: Version): Promise<InstalledBookkeeping> {
  const watermarkRow = (await client.query<{ version: string }>(sql.selectWatermark(schema))).rows[0];
  const watermark = watermarkRow === undefined ? -1 : versionFromColumn(watermarkRow.version, 'bookkeeping watermark');
  const summary = (await client.query<{ rows: string; lowest: string | null; highest: string | null; covered: string }>(sql.summarizeInstalledVersions(schema, snapshot))).rows[0]!;
  const rows = Number(summary.rows);
  const coveredBySnapshot = Number(summary.covered);
  return {
    // -1 is the table's "nothing pruned yet" (see sql.insertWatermarkRow).
    watermark: watermark < 0 ? null : watermark,
    rows,
    lowest: summary.lowest === null ? null : versionFromColumn(summary.lowest, 'installed version'),
    highest: summary.highest === null ? null : versionFromColumn(summary.highest, 'installed version'),
    coveredBySnapshot,
    aboveSnapshot: rows - coveredBySnapshot,
  };
}
