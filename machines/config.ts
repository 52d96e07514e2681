/**
 * Every setting of the replicator: names, defaults, and validation. Names follow Talos's JS SDK
 * (`ReplicatorConfig`) where it has them. `resolveConfig` is the only place that reads user
 * config; everything downstream receives a complete, valid `ReplicatorConfig`.
 */
import type { BackoffPolicy } from './backoff.js';

export interface ReplicatorConfig {
  /** Most records handed from the source to the replicator service in one batch. */
  readonly channelSize: number;
  /** Candidates the suffix may hold before the source is paused (resumed below `suffixResumeRatio` of it). */
  readonly suffixCapacity: number;
  readonly suffixResumeRatio: number;
  /**
   * Backpressure as in Talos: above this fraction of `suffixCapacity` the source slows down,
   * waiting between `backpressureMinDelayMs` and `backpressureMaxDelayMs` after each batch (more
   * the fuller the suffix); if the suffix head then does not move for `backpressureStallMs`
   * while versions wait for installs, the source pauses until it moves (a critical stop).
   */
  readonly backpressureFillThreshold: number;
  readonly backpressureMinDelayMs: number;
  readonly backpressureMaxDelayMs: number;
  readonly backpressureStallMs: number;
  /** How often the source is asked to commit the persisted snapshot's offset. */
  readonly certifierMessageReceiverCommitFreqMs: number;
  /** How often the in-memory snapshot is handed to the persister (Talos prunes the queue on this timer; we prune at once). */
  readonly statemapQueueCleanupFreqMs: number;
  /** Install calls running at once. */
  readonly statemapInstallerThreadpool: number;
  /** Versions per install call, when the installer has `installBatch` (1: one version per call). */
  readonly installBatchSize: number;
  /** Attempts per version before the replicator stops with an error; Infinity retries forever, as Talos does. */
  readonly maxInstallAttempts: number;
  readonly installRetry: BackoffPolicy;
  readonly snapshotRetry: BackoffPolicy;
  /** Periodic one-line queue statistics in the log. */
  readonly enableStats: boolean;
  readonly statsFreqMs: number;
}

export type ReplicatorConfigInput = {
  readonly [K in keyof ReplicatorConfig]?: ReplicatorConfig[K] extends BackoffPolicy ? Partial<BackoffPolicy> : ReplicatorConfig[K];
};

export const defaultConfig: ReplicatorConfig = {
  channelSize: 10_000,
  suffixCapacity: 10_000,
  suffixResumeRatio: 0.7,
  backpressureFillThreshold: 0.7,
  backpressureMinDelayMs: 10,
  backpressureMaxDelayMs: 100,
  backpressureStallMs: 200,
  certifierMessageReceiverCommitFreqMs: 10_000,
  statemapQueueCleanupFreqMs: 10_000,
  statemapInstallerThreadpool: 50,
  installBatchSize: 1,
  maxInstallAttempts: Infinity,
  installRetry: { initialDelayMs: 50, maxDelayMs: 30_000, multiplier: 2, jitter: 0.2 },
  snapshotRetry: { initialDelayMs: 100, maxDelayMs: 10_000, multiplier: 2, jitter: 0.2 },
  enableStats: false,
  statsFreqMs: 10_000,
};

export class ConfigError extends Error {
  /** `reason`: what is wrong, without the setting's name (for callers that name it their own way). */
  constructor(readonly key: string, readonly reason: string, where = `invalid replicator config "${key}"`) {
    super(`${where}: ${reason}`);
    this.name = 'ConfigError';
  }
}

function positiveInteger(key: string, value: unknown, { allowInfinity = false } = {}): number {
  if (allowInfinity && value === Infinity) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigError(key, `must be a positive integer${allowInfinity ? ' or Infinity' : ''}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function ratio(key: string, value: unknown, { open = false } = {}): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || value > 1 || (open && (value === 0 || value === 1))) {
    throw new ConfigError(key, `must be a number between 0 and 1, got ${JSON.stringify(value)}`);
  }
  return value;
}

function policy(key: string, given: Partial<BackoffPolicy> | undefined, base: BackoffPolicy): BackoffPolicy {
  if (given === undefined) return base;
  if (typeof given !== 'object' || given === null) throw new ConfigError(key, 'must be an object');
  for (const name of Object.keys(given)) if (!(name in base)) throw new ConfigError(`${key}.${name}`, 'is not a known setting');
  const merged = { ...base, ...given };
  positiveInteger(`${key}.initialDelayMs`, merged.initialDelayMs);
  positiveInteger(`${key}.maxDelayMs`, merged.maxDelayMs);
  if (merged.maxDelayMs < merged.initialDelayMs) throw new ConfigError(`${key}.maxDelayMs`, 'must not be below initialDelayMs');
  if (typeof merged.multiplier !== 'number' || !(merged.multiplier >= 1)) throw new ConfigError(`${key}.multiplier`, `must be a number >= 1, got ${JSON.stringify(merged.multiplier)}`);
  ratio(`${key}.jitter`, merged.jitter);
  return merged;
}

/** Validates user config and fills in defaults; throws a ConfigError naming the first bad key. */
export function resolveConfig(input: ReplicatorConfigInput = {}): ReplicatorConfig {
  if (typeof input !== 'object' || input === null) throw new ConfigError('config', 'must be an object');
  for (const key of Object.keys(input)) {
    if (!(key in defaultConfig)) throw new ConfigError(key, 'is not a known setting');
  }
  const merged = { ...defaultConfig, ...input } as Record<string, unknown>;
  const config: ReplicatorConfig = {
    channelSize: positiveInteger('channelSize', merged.channelSize),
    suffixCapacity: positiveInteger('suffixCapacity', merged.suffixCapacity),
    suffixResumeRatio: ratio('suffixResumeRatio', merged.suffixResumeRatio, { open: true }),
    backpressureFillThreshold: ratio('backpressureFillThreshold', merged.backpressureFillThreshold, { open: true }),
    backpressureMinDelayMs: positiveInteger('backpressureMinDelayMs', merged.backpressureMinDelayMs),
    backpressureMaxDelayMs: positiveInteger('backpressureMaxDelayMs', merged.backpressureMaxDelayMs),
    backpressureStallMs: positiveInteger('backpressureStallMs', merged.backpressureStallMs),
    certifierMessageReceiverCommitFreqMs: positiveInteger('certifierMessageReceiverCommitFreqMs', merged.certifierMessageReceiverCommitFreqMs),
    statemapQueueCleanupFreqMs: positiveInteger('statemapQueueCleanupFreqMs', merged.statemapQueueCleanupFreqMs),
    statemapInstallerThreadpool: positiveInteger('statemapInstallerThreadpool', merged.statemapInstallerThreadpool),
    installBatchSize: positiveInteger('installBatchSize', merged.installBatchSize),
    maxInstallAttempts: positiveInteger('maxInstallAttempts', merged.maxInstallAttempts, { allowInfinity: true }),
    installRetry: policy('installRetry', input.installRetry, defaultConfig.installRetry),
    snapshotRetry: policy('snapshotRetry', input.snapshotRetry, defaultConfig.snapshotRetry),
    enableStats: typeof merged.enableStats === 'boolean' ? merged.enableStats : (() => { throw new ConfigError('enableStats', `must be a boolean, got ${JSON.stringify(merged.enableStats)}`); })(),
    statsFreqMs: positiveInteger('statsFreqMs', merged.statsFreqMs),
  };
  if (config.backpressureMaxDelayMs < config.backpressureMinDelayMs) throw new ConfigError('backpressureMaxDelayMs', 'must not be below backpressureMinDelayMs');
  return config;
}
