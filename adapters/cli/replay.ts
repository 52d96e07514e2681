/**
 * `talos-replicator replay`: replicates a certification log from an NDJSON file into Postgres
 * with the user's install module, exactly once per version, and exits when the file is done.
 * `--file -` reads the log from standard input (`kcat -C -J -t T -e | talos-replicator replay --file -`).
 * Running it again on the same database is a no-op: the persisted snapshot covers the file.
 */
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import type { Version } from '../../machines/domain.js';
import type { RejectedRecord } from '../../machines/messages.js';
import { createCohortReplicator } from '../createCohortReplicator.js';
import { createFileSource } from '../files/fileSource.js';
import { formatRejectLine, logName, rejectsPathFor, STDIN_PATH, type LogReject } from '../files/ndjsonLog.js';
import type { Logger } from '../logging.js';
import { CALLS_PER_CONNECTION, createPostgresSnapshotStore, createTransactionalInstaller } from '../postgres/index.js';
import { CliError } from './cliError.js';
import { openDatabase, statementCacheOption } from './database.js';
import { loadInstallerModule } from './loadInstallerModule.js';
import { observedInstaller } from './observedInstaller.js';
import { observeCommand, replicatorObservabilityOptions, statsConfig, type CommandObservability } from './observabilityOptions.js';
import { createProgress } from './progress.js';
import { waitForEnd } from './waitForEnd.js';

export const DEFAULT_MAX_INSTALL_ATTEMPTS = 10;

export interface ReplayOptions {
  /** The log's path; `-` reads it from standard input. */
  readonly file: string;
  /** Where malformed lines go. Default `<file>.rejects.ndjson` (`stdin.rejects.ndjson` for stdin). */
  readonly rejects?: string;
  readonly installer: string;
  readonly batchSize: number;
  readonly concurrency: number;
  /** Distinct install statements run as prepared statements (0: none). Default 100. */
  readonly statementCacheSize?: number;
  /** Attempts per version before the replay stops with an error naming it. Default 10. */
  readonly maxInstallAttempts?: number;
  readonly databaseUrl?: string;
  readonly dataDir?: string;
  readonly progress?: boolean;
  readonly logger: Logger;
  /** --inspect, --status-port, --stats (see observabilityOptions.ts). */
  readonly observability?: CommandObservability;
}

export interface ReplaySummary {
  /** Versions whose install code ran and committed in this run. */
  readonly installedVersions: number;
  /** Versions handed to the installer that an earlier run had installed already (found in the bookkeeping, not applied again). */
  readonly skippedVersions: number;
  readonly persistedSnapshot: Version | null;
  readonly rejects: number;
  readonly rejectsPath: string | null;
  readonly seconds: number;
}

export async function runReplay(options: ReplayOptions): Promise<ReplaySummary> {
  const { logger } = options;
  if (options.file !== STDIN_PATH && !existsSync(options.file)) throw new CliError(`certification log ${options.file} does not exist`);
  const name = logName(options.file);
  const install = await loadInstallerModule(options.installer);
  const database = await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir, poolSize: options.concurrency + 2, logger });
  const rejectsPath = options.rejects ?? rejectsPathFor(options.file);
  let rejects = 0;
  const recordReject = (line: string) => {
    if (rejects === 0) writeFileSync(rejectsPath, '');
    rejects += 1;
    appendFileSync(rejectsPath, `${line}\n`);
  };
  let observed: { close(): Promise<void> } | undefined;
  try {
    let installedVersions = 0;
    let skippedVersions = 0;
    const installer = createTransactionalInstaller(database.pool, { install, connections: options.concurrency, ...statementCacheOption(options), onSkipped: (versions) => (skippedVersions += versions.length) });
    const store = createPostgresSnapshotStore(database.pool, { pruneInstalledBookkeeping: true });
    await installer.ensureSchema();
    await store.ensureSchema();
    const source = createFileSource(options.file, {
      onReject: (reject: LogReject) => {
        logger.warn(`${name}:${reject.line}${reject.offset === undefined ? '' : ` (offset ${reject.offset})`}: ${reject.reason}`);
        recordReject(formatRejectLine(reject));
      },
    });
    const replicator = createCohortReplicator({
      source,
      installer: observedInstaller(installer, () => (installedVersions += 1)),
      snapshotStore: store,
      logger,
      onRejected: (reject: RejectedRecord) => recordReject(formatMessageReject(name, reject)),
      config: {
        statemapInstallerThreadpool: options.concurrency * CALLS_PER_CONNECTION,
        installBatchSize: options.batchSize,
        // A file is finite: an install that keeps failing (a bug in the install module, a
        // missing table) must end the command with an error, not retry forever.
        maxInstallAttempts: options.maxInstallAttempts ?? DEFAULT_MAX_INSTALL_ATTEMPTS,
        statemapQueueCleanupFreqMs: 500,
        certifierMessageReceiverCommitFreqMs: 1000,
        ...statsConfig(options.observability),
      },
      ...replicatorObservabilityOptions(options.observability),
    });
    observed = await observeCommand(replicator, options.observability, logger);
    const progress = createProgress('replaying', 0, options.progress);
    const ticker = setInterval(() => progress.update(installedVersions - skippedVersions, { snapshot: replicator.getSnapshot().context.snapshot ?? 0 }), 200);
    const started = performance.now();
    const ended = waitForEnd(replicator);
    replicator.start();
    const output = await ended;
    clearInterval(ticker);
    progress.stop();
    if (output.error) throw new CliError(`replay of ${name} stopped: ${output.error.message}`, 1, { cause: output.error });
    return { installedVersions: installedVersions - skippedVersions, skippedVersions, persistedSnapshot: output.persisted, rejects, rejectsPath: rejects > 0 ? rejectsPath : null, seconds: (performance.now() - started) / 1000 };
  } finally {
    await observed?.close();
    await database.close();
  }
}

/**
 * A record the wire parser refused (unknown messageType, a value that is not a valid
 * message), in the same shape as the file reader's rejects (`{line, offset, code, reason}`),
 * so the whole rejects file can be read one way. Its origin is `<file>:<line>`.
 */
function formatMessageReject(file: string, reject: RejectedRecord): string {
  const prefix = `${file}:`;
  const line = reject.origin?.startsWith(prefix) ? Number(reject.origin.slice(prefix.length)) : Number.NaN;
  return JSON.stringify({
    ...(Number.isSafeInteger(line) ? { line } : { origin: reject.origin }),
    ...(reject.offset === null ? {} : { offset: reject.offset }),
    code: 'invalid-message',
    reason: reject.reason,
  });
}

export function formatReplaySummary(file: string, summary: ReplaySummary): string {
  const skipped = summary.skippedVersions > 0 ? ` (${summary.skippedVersions} more already installed by an earlier run, skipped)` : '';
  const lines = [`replay: ${logName(file)}: ${summary.installedVersions} versions installed${skipped} in ${summary.seconds.toFixed(1)} s; persisted snapshot ${summary.persistedSnapshot ?? 'none'}`];
  if (summary.rejects > 0) lines.push(`  ${summary.rejects} malformed record(s) skipped, written to ${summary.rejectsPath}`);
  return lines.join('\n');
}
