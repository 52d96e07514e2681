/**
 * `talos-replicator status`: where a cohort stands, read without changing anything. From the
 * database: the persisted snapshot and the exactly-once bookkeeping. From Kafka, when brokers,
 * topic or group are given (as flags or in the environment `run` uses): the group's committed
 * offset and what the topic holds, without joining the group. It then checks the one thing
 * that would lose transactions on the next start: the group reading from past the snapshot.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { readGroupPosition, type GroupPosition } from '../kafka/groupPosition.js';
import { kafkaConfigFromEnvironment, mergeKafkaInputs, resolveKafkaConfig, type KafkaConfigInput } from '../kafka/kafkaConfig.js';
import type { Logger } from '../logging.js';
import { readReplicationStatus, type ReplicationStatus } from '../postgres/index.js';
import { CliError } from './cliError.js';
import { openDatabase } from './database.js';
import { loadOAuthBearerProviderModule } from './loadOAuthBearerProvider.js';

export interface StatusOptions {
  readonly databaseUrl?: string;
  /** An embedded Postgres's data directory (`--data-dir` of an earlier command), started for the read. */
  readonly dataDir?: string;
  /** Kafka settings from flags; the environment fills in the rest. */
  readonly kafka: KafkaConfigInput;
  readonly logger: Logger;
}

export interface StatusReport {
  readonly database: string;
  readonly replication: ReplicationStatus;
  /** Null when no Kafka setting was given. */
  readonly kafka: GroupPosition | null;
  /** What would lose or skip transactions when a replicator starts from here; empty when nothing does. */
  readonly problems: readonly string[];
  /** Worth knowing, but a replicator started from here deals with it (a group offset it will seek back from). */
  readonly notes: readonly string[];
}

export async function readStatus(options: StatusOptions): Promise<StatusReport> {
  const kafkaInput = mergeKafkaInputs(kafkaConfigFromEnvironment(), options.kafka);
  const asksKafka = kafkaInput.brokers !== undefined || kafkaInput.topic !== undefined || kafkaInput.groupId !== undefined;
  // Settings first: a bad one is reported before a database is opened or started.
  const kafkaConfig = asksKafka ? resolveKafkaConfig(await loadOAuthBearerProviderModule(kafkaInput)) : null;
  const url = options.databaseUrl ?? process.env.DATABASE_URL;
  if (!url && options.dataDir === undefined) {
    // A fresh embedded server would only ever say "never replicated".
    throw new CliError('status needs the database to read: give --database-url (or DATABASE_URL), or --data-dir of an embedded Postgres');
  }
  if (!url) await assertDataDirectory(options.dataDir!);
  const database = await openDatabase({ ...(url ? { url } : { dataDir: options.dataDir! }), poolSize: 1, logger: options.logger });
  try {
    const replication = await readReplicationStatus(database.pool);
    // A status read answers within seconds; `run` is the one that waits out a broker outage.
    const kafka = kafkaConfig ? await readGroupPosition({ ...kafkaConfig, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 }, options.logger) : null;
    return { database: database.description, replication, kafka, ...statusFindings(replication, kafka) };
  } finally {
    await database.close();
  }
}

async function assertDataDirectory(dataDir: string): Promise<void> {
  try {
    await access(path.join(dataDir, 'PG_VERSION'));
  } catch {
    throw new CliError(`--data-dir ${dataDir} holds no Postgres data directory (no PG_VERSION file)`);
  }
}

export interface StatusFindings {
  readonly problems: string[];
  readonly notes: string[];
}

/**
 * A replicator needs every record above the persisted snapshot. It commits only up to
 * snapshot + 1 itself, so a group offset past that means the database went back (restored from
 * a backup) or someone moved the group (a reset to latest): `run` seeks back to snapshot + 1
 * then (see adapters/kafka/kafkaSource.ts), which is worth a note. A log starting past
 * snapshot + 1 means retention deleted records the database never got: nothing can install
 * them, and `run` fails rather than skip them. That, and more than one partition, are problems.
 */
export function statusFindings(replication: ReplicationStatus, kafka: GroupPosition | null): StatusFindings {
  const findings: StatusFindings = { problems: [], notes: [] };
  if (kafka === null) return findings;
  const snapshot = replication.replicated ? replication.snapshot : 0;
  const needed = snapshot + 1;
  const where = replication.replicated ? `the persisted snapshot ${snapshot}` : 'an empty database';
  if (kafka.partitions.length !== 1) findings.problems.push(`topic ${kafka.topic} has ${kafka.partitions.length} partitions; a Talos certification topic has exactly one`);
  for (const { partition, committed, logStart } of kafka.partitions) {
    if (logStart > needed) {
      findings.problems.push(`${kafka.topic}/${partition} starts at offset ${logStart} (retention), past ${where}: versions ${needed}..${logStart - 1} are gone from the topic`);
    } else if (committed !== null && committed > needed) {
      findings.notes.push(
        `group ${kafka.groupId} has committed offset ${committed} on ${kafka.topic}/${partition}, past ${where}: a replicator started from here seeks back to offset ${needed}, so that versions ${needed}..${committed - 1} are installed`,
      );
    }
  }
  return findings;
}

export function formatStatus(report: StatusReport): string {
  const lines = [`database: ${report.database}`];
  const { replication } = report;
  if (!replication.replicated) {
    lines.push(`  no cohort_snapshot table in schema ${replication.schema}: no replicator has run against this database`);
  } else {
    lines.push(`  persisted snapshot: ${replication.snapshot}`);
    const book = replication.bookkeeping;
    if (book === null) {
      lines.push('  exactly-once bookkeeping: none (no replicator_installed_versions table: installs do not go through the transactional installer)');
    } else {
      const range = book.rows === 0 ? '' : ` (${book.lowest}..${book.highest})`;
      lines.push(
        `  exactly-once bookkeeping: ${book.rows} version(s) recorded${range}: ${book.aboveSnapshot} above the snapshot (installed, not yet persisted), ${book.coveredBySnapshot} covered by it (pruned next); watermark ${book.watermark ?? 'none (nothing pruned yet)'}`,
      );
    }
  }
  const { kafka } = report;
  if (kafka !== null) {
    lines.push(`kafka: group ${kafka.groupId} on ${kafka.topic}`);
    const snapshot = replication.replicated ? replication.snapshot : 0;
    for (const { partition, committed, logStart, logEnd } of kafka.partitions) {
      const reads = committed ?? logStart;
      const commit = committed === null ? `no committed offset (reads from the log start, ${logStart})` : `committed offset ${committed}`;
      // Records above the snapshot a start from here reads: candidates, and decisions (of installed versions too).
      const lag = Math.max(0, logEnd - Math.max(reads, snapshot + 1));
      const log = logEnd > logStart ? `log holds offsets ${logStart}..${logEnd - 1}` : `log empty (next offset ${logEnd})`;
      lines.push(`  partition ${partition}: ${commit}; ${log}; ${lag} record(s) past the persisted snapshot`);
    }
  }
  for (const note of report.notes) lines.push(`NOTE: ${note}`);
  lines.push(report.problems.length === 0 ? 'ok' : report.problems.map((problem) => `PROBLEM: ${problem}`).join('\n'));
  return lines.join('\n');
}
