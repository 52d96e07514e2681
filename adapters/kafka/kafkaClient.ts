/**
 * Builds the kafkajs client, consumer and producer from a resolved `KafkaConfig`, with kafkajs'
 * own logs routed to the replicator's logger and retries that never give up: a broker outage
 * is waited out with exponential backoff and jitter (kafkajs' retry module), never a crash.
 */
import { Kafka, logLevel, PartitionAssigners, Partitioners, type Consumer, type logCreator, type Producer, type SASLOptions } from 'kafkajs';
import type { Logger } from '../logging.js';
import type { KafkaConfig, KafkaSasl, OAuthBearerProvider } from './kafkaConfig.js';
import { kafkaTlsOptions } from './kafkaTls.js';
import { singleOwnerAssigner } from './singleOwnerAssigner.js';

function kafkaLogCreator(logger: Logger): logCreator {
  return () => ({ level, log }) => {
    const { message, ...extra } = log as { message: string } & Record<string, unknown>;
    delete extra.timestamp;
    delete extra.logger;
    const meta = { kafka: log.namespace, ...extra };
    const text = `kafka: ${message}`;
    if (level === logLevel.ERROR) logger.warn(text, meta);
    else if (level === logLevel.WARN) logger.warn(text, meta);
    else if (level === logLevel.INFO) logger.debug(text, meta);
    else logger.debug(text, meta);
  };
}

export function createKafkaClient(config: KafkaConfig, logger: Logger): Kafka {
  return new Kafka({
    clientId: config.clientId,
    brokers: [...config.brokers],
    ssl: config.ssl === null ? false : kafkaTlsOptions(config.ssl),
    ...(config.sasl ? { sasl: kafkajsSasl(config.sasl) } : {}),
    connectionTimeout: config.connectionTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    retry: { initialRetryTime: config.initialRetryTimeMs, maxRetryTime: config.maxRetryTimeMs, retries: 8, factor: 0.2, multiplier: 2 },
    logLevel: logLevel.INFO,
    logCreator: kafkaLogCreator(logger),
  });
}

function kafkajsSasl(sasl: KafkaSasl): SASLOptions {
  if (sasl.mechanism === 'oauthbearer') return { mechanism: 'oauthbearer', oauthBearerProvider: checkedTokens(sasl.oauthBearerProvider) };
  return { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as SASLOptions;
}

/**
 * kafkajs sends whatever the provider returns; a provider that returns nothing useful (a bare
 * string, an empty token) would only show up as the broker's refusal. Say what was wrong instead.
 */
function checkedTokens(provider: OAuthBearerProvider): OAuthBearerProvider {
  return async () => {
    let token: unknown;
    try {
      token = await provider();
    } catch (error) {
      throw new Error(`the OAuth bearer token provider failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const value = (token as { value?: unknown } | null | undefined)?.value;
    if (typeof value !== 'string' || value === '') {
      const got = typeof token === 'string' ? 'a string (return { value: token } instead)' : token === null || typeof token !== 'object' ? String(token) : `an object whose value is ${JSON.stringify(value)}`;
      throw new Error(`the OAuth bearer token provider must return { value: "<token>" }, got ${got}`);
    }
    return token as Awaited<ReturnType<OAuthBearerProvider>>;
  };
}

export interface KafkaConsumerOptions {
  /** Asked after a crash: false keeps kafkajs from restarting the consumer (default: always restart). */
  readonly restartAfterCrash?: () => boolean;
  /** Tells the group, at each join, under which member id this member owns the partition (it keeps it then). */
  readonly ownedAs?: () => string | null;
}

export function createKafkaConsumer(kafka: Kafka, config: KafkaConfig, options: KafkaConsumerOptions = {}): Consumer {
  const ownedAs = options.ownedAs ?? (() => null);
  return kafka.consumer({
    groupId: config.groupId,
    // Round-robin stays as a fallback the group can agree on while older members are still in it.
    partitionAssigners: [singleOwnerAssigner(ownedAs), PartitionAssigners.roundRobin],
    sessionTimeout: config.sessionTimeoutMs,
    heartbeatInterval: config.heartbeatIntervalMs,
    rebalanceTimeout: config.rebalanceTimeoutMs,
    maxWaitTimeInMs: config.maxWaitTimeMs,
    // One partition: each fetch may bring a few MB, so a backlog is read in few round trips.
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxBytes: 8 * 1024 * 1024,
    // Offsets are committed by the replicator (only persisted snapshots), never by kafkajs.
    allowAutoTopicCreation: false,
    retry: {
      initialRetryTime: config.initialRetryTimeMs,
      maxRetryTime: config.maxRetryTimeMs,
      retries: 8,
      // After a run of failed retries kafkajs restarts the consumer instead of crashing it.
      restartOnFailure: async () => options.restartAfterCrash?.() ?? true,
    },
  });
}

export function createKafkaProducer(kafka: Kafka): Producer {
  // Choosing the partitioner explicitly keeps kafkajs from warning about its v2 default at every start.
  return kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 8 } });
}
