/**
 * Fixtures for the installer tests: an install whose SQL is deliberately NOT idempotent
 * (a plain INSERT per call), so any double application shows up as a duplicate row.
 */
import type { Pool, PoolClient } from 'pg';
import type { InstallJob, StatemapItem, Version } from '../../machines/domain.js';
import type { PostgresInstallFunction } from '../../adapters/postgres/transactionalInstaller.js';

export async function createAppliedLog(pool: Pool): Promise<void> {
  await pool.query('CREATE TABLE IF NOT EXISTS applied_log (seq bigserial PRIMARY KEY, "version" bigint NOT NULL, items int NOT NULL)');
}

/** Versions in the order they were applied (one entry per application). */
export async function appliedVersions(pool: Pool): Promise<Version[]> {
  const result = await pool.query<{ version: string }>('SELECT "version" FROM applied_log ORDER BY seq');
  return result.rows.map((row) => Number(row.version));
}

export interface LoggingInstall {
  readonly install: PostgresInstallFunction;
  /** Versions the user code was called with, including calls whose transaction rolled back. */
  readonly calls: Version[];
}

export function loggingInstall(before?: (version: Version, client: PoolClient, call: number) => Promise<void>): LoggingInstall {
  const calls: Version[] = [];
  return {
    calls,
    async install(statemaps, version, client) {
      calls.push(version);
      await before?.(version, client, calls.length);
      await client.query('INSERT INTO applied_log ("version", items) VALUES ($1, $2)', [version, statemaps.length]);
    },
  };
}

export function item(version: Version, payload: unknown = {}, action = 'NOTE'): StatemapItem {
  return { action, version, safepoint: null, payload };
}

export function job(version: Version): InstallJob {
  return { version, statemaps: [item(version)] };
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Resolves once `count` parties have arrived; lets two transactions interleave on purpose. */
export function barrier(count: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => (release = resolve));
  return () => {
    arrived += 1;
    if (arrived === count) release();
    return all;
  };
}
