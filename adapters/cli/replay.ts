/**
 * `talos-replicator replay`: replicates a certification log from an NDJSON file into Postgres
 * with the user's install module, exactly once per version, and exits when the file is done.
 * Running it again on the same database is a no-op: the persisted snapshot covers the file.
 */
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import type { Version } from '../../machines/domain.js';
import type { RejectedRecord } from '../../machines/messages.js';
import { createCohortReplicator } from '../createCohortReplicator.js';
import { createFileSource } from '../files/fileSource.js';
import { formatRejectLine, rejectsPathFor, type LogReject } from '../files/ndjsonLog.js';
import type { Logger } from '../logging.js';
import { createPostgresSnapshotStore, createTransactionalInstaller } from '../postgres/index.js';
import { describeReject } from '../wire/parseRecord.js';
import { CliError } from './cliError.js';
import { openDatabase } from './database.js';
import { loadInstallerModule } from './loadInstallerModule.js';
import { createProgress } from './progress.js';
import { waitForEnd } from './waitForEnd.js';

export interface ReplayOptions {
  readonly file: string;
  readonly installer: string;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly databaseUrl?: string;
  readonly dataDir?: string;
  readonly progress?: boolean;
  readonly logger: Logger;
}

export interface ReplaySummary {
  readonly installedVersions: number;
  readonly persistedSnapshot: Version | null;
  readonly rejects: number;
  readonly rejectsPath: string | null;
  readonly seconds: number;
}

export async function runReplay(options: ReplayOptions): Promise<ReplaySummary> {
  const { logger } = options;
  if (!existsSync(options.file)) throw new CliError(`certification log ${options.file} does not exist`);
  const install = await loadInstallerModule(options.installer);
  const database = await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir, poolSize: options.concurrency + 2, logger });
  const rejectsPath = rejectsPathFor(options.file);
  let rejects = 0;
  const recordReject = (line: string) => {
    if (rejects === 0) writeFileSync(rejectsPath, '');
    rejects += 1;
    appendFileSync(rejectsPath, `${line}\n`);
  };
  try {
    const installer = createTransactionalInstaller(database.pool, { install });
    const store = createPostgresSnapshotStore(database.pool, { pruneInstalledBookkeeping: true });
    await installer.ensureSchema();
    await store.ensureSchema();
    const source = createFileSource(options.file, {
      onReject: (reject: LogReject) => {
        logger.warn(`${options.file}:${reject.line}${reject.offset === undefined ? '' : ` (offset ${reject.offset})`}: ${reject.reason}`);
        recordReject(formatRejectLine(reject));
      },
    });
    let installedVersions = 0;
    const replicator = createCohortReplicator({
      source,
      installer: {
        install: async (statemaps, version) => {
          await installer.install(statemaps, version);
          installedVersions += 1;
        },
        installBatch: async (jobs) => {
          await installer.installBatch(jobs);
          installedVersions += jobs.length;
        },
      },
      snapshotStore: store,
      logger,
      onRejected: (reject: RejectedRecord) => recordReject(JSON.stringify({ origin: reject.origin, offset: reject.offset, reason: describeReject(reject) })),
      config: { statemapInstallerThreadpool: options.concurrency, installBatchSize: options.batchSize, statemapQueueCleanupFreqMs: 500, certifierMessageReceiverCommitFreqMs: 1000 },
    });
    const progress = createProgress('replaying', 0, options.progress);
    const ticker = setInterval(() => progress.update(installedVersions, { snapshot: replicator.getSnapshot().context.snapshot ?? 0 }), 200);
    const started = performance.now();
    const ended = waitForEnd(replicator);
    replicator.start();
    const output = await ended;
    clearInterval(ticker);
    progress.stop();
    if (output.error) throw new CliError(`replay of ${options.file} stopped: ${output.error.message}`, 1, { cause: output.error });
    return { installedVersions, persistedSnapshot: output.persisted, rejects, rejectsPath: rejects > 0 ? rejectsPath : null, seconds: (performance.now() - started) / 1000 };
  } finally {
    await database.close();
  }
}

export function formatReplaySummary(file: string, summary: ReplaySummary): string {
  const lines = [`replay: ${file}: ${summary.installedVersions} versions installed in ${summary.seconds.toFixed(1)} s; persisted snapshot ${summary.persistedSnapshot ?? 'none'}`];
  if (summary.rejects > 0) lines.push(`  ${summary.rejects} malformed record(s) skipped, written to ${summary.rejectsPath}`);
  return lines.join('\n');
}
