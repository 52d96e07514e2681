/**
 * `Replicator`: the Talos JS SDK's replicator class (`@kindredgroup/cohort_sdk_client`), with the
 * same static `init(kafkaConfig, replicatorConfig)`, the same `run(getSnapshot, updateSnapshot,
 * install)` and the same callback shapes, running on this package's Kafka replicator
 * (`createKafkaReplicator`) instead of the SDK's native Rust addon. A Talos JavaScript replicator
 * switches by changing its import.
 *
 * Behaviour, compared with the SDK:
 * - `init` validates both configs at once and throws a `TalosSdkError` (kind `Internal`, the
 *   `ConfigError` as cause) for a bad value or a misspelt field; the SDK's init only copies them.
 * - `run` runs until the replicator stops, like the SDK's (which never returns in normal
 *   operation). It rejects with a `TalosSdkError` when the replicator fails. Unlike the SDK it can
 *   be stopped: `stop()` lets in-flight installs finish, persists the snapshot with
 *   `updateSnapshot`, commits its offset and leaves the consumer group; then `run` resolves.
 * - A failing `install` is retried with backoff (forever by default, as Talos retries forever);
 *   a failing `getSnapshot` at start is retried too (the SDK's run rejects with `Persistence`).
 * - `run(getSnapshot, install)`, the two-callback form of SDK 0.2 (before `updateSnapshot`
 *   existed, when the install callback wrote the snapshot itself), is accepted too.
 */
import type { InspectionEvent, Observer } from 'xstate';
import { ConfigError, resolveConfig, type ReplicatorConfig, type ReplicatorConfigInput } from '../../machines/config.js';
import type { Installer, SnapshotStore, StatemapItem, Version } from '../../machines/domain.js';
import { InstallFailedError, SourceFailedError, describe } from '../../machines/errors.js';
import { createKafkaReplicator, type KafkaReplicator } from '../kafka/createKafkaReplicator.js';
import { mergeKafkaInputs, resolveKafkaConfig, type KafkaConfig, type KafkaConfigInput } from '../kafka/kafkaConfig.js';
import { createDefaultLogger, type Logger } from '../logging.js';
import { kafkaConfigFromSdk, replicatorConfigFromSdk, type SettingNote } from './talosSdkConfig.js';
import {
  SdkErrorKind,
  TalosSdkError,
  type GetSnapshotCallback,
  type JsKafkaConfig,
  type JsReplicatorConfig,
  type JsStatemapAndSnapshot,
  type JsStatemapItem,
  type StatemapInstallerCallback,
  type UpdateSnapshotCallback,
} from './talosSdkTypes.js';

/** What this package adds to `Replicator.init` (a third argument the SDK does not have). */
export interface ReplicatorOptions {
  /** Where the replicator logs (default: winston on stderr, level from LOG_LEVEL). */
  readonly logger?: Logger;
  /** Settings of this package's replicator, over those mapped from the SDK's (e.g. `maxInstallAttempts`, `installRetry`). */
  readonly config?: ReplicatorConfigInput;
  /** Kafka settings of this package, over those mapped from the SDK's (e.g. `deadLetterTopic`, `sessionTimeoutMs`). */
  readonly kafka?: KafkaConfigInput;
  /** An XState inspection observer. */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/** The settings a `Replicator` runs with, resolved from the SDK's configs. */
export interface ResolvedSdkSettings {
  readonly kafka: KafkaConfig;
  readonly config: ReplicatorConfig;
  readonly notes: readonly SettingNote[];
}

/** The same error under the name the user wrote the setting with. */
function renamed(error: ConfigError, key: string): ConfigError {
  return key === error.key ? error : new ConfigError(key, error.reason);
}

/** Maps and validates the SDK's configs (plus this package's extras); throws a ConfigError naming the setting as the user wrote it. */
export function resolveSdkSettings(kafkaConfig: JsKafkaConfig, replicatorConfig: JsReplicatorConfig, options: ReplicatorOptions = {}): ResolvedSdkSettings {
  const kafkaMapped = kafkaConfigFromSdk(kafkaConfig);
  const replicatorMapped = replicatorConfigFromSdk(replicatorConfig);
  let kafka: KafkaConfig;
  try {
    kafka = resolveKafkaConfig(mergeKafkaInputs(kafkaMapped.kafka, options.kafka ?? {}));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const key = error.key.split('.')[0]!; // sasl.username → sasl, tls.ca → tls
    if (options.kafka?.[key as keyof KafkaConfigInput] !== undefined) throw error; // one of this package's settings: its own name
    // `consumerConfigOverrides["session.timeout.ms"]` rather than `sessionTimeoutMs`; `username` rather than `sasl.username`.
    const origin =
      error.key === 'sasl.username' || error.key === 'sasl.password'
        ? `kafkaConfig.${error.key.slice('sasl.'.length)}`
        : (kafkaMapped.origins[error.key] ?? kafkaMapped.origins[key] ?? (['brokers', 'topic', 'groupId', 'clientId'].includes(key) ? `kafkaConfig.${key}` : error.key));
    throw renamed(error, origin);
  }
  let config: ReplicatorConfig;
  try {
    config = resolveConfig({ ...replicatorMapped.config, ...options.config });
  } catch (error) {
    if (!(error instanceof ConfigError) || !(error.key in replicatorMapped.config) || (options.config && error.key in options.config)) throw error;
    throw renamed(error, `replicatorConfig.${error.key}`);
  }
  return { kafka, config, notes: [...kafkaMapped.notes, ...replicatorMapped.notes] };
}

/** The SDK's argument to the install callback, from this package's statemap items of one version. */
export function toJsStatemapAndSnapshot(statemaps: readonly StatemapItem[], version: Version): JsStatemapAndSnapshot {
  const statemap: JsStatemapItem[] = statemaps.map((item) =>
    item.safepoint === null ? { action: item.action, version: item.version, payload: item.payload } : { action: item.action, version: item.version, safepoint: item.safepoint, payload: item.payload },
  );
  return { statemap, version };
}

/** The SDK's error kind for the error a run ended with. */
export function sdkErrorKindOf(error: unknown): SdkErrorKind {
  if (error instanceof InstallFailedError) return SdkErrorKind.Persistence;
  if (error instanceof SourceFailedError) return SdkErrorKind.Messaging;
  if (error instanceof Error && /^KafkaJS/.test(error.name)) return SdkErrorKind.Messaging;
  return SdkErrorKind.Internal;
}

function toSdkError(error: unknown, kind: SdkErrorKind = sdkErrorKindOf(error)): TalosSdkError {
  if (error instanceof TalosSdkError) return error;
  return new TalosSdkError(kind, describe(error), { cause: error });
}

function requireFunction(name: string, value: unknown): void {
  if (typeof value !== 'function') throw new TalosSdkError(SdkErrorKind.Internal, `Replicator.run: ${name} must be a function, got ${value === null ? 'null' : typeof value}`);
}

export interface AdaptedSdkCallbacks {
  readonly installer: Installer;
  readonly snapshotStore: SnapshotStore;
  /** True for SDK 0.2's `run(getSnapshot, install)`: the install callback writes the snapshot, `updateSnapshot` does nothing. */
  readonly legacy: boolean;
}

/** The SDK's callbacks as this package's Installer and SnapshotStore. Throws a TalosSdkError if one is not a function. */
export function adaptSdkCallbacks(
  getSnapshotCallback: GetSnapshotCallback,
  ...callbacks: [StatemapInstallerCallback] | [UpdateSnapshotCallback, StatemapInstallerCallback]
): AdaptedSdkCallbacks {
  // By the number of arguments, so that a third argument that is undefined by mistake is reported, not taken for SDK 0.2's form.
  const legacy = callbacks.length === 1;
  requireFunction('getSnapshotCallback', getSnapshotCallback);
  if (legacy) requireFunction('statemapInstallerCallback', callbacks[0]);
  else {
    requireFunction('updateSnapshotCallback', callbacks[0]);
    requireFunction('statemapInstallerCallback', callbacks[1]);
  }
  const install = (legacy ? callbacks[0] : callbacks[1]) as StatemapInstallerCallback;
  const updateSnapshot = legacy ? null : (callbacks[0] as UpdateSnapshotCallback);
  return {
    installer: { install: (statemaps, version) => install(toJsStatemapAndSnapshot(statemaps, version)) },
    snapshotStore: {
      getSnapshot: () => getSnapshotCallback(),
      updateSnapshot: updateSnapshot ? (version) => updateSnapshot(version) : async () => {},
    },
    legacy,
  };
}

export class Replicator {
  /** Validates the SDK's configs (the SDK's init only stores them); nothing connects before `run`. */
  static async init(kafkaConfig: JsKafkaConfig, config: JsReplicatorConfig, options: ReplicatorOptions = {}): Promise<Replicator> {
    let settings: ResolvedSdkSettings;
    try {
      settings = resolveSdkSettings(kafkaConfig, config, options);
    } catch (error) {
      throw toSdkError(error, SdkErrorKind.Internal);
    }
    const logger = options.logger ?? createDefaultLogger();
    for (const note of settings.notes) logger[note.level](`${note.key} ${note.message}`);
    return new Replicator(settings, logger, options);
  }

  #kafkaReplicator: KafkaReplicator | null = null;
  #running: Promise<void> | null = null;
  #stopRequested = false;

  private constructor(
    readonly settings: ResolvedSdkSettings,
    private readonly logger: Logger,
    private readonly options: ReplicatorOptions,
  ) {}

  /** This package's Kafka replicator behind this object, once `run` has started it. */
  get kafkaReplicator(): KafkaReplicator | null {
    return this.#kafkaReplicator;
  }

  /**
   * Replicates until stopped: reads the certification topic, calls `install` for every decided
   * version in an order equivalent to the serial order, and `updateSnapshot` with the snapshot
   * every `statemapQueueCleanupFreqMs`. Resolves after `stop()`; rejects with a `TalosSdkError`
   * if the replicator fails.
   */
  run(getSnapshotCallback: GetSnapshotCallback, updateSnapshotCallback: UpdateSnapshotCallback, statemapInstallerCallback: StatemapInstallerCallback): Promise<void>;
  /** SDK 0.2's form: `install` also writes the snapshot, in the same database transaction. */
  run(getSnapshotCallback: GetSnapshotCallback, statemapInstallerCallback: StatemapInstallerCallback): Promise<void>;
  run(getSnapshotCallback: GetSnapshotCallback, ...callbacks: [StatemapInstallerCallback] | [UpdateSnapshotCallback, StatemapInstallerCallback]): Promise<void> {
    if (this.#running) return Promise.reject(new TalosSdkError(SdkErrorKind.Internal, 'Replicator.run was already called on this replicator; create another with Replicator.init'));
    this.#running = this.#run(getSnapshotCallback, callbacks);
    return this.#running;
  }

  async #run(getSnapshotCallback: GetSnapshotCallback, callbacks: [StatemapInstallerCallback] | [UpdateSnapshotCallback, StatemapInstallerCallback]): Promise<void> {
    const { installer, snapshotStore, legacy } = adaptSdkCallbacks(getSnapshotCallback, ...callbacks);
    if (legacy) this.logger.info('Replicator.run(getSnapshot, install): the install callback writes the snapshot (SDK 0.2); the offset is committed up to the installed snapshot');
    if (this.#stopRequested) return;

    let replicator: KafkaReplicator;
    try {
      replicator = createKafkaReplicator({
        kafka: this.settings.kafka,
        config: this.settings.config,
        installer,
        snapshotStore,
        logger: this.logger,
        ...(this.options.inspect ? { inspect: this.options.inspect } : {}),
      });
    } catch (error) {
      throw toSdkError(error, SdkErrorKind.Internal);
    }
    this.#kafkaReplicator = replicator;
    let output;
    try {
      output = await replicator.run();
    } catch (error) {
      throw toSdkError(error);
    }
    if (output.outcome === 'failed') {
      const error = output.error ?? new Error('the replicator failed');
      // An error that is not the last turn's came from the consumer group membership: Kafka.
      throw toSdkError(error, error === output.lastTurn?.error ? sdkErrorKindOf(error) : SdkErrorKind.Messaging);
    }
  }

  /**
   * Not in the SDK (its replicator runs until the process ends): stops gracefully. Reading
   * stops, in-flight installs finish, the snapshot is persisted through `updateSnapshot` and its
   * offset committed, the consumer group is left; then `run` resolves. Resolves when `run` has
   * settled (at once if `run` was never called).
   */
  async stop(): Promise<void> {
    this.#stopRequested = true;
    this.#kafkaReplicator?.stop();
    await this.#running?.catch(() => undefined);
  }
}
