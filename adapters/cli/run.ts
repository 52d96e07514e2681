/**
 * `talos-replicator run`: the production job. Reads the certification topic from Kafka in a
 * consumer group (one active member, the others on standby), installs committed statemaps into
 * Postgres exactly once with the user's install module, persists the snapshot and commits the
 * offset up to it. Runs until SIGTERM/SIGINT, then stops gracefully within a time limit.
 */
import type { FailoverOutput } from '../../machines/failover.machine.js';
import type { ReplicatorConfigInput } from '../../machines/config.js';
import { createKafkaReplicator } from '../kafka/createKafkaReplicator.js';
import { kafkaConfigFromEnvironment, mergeKafkaInputs, resolveKafkaConfig, type KafkaConfigInput } from '../kafka/kafkaConfig.js';
import type { Logger } from '../logging.js';
import { CALLS_PER_CONNECTION, createPostgresSnapshotStore, createTransactionalInstaller } from '../postgres/index.js';
import { CliError } from './cliError.js';
import { openDatabase, statementCacheOption, type CommandDatabase } from './database.js';
import { loadInstallerModule } from './loadInstallerModule.js';
import { loadOAuthBearerProviderModule } from './loadOAuthBearerProvider.js';
import { observeCommand, replicatorObservabilityOptions, statsConfig, type CommandObservability } from './observabilityOptions.js';

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

export interface RunOptions {
  /** Kafka settings from flags; the environment fills in the rest. */
  readonly kafka: KafkaConfigInput;
  readonly installer: string;
  readonly batchSize: number;
  readonly concurrency: number;
  /** Distinct install statements run as prepared statements (0: none). Default 100. */
  readonly statementCacheSize?: number;
  readonly maxInstallAttempts?: number;
  readonly databaseUrl?: string;
  readonly dataDir?: string;
  readonly shutdownTimeoutMs?: number;
  readonly config?: ReplicatorConfigInput;
  readonly logger: Logger;
  /** --inspect, --status-port, --stats (see observabilityOptions.ts). */
  readonly observability?: CommandObservability;
  /** Signals that ask for a graceful stop. Default SIGTERM and SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
}

export async function runKafkaReplicator(options: RunOptions): Promise<FailoverOutput> {
  const { logger } = options;
  // Settings first: a bad one is reported before the database is opened or started.
  const kafka = resolveKafkaConfig(await loadOAuthBearerProviderModule(mergeKafkaInputs(kafkaConfigFromEnvironment(), options.kafka)));
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  // A stop asked for while starting (an embedded Postgres takes a second or two) is carried out
  // once the replicator runs, so nothing started is left behind by a signal's default exit.
  let early: NodeJS.Signals | null = null;
  const noteEarly = (signal: NodeJS.Signals) => {
    early ??= signal;
  };
  for (const signal of signals) process.on(signal, noteEarly);
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  let database: CommandDatabase | undefined;
  let onSignal: ((signal: NodeJS.Signals) => void) | null = null;
  let deadline: NodeJS.Timeout | null = null;
  let observed: { close(): Promise<void> } | undefined;
  try {
    const install = await loadInstallerModule(options.installer);
    database = await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir, poolSize: options.concurrency + 2, logger });
    const installer = createTransactionalInstaller(database.pool, { install, connections: options.concurrency, ...statementCacheOption(options) });
    const store = createPostgresSnapshotStore(database.pool, { pruneInstalledBookkeeping: true });
    await installer.ensureSchema();
    await store.ensureSchema();
    const replicator = createKafkaReplicator({
      kafka,
      installer,
      snapshotStore: store,
      logger,
      config: {
        statemapInstallerThreadpool: options.concurrency * CALLS_PER_CONNECTION,
        installBatchSize: options.batchSize,
        ...(options.maxInstallAttempts === undefined ? {} : { maxInstallAttempts: options.maxInstallAttempts }),
        ...statsConfig(options.observability),
        ...options.config,
      },
      ...replicatorObservabilityOptions(options.observability),
    });
    observed = await observeCommand(replicator, options.observability, logger);
    logger.info(`replicating ${replicator.kafkaConfig.topic} from ${replicator.kafkaConfig.brokers.join(',')} (group ${replicator.kafkaConfig.groupId}) into ${database.description}`);

    const stopped = new Promise<never>((_, reject) => {
      onSignal = (signal) => {
        if (deadline) return;
        logger.info(`${signal}: stopping (in-flight installs finish, snapshot persisted, offset committed; at most ${shutdownTimeoutMs} ms)`);
        replicator.stop();
        deadline = setTimeout(() => {
          const context = replicator.actor.getSnapshot();
          reject(new CliError(`did not stop within ${shutdownTimeoutMs} ms (state ${JSON.stringify(context.value)}); the committed offset is at or below the persisted snapshot, so nothing is lost`, 1));
          // Give up: no more retries (they would keep the process alive), and leave the group so another member takes over.
          replicator.actor.stop();
          void replicator.source.disconnect().catch(() => {});
        }, shutdownTimeoutMs);
      };
      for (const signal of signals) process.on(signal, onSignal);
    });
    for (const signal of signals) process.off(signal, noteEarly);
    const running = replicator.run();
    if (early) onSignal!(early);
    const output = await Promise.race([running, stopped]);
    if (output.outcome === 'failed') throw new CliError(`replication stopped: ${output.error?.message ?? 'unknown error'}`, 1, { cause: output.error });
    return output;
  } finally {
    for (const signal of signals) process.off(signal, noteEarly);
    if (deadline) clearTimeout(deadline);
    if (onSignal) for (const signal of signals) process.off(signal, onSignal);
    await observed?.close();
    await database?.close();
  }
}

export function formatRunSummary(output: FailoverOutput): string {
  const last = output.lastTurn;
  return `run: stopped after ${output.turns} turn(s) of ownership; snapshot ${last?.snapshot ?? '-'}, persisted ${last?.persisted ?? '-'}, committed ${last?.committed ?? '-'}`;
}
