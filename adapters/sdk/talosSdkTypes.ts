/**
 * The public types of Talos's JavaScript SDK for replicators (`@kindredgroup/cohort_sdk_client`
 * 0.3.x, whose types come from the napi-rs bindings in `@kindredgroup/cohort_sdk_js`), written out
 * here so that a Talos replicator program type-checks against this package unchanged.
 *
 * Sources (github.com/kindredgroup/talos): `cohort_sdk_client/src/replicator.ts`,
 * `cohort_sdk_client/src/index.ts`, `packages/cohort_sdk_js/src/installer/mod.rs`
 * (`JsReplicatorConfig`, `JsStatemapItem`, `JsStatemapAndSnapshot`, `InternalReplicator`),
 * `packages/cohort_sdk_js/src/models/mod.rs` (`JsKafkaConfig`, `JsCohortOtelConfig`),
 * `packages/cohort_sdk_js/src/sdk_errors.rs` (`SdkErrorKind`). napi-rs turns the Rust
 * snake_case fields into camelCase, `Option<T>` into an optional field, `i64`/`u32` into `number`
 * and `HashMap<String, String>` into `Record<string, string>`.
 */

/** Kafka settings (`JsKafkaConfig`; Talos's `talos_rdkafka_utils::KafkaConfig`, built for librdkafka). */
export interface JsKafkaConfig {
  brokers: Array<string>;
  topic: string;
  clientId: string;
  /** The consumer group of the replicator. */
  groupId: string;
  /** Non-empty: SASL authentication (Talos: SASL_PLAINTEXT with SCRAM-SHA-512). */
  username: string;
  password: string;
  /** librdkafka producer properties (the replicator does not produce). */
  producerConfigOverrides: Record<string, string>;
  /** librdkafka consumer properties, e.g. `{ "enable.auto.commit": "false" }`. */
  consumerConfigOverrides: Record<string, string>;
  producerSendTimeoutMs?: number;
  /** librdkafka log level: alert, critical, debug, emerg, error, info, notice, warning. */
  logLevel?: string;
}

/** OpenTelemetry settings of the SDK (`JsCohortOtelConfig`, SDK 0.2.5x and later). */
export interface JsCohortOtelConfig {
  initOtel: boolean;
  name: string;
  enableMetrics: boolean;
  enableTraces: boolean;
  grpcEndpoint?: string;
}

/** Replicator settings (`JsReplicatorConfig`; Talos's `CohortReplicatorConfig`). */
export interface JsReplicatorConfig {
  enableStats: boolean;
  channelSize: number;
  suffixCapacity: number;
  suffixPruneThreshold?: number;
  suffixMinimumSizeOnPrune?: number;
  certifierMessageReceiverCommitFreqMs: number;
  statemapQueueCleanupFreqMs: number;
  statemapInstallerThreadpool: number;
  /** Required by SDK 0.2.5x and later; older SDKs did not have it, so it is optional here. */
  otelTelemetry?: JsCohortOtelConfig;
}

/** One statemap entry of a committed candidate, as the install callback receives it. */
export interface JsStatemapItem {
  action: string;
  version: number;
  /** Absent (not null) when the decision has no safepoint: napi-rs leaves a `None` field unset. */
  safepoint?: number;
  /** `any`, as in the SDK, so that `const t: Transfer = item.payload` keeps compiling. */
  payload: any;
}

/** The install callback's argument: the statemap items of one version, and that version. */
export interface JsStatemapAndSnapshot {
  statemap: Array<JsStatemapItem>;
  version: number;
}

/** `SdkErrorKind` (a napi string enum: the values are the names). */
export const SdkErrorKind = {
  Certification: 'Certification',
  CertificationTimeout: 'CertificationTimeout',
  Cancelled: 'Cancelled',
  Messaging: 'Messaging',
  Persistence: 'Persistence',
  Internal: 'Internal',
  OutOfOrderCallbackFailed: 'OutOfOrderCallbackFailed',
  OutOfOrderSnapshotTimeout: 'OutOfOrderSnapshotTimeout',
} as const;
export type SdkErrorKind = (typeof SdkErrorKind)[keyof typeof SdkErrorKind];

/** The only error the SDK's `Replicator.init` and `run` throw; the original error is its `cause`. */
export class TalosSdkError extends Error {
  constructor(
    readonly kind: SdkErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TalosSdkError';
  }
}

/** The SDK's callbacks, as `Replicator.run` takes them. */
export type GetSnapshotCallback = () => Promise<number>;
export type UpdateSnapshotCallback = (version: number) => Promise<void>;
export type StatemapInstallerCallback = (data: JsStatemapAndSnapshot) => Promise<void>;
