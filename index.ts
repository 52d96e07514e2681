/** talos-cohort-replicator: the public API. */
export { createCohortReplicator, provideCohortReplicator, type CohortReplicator, type CohortReplicatorEffects, type CreateCohortReplicatorOptions } from './adapters/createCohortReplicator.js';
export { createMemorySource, type MemorySource, type MemorySourceOptions } from './adapters/memorySource.js';
export { createDefaultLogger, silentLogger, type Logger } from './adapters/logging.js';
export { parseBatch, parseRecord, describeReject } from './adapters/wire/parseRecord.js';
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
export { Replicator, resolveSdkSettings, type ReplicatorOptions, type ResolvedSdkSettings } from './adapters/sdk/replicator.js';
export { SdkErrorKind, TalosSdkError, type JsKafkaConfig, type JsReplicatorConfig, type JsCohortOtelConfig, type JsStatemapItem, type JsStatemapAndSnapshot } from './adapters/sdk/talosSdkTypes.js';
