/**
 * What the Kafka integration tests share: settings that suit the librdkafka mock cluster (see
 * the header of test/support/kafka/mockBroker.ts), producing a generated bank workload to a
 * topic, reading the committed offset back with the admin client, a logger that keeps its
 * lines, an installer that records what it is handed, and polling helpers.
 *
 * Nothing here fakes the broker or the database: the tests run against the mock cluster (a
 * real Kafka-protocol broker) and an embedded Postgres.
 */
import { PAUSED_FLOW_STATES } from '../../machines/backpressure.js';
import { flowStateOf } from '../../adapters/observability/health.js';
import { setTimeout as delay } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import type { Pool } from 'pg';
import { loadInstallerModule } from '../../adapters/cli/loadInstallerModule.js';
import type { KafkaConfigInput } from '../../adapters/kafka/kafkaConfig.js';
import type { KafkaReplicatorActor } from '../../adapters/kafka/createKafkaReplicator.js';
import type { Logger } from '../../adapters/logging.js';
import { createPostgresSnapshotStore, createTransactionalInstaller, type PostgresSnapshotStore, type TransactionalInstaller } from '../../adapters/postgres/index.js';
import { generateCertificationLog, type CertifierOptions } from '../../adapters/workload/certifier.js';
import type { InstallJob, RawRecord, StatemapItem, Version } from '../../machines/domain.js';
import { FAST_MOCK_CLIENT_CONFIG, FAST_MOCK_CONSUMER_CONFIG } from '../support/kafka/mockBroker.js';
import { OFFSET_ZERO_FILLER, createLogProducer } from '../support/kafka/produceLog.js';
import { writeInstaller } from '../cli/fixtures.js';

const { Kafka, logLevel } = kafkajs;

/** Group timings the mock needs (FAST_MOCK_CONSUMER_CONFIG), in the replicator's own setting names. */
export function mockKafkaSettings(brokers: string | readonly string[], topic: string, groupId: string, extra: KafkaConfigInput = {}): KafkaConfigInput {
  return {
    brokers: typeof brokers === 'string' ? brokers.split(',') : brokers,
    topic,
    groupId,
    sessionTimeoutMs: FAST_MOCK_CONSUMER_CONFIG.sessionTimeout,
    heartbeatIntervalMs: FAST_MOCK_CONSUMER_CONFIG.heartbeatInterval,
    rebalanceTimeoutMs: FAST_MOCK_CONSUMER_CONFIG.rebalanceTimeout,
    maxWaitTimeMs: FAST_MOCK_CONSUMER_CONFIG.maxWaitTimeInMs,
    initialRetryTimeMs: FAST_MOCK_CLIENT_CONFIG.retry.initialRetryTime,
    maxRetryTimeMs: FAST_MOCK_CLIENT_CONFIG.retry.maxRetryTime,
    connectionTimeoutMs: FAST_MOCK_CLIENT_CONFIG.connectionTimeout,
    requestTimeoutMs: FAST_MOCK_CLIENT_CONFIG.requestTimeout,
    ...extra,
  };
}

/** The same timings for `talos-replicator run`, through the environment variables it reads. */
export const MOCK_KAFKA_ENV = {
  KAFKA_SESSION_TIMEOUT_MS: String(FAST_MOCK_CONSUMER_CONFIG.sessionTimeout),
  KAFKA_HEARTBEAT_INTERVAL_MS: String(FAST_MOCK_CONSUMER_CONFIG.heartbeatInterval),
  KAFKA_REBALANCE_TIMEOUT_MS: String(FAST_MOCK_CONSUMER_CONFIG.rebalanceTimeout),
  KAFKA_MAX_WAIT_TIME_MS: String(FAST_MOCK_CONSUMER_CONFIG.maxWaitTimeInMs),
} as const;

/** Replicator settings that make progress visible within a test: persist and commit every 50 ms, retry quickly. */
export const QUICK_REPLICATOR_CONFIG = {
  statemapQueueCleanupFreqMs: 50,
  certifierMessageReceiverCommitFreqMs: 50,
  statemapInstallerThreadpool: 8,
  installRetry: { initialDelayMs: 20, maxDelayMs: 300 },
  snapshotRetry: { initialDelayMs: 20, maxDelayMs: 300 },
} as const;

/** The generated log as it goes to the topic: offset 0 holds a filler candidate, so offsets equal versions. */
export function workloadRecords(options: CertifierOptions): RawRecord[] {
  return [OFFSET_ZERO_FILLER, ...generateCertificationLog(options)];
}

/** Produces records in order (their offsets are assigned by the broker: send them from offset 0 on). */
export async function produce(bootstrap: string, topic: string, records: Iterable<RawRecord>): Promise<number> {
  const producer = await createLogProducer(bootstrap, topic);
  try {
    return await producer.send(records);
  } finally {
    await producer.close();
  }
}

export interface KafkaAdmin {
  /** The group's committed offset (the next offset to read), or null when none is committed. */
  committedOffset(groupId: string, topic: string): Promise<number | null>;
  /** The topic's end offset (one past the last record). */
  endOffset(topic: string): Promise<number>;
  /** Reads a topic from the beginning (all partitions) with a throw-away group; start it early, its first join takes ~3 s. */
  startReader(topic: string): Promise<TopicReader>;
  close(): Promise<void>;
}

export interface TopicReader {
  /** Every record read so far, in the order read. */
  readonly messages: kafkajs.KafkaMessage[];
  waitFor(count: number, timeoutMs?: number): Promise<kafkajs.KafkaMessage[]>;
  close(): Promise<void>;
}

export async function connectAdmin(bootstrap: string): Promise<KafkaAdmin> {
  const kafka = new Kafka({ clientId: 'test-admin', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING, ...FAST_MOCK_CLIENT_CONFIG });
  const admin = kafka.admin();
  await admin.connect();
  return {
    async committedOffset(groupId, topic) {
      const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const offset = Number(entry?.partitions[0]?.offset ?? -1);
      return offset < 0 ? null : offset;
    },
    async endOffset(topic) {
      const offsets = await admin.fetchTopicOffsets(topic);
      return Number(offsets[0]?.high ?? 0);
    },
    async startReader(topic) {
      const consumer = kafka.consumer({ groupId: `reader-${topic}-${Date.now()}`, ...FAST_MOCK_CONSUMER_CONFIG });
      const messages: kafkajs.KafkaMessage[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void messages.push(message) });
      return {
        messages,
        async waitFor(count, timeoutMs = 15_000) {
          await until(`${count} records on ${topic}`, () => messages.length >= count, timeoutMs);
          return messages;
        },
        close: () => consumer.disconnect(),
      };
    },
    close: () => admin.disconnect(),
  };
}

/**
 * Moves a group's committed offset to `offset`, as an operator (or a script) would with a
 * consumer of that group: the mock has no DescribeGroups, so kafkajs' `admin.setOffsets()` cannot.
 * A throw-away member joins the group (reading nothing), commits, and leaves; run it while no
 * other member is in the group.
 */
export async function commitGroupOffset(bootstrap: string, groupId: string, topic: string, offset: number): Promise<void> {
  const kafka = new Kafka({ clientId: 'test-operator', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING, ...FAST_MOCK_CLIENT_CONFIG });
  const consumer = kafka.consumer({ groupId, ...FAST_MOCK_CONSUMER_CONFIG });
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => void (joined = true));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    // Nothing is read: every partition is paused as soon as it is assigned.
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async ({ pause }) => void pause() });
    await until(`a member of ${groupId} to join`, () => joined, 15_000);
    await consumer.commitOffsets([{ topic, partition: 0, offset: String(offset) }]);
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Clean-ups for one test, run newest first when it ends, each given at most 5 s. Call it before
 * `mockKafkaForTest` (node:test runs `after` hooks in the order registered): clients then go
 * before the broker they talk to, and a kafkajs client never retries against a stopped broker.
 */
export function teardown(t: { after(fn: () => unknown): void }): (fn: () => unknown) => void {
  const steps: Array<() => unknown> = [];
  t.after(async () => {
    for (const step of steps.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)));
      await Promise.race([Promise.resolve().then(step).catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
    }
  });
  return (fn) => void steps.push(fn);
}

/** Polls `predicate` (sync or async) every 25 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000, describeState?: () => unknown): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) {
      const state = describeState ? ` (state: ${JSON.stringify(await describeState())})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${state}`);
    }
    await delay(25);
  }
}

export interface CapturedLine {
  readonly level: 'error' | 'warn' | 'info' | 'debug';
  readonly message: string;
  readonly meta?: Record<string, unknown>;
}

/** A logger that keeps every line (and prints all but debug lines when TALOS_TEST_LOG=1, every line with TALOS_TEST_LOG=debug). */
export function captureLogger(): Logger & { readonly lines: CapturedLine[]; text(level?: CapturedLine['level']): string } {
  const lines: CapturedLine[] = [];
  const echo = process.env.TALOS_TEST_LOG;
  const at = (level: CapturedLine['level']) => (message: string, meta?: Record<string, unknown>) => {
    lines.push(meta === undefined ? { level, message } : { level, message, meta });
    if (echo === 'debug' || (echo === '1' && level !== 'debug')) process.stderr.write(`${new Date().toISOString()} [${level}] ${message}\n`);
  };
  return {
    lines,
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    text: (level) => lines.filter((line) => level === undefined || line.level === level).map((line) => line.message).join('\n'),
  };
}

export interface BankCohort {
  /** The exactly-once Postgres installer around the fixtures' audit-writing install module. */
  readonly installer: TransactionalInstaller;
  readonly snapshotStore: PostgresSnapshotStore;
  /** Every version handed to the installer, in the order handed (a version retried appears again). */
  readonly handed: Version[];
  /** Every version whose install call succeeded (skipped ones included). */
  readonly installed: Version[];
  /** Versions the bookkeeping skipped as already installed. */
  readonly skipped: Version[];
}

/**
 * The cohort of the CLI tests, in process: the install module a user would write (one audit row
 * per version under a primary key, guarded TRANSFER updates), run by the transactional installer,
 * and the Postgres snapshot store. `handed` records what the replicator asked for.
 */
export async function bankCohort(pool: Pool, moduleDir: string): Promise<BankCohort> {
  const install = await loadInstallerModule(await writeInstaller(moduleDir, 'esm-named', `install-${Date.now()}-${Math.random().toString(36).slice(2)}`));
  const skipped: Version[] = [];
  const handed: Version[] = [];
  const installed: Version[] = [];
  const transactional = createTransactionalInstaller(pool, { install, onSkipped: (versions) => skipped.push(...versions) });
  const snapshotStore = createPostgresSnapshotStore(pool, { pruneInstalledBookkeeping: true });
  await transactional.ensureSchema();
  await snapshotStore.ensureSchema();
  const installer: TransactionalInstaller = {
    ...transactional,
    async install(statemaps: readonly StatemapItem[], version: Version) {
      handed.push(version);
      await transactional.install(statemaps, version);
      installed.push(version);
    },
    async installBatch(jobs: readonly InstallJob[]) {
      for (const job of jobs) handed.push(job.version);
      await transactional.installBatch(jobs);
      for (const job of jobs) installed.push(job.version);
    },
  };
  return { installer, snapshotStore, handed, installed, skipped };
}

/** The live cohort replicator of the current turn and its replicator service, if a turn is running. */
export function currentTurn(actor: KafkaReplicatorActor): { suffixSize: number; rejectedRecords: number; paused: boolean; snapshot: Version | null } | null {
  const turn = actor.getSnapshot().children.replicator as { getSnapshot(): { context: { snapshot: Version | null }; children: Record<string, unknown> } } | undefined;
  if (!turn) return null;
  const turnSnapshot = turn.getSnapshot();
  const service = turnSnapshot.children.replicator as { getSnapshot(): { value: unknown; context: { suffix: { size: number } | null; rejectedRecords: number } } } | undefined;
  const serviceSnapshot = service?.getSnapshot();
  return {
    suffixSize: serviceSnapshot?.context.suffix?.size ?? 0,
    rejectedRecords: serviceSnapshot?.context.rejectedRecords ?? 0,
    // Paused by backpressure: the suffix is full, or its head stalled (Talos's critical stop).
    paused: ((flow) => flow !== null && PAUSED_FLOW_STATES.includes(flow))(flowStateOf(serviceSnapshot?.value)),
    snapshot: turnSnapshot.context.snapshot,
  };
}

/** The versions that occur more than once, ascending. */
export function duplicatesIn(versions: readonly Version[]): Version[] {
  const seen = new Set<Version>();
  const twice = new Set<Version>();
  for (const version of versions) (seen.has(version) ? twice : seen).add(version);
  return [...twice].sort((a, b) => a - b);
}
