#!/usr/bin/env node
/**
 * The `talos-replicator` command. Each subcommand lives in its own module; this file only
 * parses arguments, sets up logging, and turns failures into one clear line and an exit code.
 */
import { Command, InvalidArgumentError } from 'commander';
import { createDefaultLogger } from '../logging.js';
import { CliError, formatCliError } from './cliError.js';
import { statementCacheOption } from './database.js';
import { formatDemoSummary, runDemo } from './demo.js';
import { addObservabilityOptions, commandObservability, type ObservabilityFlags } from './observabilityOptions.js';
import { DEFAULT_MAX_INSTALL_ATTEMPTS, formatReplaySummary, runReplay } from './replay.js';
import { addKafkaConnectionOptions, kafkaConnectionInput, type KafkaConnectionFlags } from './kafkaOptions.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, formatRunSummary, runKafkaReplicator } from './run.js';
import { formatStatus, readStatus } from './status.js';

/** A whole-number option at least `minimum` (0 or 1), refused with one line naming it. */
function integerAtLeast(minimum: 0 | 1, name: string) {
  const kind = minimum === 0 ? 'non-negative' : 'positive';
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < minimum) throw new InvalidArgumentError(`${name} must be a ${kind} integer, got "${value}"`);
    return parsed;
  };
}
const positiveInt = (name: string) => integerAtLeast(1, name);
const nonNegativeInt = (name: string) => integerAtLeast(0, name);
const STATEMENT_CACHE_HELP = 'distinct parameterized statements of the installer run as prepared statements, parsed once per connection (0 for a transaction-pooling proxy that does not keep them, e.g. PgBouncer before 1.21; default 100)';

/**
 * `run` exits once it has stopped, whatever handles are left: kafkajs can lose track of a
 * connection it reopened after a broker outage, and that socket alone kept the process alive
 * after a graceful stop (snapshot persisted, offset committed, group left, database closed).
 */
let exitWhenDone = false;

const program = new Command()
  .name('talos-replicator')
  .description('Talos cohort replicator: installs committed statemaps into Postgres in serial-equivalent order')
  .option('--verbose', 'print stack traces and debug logs')
  .showHelpAfterError();

const demo = program
  .command('demo')
  .description('replicate a simulated certification log into Postgres (embedded when no --database-url) and verify the result')
  .option('--transactions <n>', 'transactions to generate', positiveInt('--transactions'), 20_000)
  .option('--accounts <n>', 'bank accounts', positiveInt('--accounts'), 1_000)
  .option('--concurrency <n>', 'install transactions at once', positiveInt('--concurrency'), 4)
  .option('--batch-size <n>', 'versions per install transaction', positiveInt('--batch-size'), 10)
  .option('--seed <n>', 'workload seed', positiveInt('--seed'), 1)
  .option('--database-url <url>', 'Postgres to use (default: DATABASE_URL, else an embedded server)')
  .option('--data-dir <dir>', 'data directory for the embedded Postgres (default: a temporary one)');
addObservabilityOptions(demo)
  .action(async (options: { transactions: number; accounts: number; concurrency: number; batchSize: number; seed: number; databaseUrl?: string; dataDir?: string } & ObservabilityFlags) => {
    const logger = createDefaultLogger(program.opts().verbose ? 'debug' : (process.env.LOG_LEVEL ?? 'info'));
    const summary = await runDemo({ ...options, logger, observability: commandObservability(options) });
    process.stdout.write(`${formatDemoSummary(summary)}\n`);
    if (!summary.verified) throw new CliError('demo finished, but the database does not match the serial replay', 2);
  });

const replay = program
  .command('replay')
  .description('replicate a certification log from an NDJSON file (own envelope or `kcat -C -J` output) into Postgres')
  .requiredOption('--file <path>', 'the NDJSON certification log, plain or gzip-compressed; - reads it from standard input')
  .option('--rejects <path>', 'where malformed lines are written (default: <file>.rejects.ndjson; for stdin ./stdin.rejects.ndjson)')
  .requiredOption('--installer <module>', 'ES or CommonJS module exporting install(statemaps, version, client)')
  .option('--batch-size <n>', 'versions per install transaction', positiveInt('--batch-size'), 1)
  .option('--concurrency <n>', 'install transactions at once', positiveInt('--concurrency'), 8)
  .option('--max-install-attempts <n>', 'attempts per version before the replay stops with an error', positiveInt('--max-install-attempts'), DEFAULT_MAX_INSTALL_ATTEMPTS)
  .option('--statement-cache-size <n>', STATEMENT_CACHE_HELP, nonNegativeInt('--statement-cache-size'))
  .option('--database-url <url>', 'Postgres to use (default: DATABASE_URL, else an embedded server)')
  .option('--data-dir <dir>', 'data directory for the embedded Postgres (default: a temporary one)');
addObservabilityOptions(replay)
  .action(async (options: { file: string; rejects?: string; installer: string; batchSize: number; concurrency: number; maxInstallAttempts: number; statementCacheSize?: number; databaseUrl?: string; dataDir?: string } & ObservabilityFlags) => {
    const logger = createDefaultLogger(program.opts().verbose ? 'debug' : (process.env.LOG_LEVEL ?? 'info'));
    const summary = await runReplay({ ...options, logger, observability: commandObservability(options) });
    process.stdout.write(`${formatReplaySummary(options.file, summary)}\n`);
  });

interface RunFlags extends KafkaConnectionFlags {
  databaseUrl?: string;
  dataDir?: string;
  installer: string;
  batchSize: number;
  concurrency: number;
  maxInstallAttempts?: number;
  statementCacheSize?: number;
  deadLetterTopic?: string;
  sessionTimeoutMs?: number;
  persistIntervalMs?: number;
  commitIntervalMs?: number;
  shutdownTimeoutMs: number;
}

const run = addKafkaConnectionOptions(
  program.command('run').description('replicate the Talos certification topic from Kafka into Postgres until stopped (SIGTERM/SIGINT stop gracefully)'),
)
  .option('--database-url <url>', 'Postgres to install into (default: DATABASE_URL, else an embedded server)')
  .option('--data-dir <dir>', 'data directory for the embedded Postgres (default: a temporary one)')
  .requiredOption('--installer <module>', 'ES or CommonJS module exporting install(statemaps, version, client)')
  .option('--batch-size <n>', 'versions per install transaction', positiveInt('--batch-size'), 1)
  .option('--concurrency <n>', 'install transactions at once', positiveInt('--concurrency'), 8)
  .option('--max-install-attempts <n>', 'attempts per version before the replicator stops with an error (default: retry forever)', positiveInt('--max-install-attempts'))
  .option('--statement-cache-size <n>', STATEMENT_CACHE_HELP, nonNegativeInt('--statement-cache-size'))
  .option('--dead-letter-topic <name>', 'copy malformed records there, with the reason in a header (env KAFKA_DEAD_LETTER_TOPIC)')
  .option('--session-timeout-ms <ms>', 'group session timeout: how soon a standby takes over from a dead replicator (env KAFKA_SESSION_TIMEOUT_MS, default 10000)', positiveInt('--session-timeout-ms'))
  .option('--persist-interval-ms <ms>', 'how often the snapshot is persisted (statemapQueueCleanupFreqMs, default 10000)', positiveInt('--persist-interval-ms'))
  .option('--commit-interval-ms <ms>', 'how often the offset of the persisted snapshot is committed (certifierMessageReceiverCommitFreqMs, default 10000)', positiveInt('--commit-interval-ms'))
  .option('--shutdown-timeout-ms <ms>', 'longest graceful stop before exiting with an error', positiveInt('--shutdown-timeout-ms'), DEFAULT_SHUTDOWN_TIMEOUT_MS);

addObservabilityOptions(run)
  .action(async (flags: RunFlags & ObservabilityFlags) => {
    exitWhenDone = true;
    const logger = createDefaultLogger(program.opts().verbose ? 'debug' : (process.env.LOG_LEVEL ?? 'info'));
    const output = await runKafkaReplicator({
      kafka: { ...kafkaConnectionInput(flags), deadLetterTopic: flags.deadLetterTopic, sessionTimeoutMs: flags.sessionTimeoutMs },
      installer: flags.installer,
      batchSize: flags.batchSize,
      concurrency: flags.concurrency,
      ...(flags.maxInstallAttempts === undefined ? {} : { maxInstallAttempts: flags.maxInstallAttempts }),
      ...statementCacheOption(flags),
      ...(flags.databaseUrl === undefined ? {} : { databaseUrl: flags.databaseUrl }),
      ...(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }),
      shutdownTimeoutMs: flags.shutdownTimeoutMs,
      config: {
        ...(flags.persistIntervalMs === undefined ? {} : { statemapQueueCleanupFreqMs: flags.persistIntervalMs }),
        ...(flags.commitIntervalMs === undefined ? {} : { certifierMessageReceiverCommitFreqMs: flags.commitIntervalMs }),
      },
      logger,
      observability: commandObservability(flags),
    });
    process.stdout.write(`${formatRunSummary(output)}\n`);
  });

addKafkaConnectionOptions(
  program
    .command('status')
    .description("show where a cohort stands without changing anything: the database's persisted snapshot and bookkeeping, and with Kafka settings the group's committed offset; exits 2 if a start from there could not install every version (records gone from the topic)")
    .option('--database-url <url>', 'Postgres to read (default: DATABASE_URL)')
    .option('--data-dir <dir>', 'data directory of an embedded Postgres of an earlier command, started for the read')
    .option('--json', 'print the report as JSON'),
).action(async (flags: KafkaConnectionFlags & { databaseUrl?: string; dataDir?: string; json?: boolean }) => {
  const logger = createDefaultLogger(program.opts().verbose ? 'debug' : (process.env.LOG_LEVEL ?? 'warn'));
  const report = await readStatus({
    kafka: kafkaConnectionInput(flags),
    ...(flags.databaseUrl === undefined ? {} : { databaseUrl: flags.databaseUrl }),
    ...(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }),
    logger,
  });
  process.stdout.write(`${flags.json ? JSON.stringify(report, null, 2) : formatStatus(report)}\n`);
  if (report.problems.length > 0) throw new CliError(`status: ${report.problems.length} problem(s): a replicator started from here cannot install every version`, 2);
});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`${formatCliError(error, Boolean(program.opts().verbose))}\n`);
  process.exitCode = error instanceof CliError ? error.exitCode : 1;
  // A command that gave up (a stop past --shutdown-timeout-ms) may leave a client retrying in the
  // background; the error is reported, so do not wait for it. Unref'd: a clean exit is not delayed.
  setTimeout(() => process.exit(), 3000).unref();
}
if (exitWhenDone) process.stdout.write('', () => process.exit());
