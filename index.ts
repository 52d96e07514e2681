/** talos-cohort-replicator: the public API. */
export { createCohortReplicator, provideCohortReplicator, type CohortReplicator, type CohortReplicatorEffects, type CreateCohortReplicatorOptions } from './adapters/createCohortReplicator.js';
export { createMemorySource, type MemorySource, type MemorySourceOptions } from './adapters/memorySource.js';
export { createDefaultLogger, silentLogger, type Logger } from './adapters/logging.js';
export { parseBatch, parseRecord, describeReject } from './adapters/wire/parseRecord.js';
export { createWorkerParser, type WorkerParser, type WorkerParserOptions } from './adapters/wire/workerParser.js';
export { resolveConfig, defaultConfig, ConfigError, type ReplicatorConfig, type ReplicatorConfigInput } from './machines/config.js';
export type { Installer, InstallJob, MessageSource, RawRecord, SnapshotStore, StatemapEntry, StatemapItem, Version } from './machines/domain.js';
export type { CandidateMessage, DecisionMessage, CertificationMessage, ParsedBatch, RejectedRecord } from './machines/messages.js';
export { InstallFailedError, SourceFailedError } from './machines/errors.js';
export { cohortReplicatorMachine, type CohortReplicatorOutput, type CohortReplicatorEvent } from './machines/cohortReplicator.machine.js';
export { replicatorServiceMachine } from './machines/replicatorService.machine.js';
export { statemapQueueMachine } from './machines/statemapQueue.machine.js';
export { queueItemMachine } from './machines/queueItem.machine.js';
export { installerMachine } from './machines/installer.machine.js';
export { snapshotPersisterMachine } from './machines/snapshotPersister.machine.js';
export { createFileSource, type FileSource } from './adapters/files/fileSource.js';
export { createKafkaReplicator, provideKafkaReplicator, type CreateKafkaReplicatorOptions, type KafkaReplicator, type KafkaReplicatorActor } from './adapters/kafka/createKafkaReplicator.js';
export { createKafkaSource, type KafkaSource, type KafkaSourceOptions } from './adapters/kafka/kafkaSource.js';
export { resolveKafkaConfig, defaultKafkaConfig, kafkaEnvironment, type KafkaConfig, type KafkaConfigInput, type KafkaSasl, type KafkaSaslInput, type OAuthBearerProvider, type OAuthBearerToken } from './adapters/kafka/kafkaConfig.js';
export type { KafkaTls, KafkaTlsInput, PemInput } from './adapters/kafka/kafkaTls.js';
export { DEAD_LETTER_HEADERS } from './adapters/kafka/deadLetter.js';
export {
  createPostgresPool,
  createPostgresSnapshotStore,
  createTransactionalInstaller,
  CALLS_PER_CONNECTION,
  startEmbeddedPostgres,
  isRetriableSqlError,
  readReplicationStatus,
  PostgresConfigError,
  PostgresInstallError,
  PostgresSnapshotError,
  TransactionAbortedError,
  type EmbeddedPostgresOptions,
  type InstalledBookkeeping,
  type IsolationLevel,
  type PostgresConnectionOptions,
  type PostgresInstallBatchFunction,
  type PostgresInstallFunction,
  type PostgresSnapshotStore,
  type PostgresSnapshotStoreOptions,
  type ReplicationStatus,
  type RetryOptions,
  type RunningEmbeddedPostgres,
  type TransactionalInstaller,
  type TransactionalInstallerOptions,
} from './adapters/postgres/index.js';
export { readGroupPosition, type GroupPosition, type PartitionPosition } from './adapters/kafka/groupPosition.js';
export { failoverMachine, type FailoverOutput } from './machines/failover.machine.js';
export { Replicator, resolveSdkSettings, type ReplicatorOptions, type ResolvedSdkSettings } from './adapters/sdk/replicator.js';
export { SdkErrorKind, TalosSdkError, type JsKafkaConfig, type JsReplicatorConfig, type JsCohortOtelConfig, type JsStatemapItem, type JsStatemapAndSnapshot } from './adapters/sdk/talosSdkTypes.js';
export { createStatelyInspector, type StatelyInspector, type StatelyInspectorAddress, type StatelyInspectorOptions } from './adapters/observability/inspector.js';
export { METRICS, METER_NAME, LATENCY_BUCKETS_MS, type MetricDescriptor } from './adapters/observability/metrics.js';
export { createPrometheusMetrics, type PrometheusMetrics } from './adapters/observability/prometheus.js';
export type { ObservabilityAddresses, ObservabilityOptions, ReplicatorObservability } from './adapters/observability/observability.js';
export type { ReplicatorStatus, QueueStatus, MachineStatus } from './adapters/observability/statusModel.js';
export type { Health, BackpressureLevel } from './adapters/observability/health.js';
export type { CandidateEventTimings } from './adapters/observability/eventTimings.js';
