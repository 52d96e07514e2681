/** The Postgres adapter: snapshot store, exactly-once installer, connection, embedded server, banking example. */
export { createPostgresSnapshotStore, type PostgresSnapshotStore, type PostgresSnapshotStoreOptions } from './snapshotStore.js';
export {
  CALLS_PER_CONNECTION,
  createTransactionalInstaller,
  type PostgresInstallBatchFunction,
  type PostgresInstallFunction,
  type TransactionalInstaller,
  type TransactionalInstallerOptions,
} from './transactionalInstaller.js';
export {
  createPostgresPool,
  describePostgresTarget,
  redactConnectionUrl,
  resolvePostgresConfig,
  verifyPostgresConnection,
  DEFAULT_POOL_SIZE,
  type PostgresConnectionOptions,
} from './connection.js';
export { readReplicationStatus, type InstalledBookkeeping, type ReplicationStatus } from './replicationStatus.js';
export { startEmbeddedPostgres, type EmbeddedPostgresOptions, type RunningEmbeddedPostgres } from './embeddedPostgres.js';
export {
  bankAccountNumber,
  bankingInstall,
  createBankingInstall,
  createBankingInstallBatch,
  createBankingSchema,
  parseTransfer,
  StatemapPayloadError,
  TRANSFER_ACTION,
  type BankingOptions,
  type Transfer,
} from './banking.js';
export {
  PostgresConfigError,
  PostgresInstallError,
  PostgresSnapshotError,
  TransactionAbortedError,
  isRetriableSqlError,
  sqlStateOf,
} from './errors.js';
export { DEFAULT_STATEMENT_CACHE_SIZE } from './statementCache.js';
export type { RetryNotice, RetryOptions } from './retry.js';
export type { IsolationLevel, Queryable } from './transaction.js';
