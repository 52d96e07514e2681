/**
 * The composition root: gives the machines their effects (the user's source, installer and
 * snapshot store, the parser, the logger) with `provide()`, and creates the root actor.
 *
 * `provideCohortReplicator` returns the machine itself, for hosts that spawn it inside their
 * own statechart; `createCohortReplicator` returns a ready (not yet started) actor.
 */
import { createActor, type Actor } from 'xstate';
import { createInstallPool } from '../actors/installPool.js';
import { createReadSnapshot } from '../actors/readSnapshot.js';
import { createSourceConsumer, type BatchParser } from '../actors/sourceConsumer.js';
import { createWriteSnapshot } from '../actors/writeSnapshot.js';
import { cohortReplicatorMachine } from '../machines/cohortReplicator.machine.js';
import { ConfigError, resolveConfig, type ReplicatorConfig, type ReplicatorConfigInput } from '../machines/config.js';
import type { Installer, MessageSource, SnapshotStore } from '../machines/domain.js';
import type { RejectedRecord } from '../machines/messages.js';
import { describe } from '../machines/errors.js';
import { installerMachine } from '../machines/installer.machine.js';
import { replicatorServiceMachine } from '../machines/replicatorService.machine.js';
import { snapshotPersisterMachine } from '../machines/snapshotPersister.machine.js';
import { statemapQueueMachine } from '../machines/statemapQueue.machine.js';
import { createDefaultLogger, type Logger } from './logging.js';
import { prepareObservability, type ObservabilityOptions, type ReplicatorObservability } from './observability/observability.js';
import { describeReject, parsePipelineBatch } from './wire/parseRecord.js';
import { createWorkerParser } from './wire/workerParser.js';

export interface CohortReplicatorEffects {
  readonly source: MessageSource;
  readonly installer: Installer;
  readonly snapshotStore: SnapshotStore;
  readonly logger?: Logger;
  /** Turns raw records into messages; defaults to parsing on the calling thread. */
  readonly parse?: BatchParser;
  /** Most records per `parse` call (default: `channelSize`); see SourceConsumerOptions. */
  readonly recordsPerParse?: number;
  /** Called for every record that could not be used (after it is logged): a rejects file, a dead-letter topic. */
  readonly onRejected?: (reject: RejectedRecord) => void;
}

/**
 * Observability (adapters/observability/): `meterProvider` (OpenTelemetry metrics under Talos's
 * names), `statusPort` / `statusHost` (status page, /status, /health, /metrics), and `inspect`:
 * an XState inspection observer (for example `@statelyai/inspect`'s `inspector.inspect`), or
 * `true` / `{ port }` for the built-in Stately inspector bridge.
 */
export interface CreateCohortReplicatorOptions extends CohortReplicatorEffects, ObservabilityOptions {
  readonly config?: ReplicatorConfigInput;
  /**
   * Parse records on a worker thread (`createWorkerParser`): the main thread then only copies
   * each batch's bytes over and builds the messages from the worker's answer, with exactly the
   * results of parsing in place. Worth it with a second core when the main thread is the
   * bottleneck (`npm run bench` shows both). The worker ends with the replicator. Not with `parse`.
   */
  readonly parseOnWorkerThread?: boolean;
}

function requireMethods(name: string, value: unknown, methods: readonly string[]): void {
  if (typeof value !== 'object' || value === null) throw new TypeError(`createCohortReplicator: "${name}" must be an object with ${methods.join(', ')}`);
  for (const method of methods) {
    if (typeof (value as Record<string, unknown>)[method] !== 'function') throw new TypeError(`createCohortReplicator: "${name}.${method}" must be a function`);
  }
}

/** The root machine with every effect provided; spawn it with input `{ config }` (a resolved config). */
export function provideCohortReplicator(effects: CohortReplicatorEffects) {
  requireMethods('source', effects.source, ['commit', 'pause', 'resume']);
  if (typeof effects.source.batches?.subscribe !== 'function') throw new TypeError('createCohortReplicator: "source.batches" must be an rxjs Observable');
  requireMethods('installer', effects.installer, ['install']);
  requireMethods('snapshotStore', effects.snapshotStore, ['getSnapshot', 'updateSnapshot']);
  const logger = effects.logger ?? createDefaultLogger();
  const { source, installer, snapshotStore } = effects;

  return cohortReplicatorMachine.provide({
    actors: {
      sourceConsumer: createSourceConsumer(source, effects.parse ?? parsePipelineBatch, { recordsPerParse: effects.recordsPerParse }),
      replicatorService: replicatorServiceMachine.provide({
        actions: {
          reportRejected: (_, { rejects }) => {
            for (const reject of rejects) {
              logger.warn(describeReject(reject), { offset: reject.offset, origin: reject.origin });
              effects.onRejected?.(reject);
            }
          },
        },
      }),
      statemapQueue: statemapQueueMachine.provide({
        actors: {
          readSnapshot: createReadSnapshot(snapshotStore),
          installer: installerMachine.provide({ actors: { installPool: createInstallPool(installer) } }),
          persister: snapshotPersisterMachine.provide({ actors: { writeSnapshot: createWriteSnapshot(snapshotStore) } }),
        },
        actions: {
          reportInstallRetry: (_, { version, attempts, delayMs, error }) =>
            logger.warn(`install of version ${version} failed (attempt ${attempts}), retrying in ${delayMs} ms: ${describe(error)}`, { version, attempts }),
          reportItemFailed: (_, { version, attempts, error }) =>
            logger.error(`install of version ${version} failed ${attempts} times, giving up: ${describe(error)}`, { version, attempts }),
          reportSnapshotLoadFailed: (_, { attempts, error }) => logger.warn(`getSnapshot failed (attempt ${attempts}), retrying: ${describe(error)}`),
          reportSnapshotWriteFailed: (_, { version, attempts, error }) =>
            logger.warn(`updateSnapshot(${version}) failed (attempt ${attempts}), retrying: ${describe(error)}`),
          reportRefreshFailed: (_, { error }) => logger.warn(`snapshot refresh failed: ${describe(error)}`),
        },
      }),
    },
    actions: {
      reportCommitFailed: (_, { version, error }) => logger.warn(`offset commit for version ${version} failed, will retry: ${describe(error)}`),
      reportCloseFailed: (_, { error }) => logger.warn(`closing the message source failed: ${describe(error)}`),
    },
  });
}

/** The root actor; `observability` has its status, health, addresses and `close()`. */
export type CohortReplicator = Actor<ReturnType<typeof provideCohortReplicator>> & { readonly observability: ReplicatorObservability };

/** Batched installs need an installer that can take a batch. */
export function requireBatchInstallerFor(config: ReplicatorConfig, installer: Installer | undefined): void {
  if (config.installBatchSize > 1 && typeof installer?.installBatch !== 'function') {
    throw new ConfigError('installBatchSize', `is ${config.installBatchSize}, but the installer has no installBatch method`);
  }
}

/**
 * Records per call to the worker parser: a batch of 2 000 (a default memory source's, or a Kafka
 * fetch's) goes over in parts, so the main thread starts on the first while the worker parses
 * the rest.
 */
const WORKER_RECORDS_PER_PARSE = 500;

export function createCohortReplicator(options: CreateCohortReplicatorOptions): CohortReplicator {
  const config: ReplicatorConfig = resolveConfig(options.config);
  requireBatchInstallerFor(config, options.installer);
  if (options.parseOnWorkerThread && options.parse) throw new TypeError('createCohortReplicator: "parseOnWorkerThread" and "parse" cannot both be given');
  const observability = prepareObservability(options, config, options.logger ?? createDefaultLogger());
  const worker = options.parseOnWorkerThread ? createWorkerParser({ deferStatemaps: true }) : null;
  // A batch still being parsed when the replicator stops rejects once the worker closes; the
  // source consumer keeps that from counting as an unhandled rejection, for any asynchronous parser.
  const machine = provideCohortReplicator({ ...options, logger: observability.logger, ...(worker ? { parse: worker.parse, recordsPerParse: WORKER_RECORDS_PER_PARSE } : {}) });
  const actor = createActor(machine, { input: { config }, ...(observability.inspect ? { inspect: observability.inspect } : {}) });
  if (worker) {
    const close = () => void worker.close();
    actor.subscribe({ complete: close, error: close });
  }
  const { source } = options;
  return observability.attach(actor, source.endOffset ? { endOffset: () => source.endOffset!() } : undefined);
}
