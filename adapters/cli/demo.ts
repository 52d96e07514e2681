/**
 * `talos-replicator demo`: the whole replicator against a real Postgres, fed by the simulated
 * certifier, then checked against a serial replay of the committed transfers.
 */
import type { StatemapItem, Version } from '../../machines/domain.js';
import { createCohortReplicator } from '../createCohortReplicator.js';
import type { Logger } from '../logging.js';
import { createMemorySource } from '../memorySource.js';
import { CALLS_PER_CONNECTION, createBankingInstall, createBankingInstallBatch, createBankingSchema, createPostgresSnapshotStore, createTransactionalInstaller } from '../postgres/index.js';
import * as sql from '../postgres/sql.js';
import { expectedEndState, generateCertificationLogBatches, initialAccounts, type CertifierOptions } from '../workload/certifier.js';
import { waitForEnd } from './waitForEnd.js';
import { openDatabase } from './database.js';
import { observedInstaller } from './observedInstaller.js';
import { observeCommand, replicatorObservabilityOptions, statsConfig, type CommandObservability } from './observabilityOptions.js';
import { createProgress } from './progress.js';
import { percentile } from './percentile.js';
import type pg from 'pg';

export interface DemoOptions {
  readonly transactions: number;
  readonly accounts: number;
  readonly concurrency: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly databaseUrl?: string;
  readonly dataDir?: string;
  readonly progress?: boolean;
  readonly logger: Logger;
  /** Tests only: corrupt the install of this version, to prove the verification catches it. */
  readonly corruptVersion?: Version;
  /** --inspect, --status-port, --stats (see observabilityOptions.ts). */
  readonly observability?: CommandObservability;
}

export interface DemoSummary {
  readonly verified: boolean;
  readonly transactions: number;
  readonly committed: number;
  readonly aborted: number;
  readonly seconds: number;
  readonly transactionsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number };
  readonly peakRssMb: number;
  readonly persistedSnapshot: Version;
  readonly lastVersion: Version;
  readonly mismatches: readonly string[];
}

const INITIAL_BALANCE = '1000.00';
/** Versions outstanding (read but not installed) before the demo stops feeding: keeps memory flat. */
const FEED_WINDOW = 2_000;

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { logger } = options;
  const workload: CertifierOptions = { seed: options.seed, transactions: options.transactions, accounts: options.accounts, initialBalance: INITIAL_BALANCE };
  const database = await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir, poolSize: options.concurrency + 2, logger });
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
  let observed: { close(): Promise<void> } | undefined;
  try {
    logger.info(`demo: ${options.transactions} transactions over ${options.accounts} accounts on ${database.description}`);
    const bankingInstall = createBankingInstall();
    const decidedAt = new Map<Version, number>();
    const latencies: number[] = [];
    let installedVersions = 0;
    const install = async (statemaps: readonly StatemapItem[], version: Version, client: pg.PoolClient) => {
      const items = version === options.corruptVersion ? statemaps.map((item) => ({ ...item, payload: { ...(item.payload as object), amount: '999.99' } })) : statemaps;
      await bankingInstall(items, version, client);
    };
    const bankingInstallBatch = createBankingInstallBatch();
    const installer = createTransactionalInstaller(database.pool, {
      install,
      connections: options.concurrency,
      // A corrupted version goes through the one-version path, so the batch path stays the real one.
      installBatch: async (jobs, client) => {
        if (options.corruptVersion !== undefined && jobs.some((job) => job.version === options.corruptVersion)) {
          for (const job of jobs) await install(job.statemaps, job.version, client);
        } else await bankingInstallBatch(jobs, client);
      },
    });
    const store = createPostgresSnapshotStore(database.pool, { pruneInstalledBookkeeping: true });
    await installer.ensureSchema();
    await store.ensureSchema();
    // After the adapter's tables exist: a previous demo on this database left its snapshot
    // and bookkeeping behind, which would make this run skip every version it had installed.
    await resetDemoState(database.pool, workload);
    const noteInstalled = (version: Version) => {
      installedVersions += 1;
      const decided = decidedAt.get(version);
      if (decided !== undefined) {
        latencies.push(performance.now() - decided);
        decidedAt.delete(version);
      }
    };
    const source = createMemorySource({ maxBatch: 1000 });
    const replicator = createCohortReplicator({
      source,
      installer: observedInstaller(installer, noteInstalled),
      snapshotStore: store,
      logger,
      config: { statemapInstallerThreadpool: options.concurrency * CALLS_PER_CONNECTION, installBatchSize: options.batchSize, statemapQueueCleanupFreqMs: 200, certifierMessageReceiverCommitFreqMs: 500, ...statsConfig(options.observability) },
      ...replicatorObservabilityOptions(options.observability),
    });
    observed = await observeCommand(replicator, options.observability, logger);
    const ended = waitForEnd(replicator);
    replicator.start();

    const progress = createProgress('replicating', options.transactions, options.progress);
    const started = performance.now();
    let lastCandidate: Version = 0;
    let candidates = 0;
    for (const batch of generateCertificationLogBatches(workload, 1000)) {
      for (const record of batch) {
        if (record.headers.messageType === 'Candidate') {
          lastCandidate = Number(record.offset);
          candidates += 1;
        } else {
          const match = /"version":(\d+)/.exec(String(record.value));
          if (match) decidedAt.set(Number(match[1]), performance.now());
        }
      }
      source.push(batch);
      while (candidates - installedVersions > FEED_WINDOW) {
        progress.update(Math.min(installedVersions, options.transactions), { snapshot: replicator.getSnapshot().context.snapshot ?? 0 });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    source.end();
    const ticker = setInterval(() => progress.update(Math.min(installedVersions, options.transactions), { snapshot: replicator.getSnapshot().context.snapshot ?? 0 }), 200);
    const output = await ended;
    clearInterval(ticker);
    progress.update(options.transactions, { snapshot: output.persisted ?? 0 });
    progress.stop();
    const seconds = (performance.now() - started) / 1000;
    if (output.error) throw output.error;

    const expected = expectedEndState(workload, { collectCommitted: false });
    const mismatches = await compareAccounts(database.pool, expected.accounts);
    const persistedSnapshot = await store.getSnapshot();
    if (persistedSnapshot !== lastCandidate) mismatches.push(`persisted snapshot is ${persistedSnapshot}, expected the last version ${lastCandidate}`);
    latencies.sort((a, b) => a - b);
    return {
      verified: mismatches.length === 0,
      transactions: options.transactions,
      committed: expected.committedCount,
      aborted: expected.abortedCount,
      seconds,
      transactionsPerSecond: Math.round(options.transactions / seconds),
      latencyMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) },
      peakRssMb: Math.round(Math.max(peakRss, process.memoryUsage.rss()) / 1048576),
      persistedSnapshot,
      lastVersion: lastCandidate,
      mismatches,
    };
  } finally {
    clearInterval(sampler);
    await observed?.close();
    await database.close();
  }
}

/**
 * The demo owns the tables it uses: fresh accounts, and the replicator's snapshot and
 * installed-version bookkeeping back at their initial values (every version of the new log
 * must be installed), in one transaction.
 */
async function resetDemoState(pool: pg.Pool, workload: CertifierOptions): Promise<void> {
  await createBankingSchema(pool, 0, 0);
  const accounts = initialAccounts(workload);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('DELETE FROM bank_accounts');
    await client.query('INSERT INTO bank_accounts (number, amount, version) SELECT unnest($1::text[]), $2::decimal, 0', [accounts.map((a) => a.name), INITIAL_BALANCE]);
    await client.query(`UPDATE ${sql.qualifiedName(sql.DEFAULT_SCHEMA, sql.SNAPSHOT_TABLE)} SET version = 0 WHERE id = $1`, [sql.SINGLETON_ID]);
    await client.query(`DELETE FROM ${sql.qualifiedName(sql.DEFAULT_SCHEMA, sql.INSTALLED_TABLE)}`);
    await client.query(`UPDATE ${sql.qualifiedName(sql.DEFAULT_SCHEMA, sql.WATERMARK_TABLE)} SET version = -1 WHERE id = $1`, [sql.SINGLETON_ID]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

async function compareAccounts(pool: pg.Pool, expected: ReadonlyMap<string, { balanceCents: number; version: Version }>): Promise<string[]> {
  const { rows } = await pool.query<{ number: string; cents: string; version: string }>('SELECT number, round(amount * 100)::bigint::text AS cents, version::text FROM bank_accounts ORDER BY number');
  const mismatches: string[] = [];
  if (rows.length !== expected.size) mismatches.push(`${rows.length} accounts in the database, ${expected.size} expected`);
  for (const row of rows) {
    const want = expected.get(row.number);
    if (!want) mismatches.push(`unexpected account ${row.number}`);
    else if (Number(row.cents) !== want.balanceCents || Number(row.version) !== want.version) {
      mismatches.push(`account ${row.number}: balance ${Number(row.cents) / 100} at version ${row.version}, expected ${want.balanceCents / 100} at version ${want.version}`);
    }
  }
  return mismatches;
}

export function formatDemoSummary(summary: DemoSummary): string {
  const lines = [
    `demo: ${summary.transactions} transactions (${summary.committed} committed, ${summary.aborted} aborted) in ${summary.seconds.toFixed(1)} s: ${summary.transactionsPerSecond} transactions/s`,
    `  decision-to-install latency: p50 ${summary.latencyMs.p50.toFixed(1)} ms, p99 ${summary.latencyMs.p99.toFixed(1)} ms`,
    `  peak RSS ${summary.peakRssMb} MB; persisted snapshot ${summary.persistedSnapshot} (last version ${summary.lastVersion})`,
  ];
  if (summary.verified) lines.push('  verified: every account matches a serial replay of the committed transfers');
  else lines.push(`  NOT verified: ${summary.mismatches.length} mismatch(es)`, ...summary.mismatches.slice(0, 10).map((m) => `    ${m}`));
  return lines.join('\n');
}
