/**
 * An `Installer` whose installs are exactly-once in Postgres: the user's SQL and a
 * bookkeeping row for the version commit in one transaction, and a version whose row
 * exists is never handed to the user's code again, across crashes, retries and redelivery.
 */
import type { Pool, PoolClient } from 'pg';
import type { Installer, InstallJob, StatemapItem, Version } from '../../machines/domain.js';
import { claimedVersions, isClaimRefusal, isVersionInstalled, pruneInstalledVersions } from './bookkeeping.js';
import { PostgresInstallError } from './errors.js';
import { resolveRetryPolicy, withRetry, type RetryNotice, type RetryOptions } from './retry.js';
import { ensureAdapterSchema, once } from './schema.js';
import { createStatementCache, DEFAULT_STATEMENT_CACHE_SIZE } from './statementCache.js';
import { claimVersionInline, claimVersionsInline, DEFAULT_SCHEMA, quoteIdentifier } from './sql.js';
import { inTransaction, type IsolationLevel } from './transaction.js';
import { createTransactionLanes } from './transactionLanes.js';
import { assertVersion } from './versions.js';

/**
 * The user's install: apply one version's statemaps with `client`, which is inside the
 * adapter's transaction. Do not COMMIT or ROLLBACK on it; throw to roll back. Do not catch
 * and ignore SQL errors either: Postgres then rolls the whole transaction back at COMMIT
 * (the adapter reports that as an error rather than a success).
 */
export type PostgresInstallFunction = (statemaps: readonly StatemapItem[], version: Version, client: PoolClient) => Promise<void>;

/**
 * Optional: apply several versions with one set of statements. Jobs come mostly in version order
 * and were all eligible at once, so no two of them depend on each other; it runs inside the same
 * transaction as the bookkeeping, after already-installed versions were taken out.
 */
export type PostgresInstallBatchFunction = (jobs: readonly InstallJob[], client: PoolClient) => Promise<void>;

export interface TransactionalInstallerOptions {
  readonly install: PostgresInstallFunction;
  readonly installBatch?: PostgresInstallBatchFunction;
  /** Schema of the bookkeeping tables. Default `public`. */
  readonly schema?: string;
  /** Backoff for serialization failures (40001) and deadlocks (40P01). */
  readonly retry?: RetryOptions;
  /** Default READ COMMITTED (what the Talos banking SQL is written for). */
  readonly isolationLevel?: IsolationLevel;
  /** Told before each in-adapter retry, for logs and metrics. */
  readonly onRetry?: (notice: RetryNotice & { readonly versions: readonly Version[] }) => void;
  /**
   * Install transactions at once, each on a connection of `pool` held while transactions wait
   * (see transactionLanes.ts). Default: the pool's `max`. Leave the pool a connection or two
   * more than this when the snapshot store shares it. When more installs are handed over at once
   * than this (the replicator's `statemapInstallerThreadpool`, e.g. twice this), each COMMIT
   * travels with the next transaction's BEGIN: one round trip fewer per version.
   */
  readonly connections?: number;
  /** Told about versions skipped because they were installed already (redelivery). */
  readonly onSkipped?: (versions: readonly Version[]) => void;
  /**
   * Versions without statemaps (Talos installs aborted versions with none) are, by default,
   * handed to `install` like any other, in a transaction with their bookkeeping row, so user
   * code that records every version (an audit table) sees each exactly once. Set this when
   * `install` does nothing for an empty list (the banking install): such versions then resolve
   * at once, with no transaction, no bookkeeping row and no call of `install`.
   */
  readonly skipVersionsWithoutStatemaps?: boolean;
  /**
   * Distinct parameterized statements of the install code to run as prepared statements, each
   * parsed and analysed once per connection instead of once per install (statementCache.ts).
   * Default 100; 0 turns it off, as a transaction-pooling proxy that does not keep prepared
   * statements (PgBouncer before 1.21) needs.
   */
  readonly statementCacheSize?: number;
}

export interface TransactionalInstaller extends Installer {
  install(statemaps: readonly StatemapItem[], version: Version): Promise<void>;
  /**
   * Every job in one transaction, in version order; already-installed versions are skipped (and
   * versions without statemaps, with `skipVersionsWithoutStatemaps`).
   */
  installBatch(jobs: readonly InstallJob[]): Promise<void>;
  /** Create the bookkeeping tables if missing. Installs call it once on their own. */
  ensureSchema(): Promise<void>;
  /**
   * Remove bookkeeping rows at or below `upToVersion`, which must be at or below the
   * persisted snapshot. Returns how many rows went.
   */
  pruneInstalled(upToVersion: Version): Promise<number>;
  isInstalled(version: Version): Promise<boolean>;
}

/**
 * Install calls to hand the installer per connection it may use (the replicator's
 * `statemapInstallerThreadpool` = connections × this), so that a next transaction is waiting
 * whenever a lane commits and the COMMIT can travel with its BEGIN.
 */
export const CALLS_PER_CONNECTION = 2;

/** pg.Pool's own default `max`. */
const DEFAULT_POOL_MAX = 10;

export function createTransactionalInstaller(pool: Pool, options: TransactionalInstallerOptions): TransactionalInstaller {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  quoteIdentifier(schema); // fail at construction, not at the first install
  const policy = resolveRetryPolicy(options.retry);
  const isolation = options.isolationLevel ?? 'read committed';
  const ensureSchema = once(() => ensureAdapterSchema(pool, schema, { bookkeeping: true }));
  const skipEmpty = options.skipVersionsWithoutStatemaps === true;
  const statements = createStatementCache(options.statementCacheSize ?? DEFAULT_STATEMENT_CACHE_SIZE);

  const lanes = createTransactionLanes(pool, { lanes: options.connections ?? pool.options.max ?? DEFAULT_POOL_MAX, isolation });

  async function applyInOneTransaction(jobs: readonly InstallJob[]): Promise<void> {
    const versions = jobs.map((job) => job.version);
    const single = versions.length === 1;
    let failedVersion: Version | undefined;
    let skipped: Version[] = [];
    const outcome = await withRetry(
      policy,
      async () => {
        await ensureSchema();
        failedVersion = undefined;
        let claimed: ReadonlySet<Version> = new Set();
        let started = false;
        try {
          await lanes.run({
            // The claim travels with BEGIN (or with the COMMIT before it): no round trip of its own.
            opening: single ? claimVersionInline(schema, versions[0]!, isolation) : claimVersionsInline(schema, versions, isolation),
            work: async (connection, opened) => {
              started = true;
              const client = statements.view(connection);
              claimed = single ? new Set(versions) : claimedVersions(opened as unknown as { rows: Array<{ version: string }> });
              skipped = versions.filter((version) => !claimed.has(version));
              const toApply = jobs.filter((job) => claimed.has(job.version));
              if (options.installBatch && toApply.length > 1) {
                failedVersion = toApply[0]!.version;
                await options.installBatch(toApply, client);
                failedVersion = undefined;
                return;
              }
              for (const job of toApply) {
                failedVersion = job.version;
                await options.install(job.statemaps, job.version, client);
              }
              failedVersion = undefined;
            },
            // The bookkeeping row commits with the work: it says whether an uncertain COMMIT went through.
            committed: async (client) => {
              const first = claimed.values().next();
              return first.done === true || isVersionInstalled(client, schema, first.value);
            },
          });
        } catch (error) {
          // A one-version claim refuses an installed version with an error, before any work.
          if (single && !started && isClaimRefusal(error, schema)) {
            skipped = versions;
            return;
          }
          throw error;
        }
      },
      (notice) => options.onRetry?.({ ...notice, versions }),
      // A statement the cache has just stopped preparing runs unprepared on the next attempt.
      statements.isStaleStatementError,
    );
    if (!outcome.ok) {
      throw new PostgresInstallError({ versions, attempts: outcome.attempts, cause: outcome.error, ...(failedVersion === undefined ? {} : { failedVersion }) });
    }
    if (skipped.length > 0) options.onSkipped?.(skipped);
  }

  return {
    async install(statemaps, version) {
      assertVersion(version);
      // Nothing to apply means nothing to make exactly-once: no round trip to the database.
      if (skipEmpty && statemaps.length === 0) return;
      await applyInOneTransaction([{ version, statemaps }]);
    },

    async installBatch(jobs) {
      for (const job of jobs) assertVersion(job.version, 'InstallJob.version');
      const toInstall = skipEmpty ? jobs.filter((job) => job.statemaps.length > 0) : jobs;
      if (toInstall.length === 0) return;
      await applyInOneTransaction(inVersionOrder(toInstall));
    },

    ensureSchema,

    async pruneInstalled(upToVersion) {
      assertVersion(upToVersion, 'upToVersion');
      const outcome = await withRetry(policy, async () => {
        await ensureSchema();
        return inTransaction(pool, 'read committed', (client) => pruneInstalledVersions(client, schema, upToVersion));
      });
      if (!outcome.ok) {
        const reason = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
        throw new Error(`Pruning installed-version bookkeeping up to ${upToVersion} failed: ${reason}`, { cause: outcome.error });
      }
      return outcome.value;
    },

    async isInstalled(version) {
      assertVersion(version);
      await ensureSchema();
      return isVersionInstalled(pool, schema, version);
    },
  };
}

/**
 * Jobs should already arrive in version order; sorting anyway keeps the serial order if a
 * caller slips. A version listed twice is one install (the claim would skip it anyway).
 */
function inVersionOrder(jobs: readonly InstallJob[]): InstallJob[] {
  const byVersion = new Map<Version, InstallJob>();
  for (const job of jobs) if (!byVersion.has(job.version)) byVersion.set(job.version, job);
  return [...byVersion.values()].sort((a, b) => a.version - b.version);
}
