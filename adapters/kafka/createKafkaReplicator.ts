/**
 * The composition root for production: a cohort replicator reading the certification topic from
 * Kafka, inside the failover machine that runs one replicator per turn of partition ownership.
 *
 * `provideKafkaReplicator` returns the failover machine with every effect provided (for hosts that
 * spawn it in their own statechart); `createKafkaReplicator` builds the kafkajs client, consumer
 * and dead-letter producer from a `KafkaConfig` and returns a ready (not yet started) actor.
 */
import { createActor, type Actor, type AnyActorRef } from 'xstate';
import { createMembership } from '../../actors/membership.js';
import type { BatchParser } from '../../actors/sourceConsumer.js';
import { resolveConfig, type ReplicatorConfigInput } from '../../machines/config.js';
import type { Installer, SnapshotStore } from '../../machines/domain.js';
import { describe } from '../../machines/errors.js';
import { failoverMachine, type FailoverOutput } from '../../machines/failover.machine.js';
import type { RejectedRecord } from '../../machines/messages.js';
import { provideCohortReplicator, requireBatchInstallerFor } from '../createCohortReplicator.js';
import { createDefaultLogger, type Logger } from '../logging.js';
import { prepareObservability, type ObservabilityOptions, type ReplicatorObservability } from '../observability/observability.js';
import { parsePipelineBatch } from '../wire/parseRecord.js';
import { createDeadLetter, type DeadLetter } from './deadLetter.js';
import { createKafkaClient, createKafkaConsumer, createKafkaProducer } from './kafkaClient.js';
import { describeKafkaConfig, resolveKafkaConfig, type KafkaConfig, type KafkaConfigInput } from './kafkaConfig.js';
import { createKafkaSource, type KafkaSource } from './kafkaSource.js';

export interface KafkaReplicatorEffects {
  readonly source: KafkaSource;
  readonly installer: Installer;
  readonly snapshotStore: SnapshotStore;
  readonly logger: Logger;
  readonly parse?: BatchParser;
  readonly onRejected?: (reject: RejectedRecord) => void;
}

/** The failover machine with every effect provided; spawn it with input `{ config }` (a resolved config). */
export function provideKafkaReplicator(effects: KafkaReplicatorEffects) {
  const { logger } = effects;
  return failoverMachine.provide({
    actors: {
      membership: createMembership(effects.source),
      replicator: provideCohortReplicator(effects),
    },
    actions: {
      reportTurnStarted: (_, { turn }) => logger.info(`replicating (turn ${turn}): this process owns the certification topic`),
      reportTurnEnded: (_, { turn, output }) =>
        output.outcome === 'failed'
          ? logger.error(`turn ${turn} failed: ${describe(output.error)}`, { snapshot: output.snapshot, persisted: output.persisted, committed: output.committed })
          : logger.info(`turn ${turn} ended`, { snapshot: output.snapshot, persisted: output.persisted, committed: output.committed }),
    },
  });
}

export interface CreateKafkaReplicatorOptions extends ObservabilityOptions {
  readonly kafka: KafkaConfigInput;
  readonly installer: Installer;
  readonly snapshotStore: SnapshotStore;
  readonly config?: ReplicatorConfigInput;
  readonly logger?: Logger;
  readonly parse?: BatchParser;
  /** Called for every malformed record, after it is logged (and copied to the dead-letter topic if one is set). */
  readonly onRejected?: (reject: RejectedRecord) => void;
}

export type KafkaReplicatorActor = Actor<ReturnType<typeof provideKafkaReplicator>>;

export interface KafkaReplicator {
  readonly actor: KafkaReplicatorActor;
  readonly source: KafkaSource;
  readonly kafkaConfig: KafkaConfig;
  readonly deadLetter: DeadLetter | null;
  /** Status, health, metrics and inspector addresses (see `statusPort`, `inspect`, `meterProvider`). */
  readonly observability: ReplicatorObservability;
  /** Starts the actor; resolves with its output once it has stopped (or failed) and every Kafka client is closed. */
  run(): Promise<FailoverOutput>;
  /** Asks for a graceful stop: in-flight installs finish, the snapshot is persisted, the offset committed, the group left. */
  stop(): void;
}

export function createKafkaReplicator(options: CreateKafkaReplicatorOptions): KafkaReplicator {
  const config = resolveConfig(options.config);
  const observed = prepareObservability(options, config, options.logger ?? createDefaultLogger());
  const logger = observed.logger;
  requireBatchInstallerFor(config, options.installer);
  const kafkaConfig = resolveKafkaConfig(options.kafka);
  logger.debug('kafka settings', describeKafkaConfig(kafkaConfig));
  const kafka = createKafkaClient(kafkaConfig, logger);
  // A crash while the source disconnects (a stop during the group join cuts the join request) must
  // not make kafkajs restart the consumer: it would rejoin the group it just left and hold the partition.
  const source: KafkaSource = createKafkaSource({
    consumer: createKafkaConsumer(kafka, kafkaConfig, { restartAfterCrash: () => source.closing !== true, ownedAs: () => source.ownedAs }),
    topic: kafkaConfig.topic,
    logger,
    initialRetryTimeMs: kafkaConfig.initialRetryTimeMs,
    maxRetryTimeMs: kafkaConfig.maxRetryTimeMs,
  });
  const deadLetter = kafkaConfig.deadLetterTopic
    ? createDeadLetter({ producer: createKafkaProducer(kafka), topic: kafkaConfig.deadLetterTopic, sourceTopic: kafkaConfig.topic, logger })
    : null;
  const parse = options.parse ?? parsePipelineBatch;
  const machine = provideKafkaReplicator({
    source,
    installer: options.installer,
    snapshotStore: options.snapshotStore,
    logger,
    parse: deadLetter ? deadLetter.remembering(parse) : parse,
    onRejected: (reject) => {
      deadLetter?.onRejected(reject);
      options.onRejected?.(reject);
    },
  });
  const created = createActor(machine, { input: { config }, ...(observed.inspect ? { inspect: observed.inspect } : {}) });
  const actor = observed.attach(created, { turnOf: (): AnyActorRef | undefined => created.getSnapshot().children.replicator, endOffset: () => source.endOffset() });
  return {
    actor,
    observability: actor.observability,
    source,
    kafkaConfig,
    deadLetter,
    run: () =>
      new Promise<FailoverOutput>((resolve, reject) => {
        actor.subscribe({
          complete: () => {
            const output = actor.getSnapshot().output!;
            void (deadLetter?.close() ?? Promise.resolve()).then(() => resolve(output), reject);
          },
          error: reject,
        });
        actor.start();
      }),
    stop: () => actor.send({ type: 'STOP' }),
  };
}
