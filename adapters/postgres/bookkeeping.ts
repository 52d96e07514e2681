/**
 * The installed-versions bookkeeping that makes installs exactly-once: claim versions inside
 * the install transaction, prune rows the persisted snapshot already covers.
 */
import type { ClientBase } from 'pg';
import type { Version } from '../../machines/domain.js';
import * as sql from './sql.js';
import type { Queryable } from './transaction.js';
import { versionFromColumn } from './versions.js';

/**
 * Whether `error` is a one-version claim (`sql.claimVersionInline`) refusing a version that is
 * installed already: the bookkeeping table's primary key rejecting a recorded version (23505) or
 * the NULL the claim gives for one at or below the watermark (23502).
 */
export function isClaimRefusal(error: unknown, schema: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, table, schema: errorSchema } = error as { code?: unknown; table?: unknown; schema?: unknown };
  return (code === '23505' || code === '23502') && table === sql.INSTALLED_TABLE && (errorSchema === undefined || errorSchema === schema);
}

/** The versions a batch claim returned (see `sql.claimVersionsInline`): those not installed yet, now recorded in the current transaction. */
export function claimedVersions(result: { rows: ReadonlyArray<{ version: string }> }): ReadonlySet<Version> {
  return new Set(result.rows.map((row) => versionFromColumn(row.version)));
}

/**
 * Forget the rows at or below `upToVersion` and raise the watermark to it, in the caller's
 * transaction. Only call it with a version at or below the persisted snapshot: everything
 * there is installed for good, so the watermark alone now answers "already installed?".
 * Returns the number of rows removed.
 */
export async function pruneInstalledVersions(client: ClientBase, schema: string, upToVersion: Version): Promise<number> {
  await client.query(sql.lockInstalledForPrune(schema));
  await client.query(sql.raiseWatermark(schema, upToVersion));
  const result = await client.query(sql.deleteInstalledUpTo(schema, upToVersion));
  return result.rowCount ?? 0;
}

export async function isVersionInstalled(db: Queryable, schema: string, version: Version): Promise<boolean> {
  const result = await db.query<{ installed: boolean }>(sql.selectIsInstalled(schema, version));
  return result.rows[0]?.installed === true;
}
