/**
 * What the process-level Kafka tests share: `talos-replicator run` children against the mock
 * cluster (test/support/kafka/mockBroker.ts) and an embedded Postgres, with group settings that
 * make failover quick on the mock; a certifier producing the log while the children consume
 * it; and a watch that polls the group's committed offset alongside the persisted snapshot.
 *
 * Set TALOS_TEST_CHILD_LOGS=1 to see the children's logs as they come (=debug: with kafkajs' debug log).
 */
import type { ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import kafkajs, { type Admin } from 'kafkajs';
import type { Pool } from 'pg';
import type { RawRecord } from '../../machines/domain.js';
import { generateCertificationLog, type CertifierOptions } from '../../adapters/workload/certifier.js';
import { auditCount, auditedVersions, bankMismatches, persistedSnapshot, prepareBank, writeInstaller, type LogFacts } from '../cli/fixtures.js';
import { spawnCli, type CliResult } from '../support/cli.js';
import { FAST_MOCK_CLIENT_CONFIG, mockKafkaForTest, type MockKafka } from '../support/kafka/mockBroker.js';
import type { TestDatabase, TestPostgres } from '../support/postgres.js';
import { createLogProducer, OFFSET_ZERO_FILLER } from '../support/kafka/produceLog.js';

const { Kafka, logLevel } = kafkajs;

export const TOPIC = 'certification';
export const GROUP = 'cohort-replicators';

/**
 * The group's session timeout: how long a killed member holds the partition. The mock needs it
 * well above 3 s (see FAST_MOCK_CONSUMER_CONFIG); a restarted or standby member owns the
 * partition about one session timeout after a SIGKILL.
 */
export const SESSION_TIMEOUT_MS = 5000;

/** The log as the certifier publishes it: offset 0 filler, then the generated records (offset = version). */
export function certificationLog(options: CertifierOptions): RawRecord[] {
  return [OFFSET_ZERO_FILLER, ...generateCertificationLog(options)];
}

/** `parts` consecutive slices of `records` of about equal size. */
export function split<T>(records: readonly T[], parts: number): T[][] {
  const size = Math.ceil(records.length / parts);
  return Array.from({ length: parts }, (_, i) => records.slice(i * size, (i + 1) * size));
}

export interface ReplicatorProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Settles when the child has exited. */
  readonly result: Promise<CliResult>;
  /** Its log (stderr) so far. */
  log(): string;
  running(): boolean;
  /** Resolves with the first log line matching `pattern`; rejects if the child exits first or after `timeoutMs`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

export interface StartReplicatorOptions {
  readonly name: string;
  readonly bootstrap: string;
  readonly databaseUrl: string;
  readonly installer: string;
  /** Extra flags, after the defaults (a flag given twice: the last one wins). */
  readonly args?: readonly string[];
}

/**
 * Starts `talos-replicator run` with --batch-size 4 and --concurrency 4, the snapshot persisted
 * and its offset committed every 200 ms, and at most 3 attempts per install: a version applied
 * twice breaks the audit table's primary key on every attempt and stops the child with an error.
 */
export function startReplicator(options: StartReplicatorOptions): ReplicatorProcess {
  const args = [
    'run',
    '--brokers', options.bootstrap,
    '--topic', TOPIC,
    '--group', GROUP,
    '--client-id', `replicator-${options.name}`,
    '--installer', options.installer,
    '--database-url', options.databaseUrl,
    '--batch-size', '4',
    '--concurrency', '4',
    '--max-install-attempts', '3',
    '--session-timeout-ms', String(SESSION_TIMEOUT_MS),
    '--persist-interval-ms', '200',
    '--commit-interval-ms', '200',
    '--shutdown-timeout-ms', '20000',
    ...(options.args ?? []),
  ];
  // Heartbeat, rebalance timeout and fetch wait come from the environment, as an operator sets them.
  const debug = process.env.TALOS_TEST_CHILD_LOGS === 'debug';
  const env = { KAFKA_HEARTBEAT_INTERVAL_MS: '300', KAFKA_REBALANCE_TIMEOUT_MS: '10000', KAFKA_MAX_WAIT_TIME_MS: '100', LOG_LEVEL: debug ? 'debug' : 'info', ...(debug ? { KAFKAJS_LOG_LEVEL: 'debug' } : {}) };
  const { child, result } = spawnCli(args, { env, timeoutMs: 300_000 });
  let log = '';
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (chunk: string) => {
    log += chunk;
    if (process.env.TALOS_TEST_CHILD_LOGS) for (const line of chunk.split('\n')) if (line) process.stderr.write(`  [${options.name}] ${line}\n`);
    for (const waiter of waiters) waiter();
  });
  // The result settles once; nothing else awaits it when a test fails early.
  result.catch(() => undefined);
  child.on('close', () => {
    for (const waiter of waiters) waiter();
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    name: options.name,
    child,
    result,
    log: () => log,
    running,
    waitForLog(pattern, timeoutMs = 60_000) {
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          const line = log.split('\n').find((candidate) => pattern.test(candidate));
          if (line !== undefined) done(() => resolve(line));
          else if (!running()) done(() => reject(new Error(`${options.name} exited (${child.exitCode ?? child.signalCode}) before logging ${pattern}\n${tail(log)}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${options.name} did not log ${pattern} within ${timeoutMs} ms\n${tail(log)}`))), timeoutMs);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

export function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** SIGKILLs every child still running (test cleanup). */
export async function killAll(processes: readonly ReplicatorProcess[]): Promise<void> {
  for (const process of processes) if (process.running()) process.child.kill('SIGKILL');
  await Promise.allSettled(processes.map((process) => process.result));
}

/** Polls `condition` until it is true; fails with `describe()` after `timeoutMs`. */
export async function waitUntil(what: string, condition: () => Promise<boolean> | boolean, timeoutMs: number, describe: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}\n${describe()}`);
    await delay(50);
  }
}

/** Waits until the audit table counts at least `count` installs; on timeout, shows `process`'s log tail. */
export function waitForInstalls(pool: Pool, count: number, process: ReplicatorProcess, what: string): Promise<void> {
  return waitUntil(what, async () => (await auditCount(pool)) >= count, 60_000, () => tail(process.log()));
}

/** Produces records in the background, in chunks with a pause between them, one send after another. */
export interface Certifier {
  /** Queues records after those already queued; resolves once they are on the topic. */
  publish(records: readonly RawRecord[]): Promise<void>;
  /** Waits for everything queued, then disconnects. */
  close(): Promise<void>;
}

export async function startCertifier(bootstrap: string, { chunk = 200, pauseMs = 100 } = {}): Promise<Certifier> {
  const producer = await createLogProducer(bootstrap, TOPIC);
  let queue: Promise<void> = Promise.resolve();
  return {
    publish(records) {
      queue = queue.then(async () => {
        for (let start = 0; start < records.length; start += chunk) {
          await producer.send(records.slice(start, start + chunk), chunk);
          if (start + chunk < records.length) await delay(pauseMs);
        }
      });
      return queue;
    },
    async close() {
      await queue.catch(() => undefined);
      await producer.close();
    },
  };
}

/** A fresh kafkajs admin on the mock (fetchOffsets works there; most other admin calls do not). */
export async function connectAdmin(bootstrap: string): Promise<Admin> {
  const admin = new Kafka({ clientId: 'test-admin', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING, ...FAST_MOCK_CLIENT_CONFIG }).admin();
  await admin.connect();
  return admin;
}

/** The group's committed offset (the next offset to read), or null when none. */
export async function committedOffset(admin: Admin): Promise<number | null> {
  const [topic] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
  const offset = Number(topic?.partitions.find((p) => p.partition === 0)?.offset ?? -1);
  return offset < 0 ? null : offset;
}

export interface OffsetWatchReport {
  readonly samples: number;
  /** Distinct committed offsets seen, in the order seen. */
  readonly committed: readonly number[];
  /** Samples where the committed offset was above the persisted snapshot + 1. */
  readonly violations: readonly string[];
}

export interface OffsetWatch {
  /** The last committed offset seen (null: none yet). */
  latest(): number | null;
  stop(): Promise<OffsetWatchReport>;
}

/**
 * Polls the committed offset, then the persisted snapshot. The snapshot only grows, so reading it
 * second can only make the check lenient, never report a violation that did not happen.
 * Failed polls (the broker is down) are skipped.
 */
export function watchOffsets(admin: Admin, pool: Pool): OffsetWatch {
  let stopping = false;
  let samples = 0;
  let latest: number | null = null;
  const committed: number[] = [];
  const violations: string[] = [];
  const loop = (async () => {
    while (!stopping) {
      try {
        const offset = await committedOffset(admin);
        const snapshot = (await persistedSnapshot(pool)) ?? 0;
        samples += 1;
        if (offset !== null) {
          if (offset !== latest) committed.push(offset);
          latest = offset;
          if (offset > snapshot + 1) violations.push(`committed offset ${offset} while the persisted snapshot was ${snapshot}`);
        }
      } catch {
        // broker or database unreachable for a moment: try again
      }
      await delay(50);
    }
  })();
  return {
    latest: () => latest,
    async stop() {
      stopping = true;
      await loop;
      return { samples, committed, violations };
    },
  };
}

/** Waits until the snapshot of the whole log is persisted and its offset committed. */
export async function waitForEnd(pool: Pool, admin: Admin, facts: LogFacts, processes: readonly ReplicatorProcess[], timeoutMs = 90_000): Promise<void> {
  const describe = () => processes.map((p) => `--- ${p.name} (${p.running() ? 'running' : `exited ${p.child.exitCode ?? p.child.signalCode}`})\n${tail(p.log())}`).join('\n');
  await waitUntil(
    `persisted snapshot ${facts.lastCandidate} and committed offset ${facts.lastCandidate + 1}`,
    async () => {
      if (!processes.some((p) => p.running())) assert.fail(`no replicator is running\n${describe()}`);
      if ((await persistedSnapshot(pool)) !== facts.lastCandidate) return false;
      return (await committedOffset(admin).catch(() => null)) === facts.lastCandidate + 1;
    },
    timeoutMs,
    describe,
  );
}

/** Every version applied exactly once, balances as in the serial replay, no double apply ever tried. */
export async function assertExactlyOnce(pool: Pool, facts: LogFacts, processes: readonly ReplicatorProcess[]): Promise<void> {
  const audited = await auditedVersions(pool);
  const expected = new Set(facts.installedVersions);
  const present = new Set(audited);
  const missing = facts.installedVersions.filter((version) => !present.has(version));
  const unexpected = audited.filter((version) => !expected.has(version));
  assert.deepEqual({ missing: missing.slice(0, 20), unexpected: unexpected.slice(0, 20), count: audited.length }, { missing: [], unexpected: [], count: facts.installedVersions.length }, 'every version applied once');
  assert.deepEqual(await bankMismatches(pool, facts.expected), [], 'balances equal the serial replay');
  for (const p of processes) {
    assert.doesNotMatch(p.log(), /replay_audit_pkey/, `${p.name} tried to apply a version twice:\n${tail(p.log())}`);
  }
}

/** Everything one process-level scenario needs, set up and torn down with the test. */
export interface ProcessScenario {
  readonly mock: MockKafka;
  readonly db: TestDatabase;
  /** The installer module the children load. */
  readonly installer: string;
  readonly admin: Admin;
  readonly certifier: Certifier;
  /** Children started by the test; all are killed when it ends. */
  readonly processes: ReplicatorProcess[];
  readonly watch: OffsetWatch;
}

/**
 * A mock broker with the certification topic, a fresh database with the bank of `log`, the
 * installer module, an admin client, a certifier and the offset watch; undefined when the test
 * was skipped for want of a broker. `beforeKill` runs on the children before they are killed.
 */
export async function setUpProcessScenario(
  t: { skip(message?: string): void; after(fn: () => unknown): void },
  postgres: TestPostgres,
  dir: string,
  log: CertifierOptions,
  beforeKill: (processes: readonly ReplicatorProcess[]) => void = () => {},
): Promise<ProcessScenario | undefined> {
  const mock = await mockKafkaForTest(t, { topics: [TOPIC] });
  if (!mock) return undefined;
  const db = await postgres.freshDatabase();
  await prepareBank(db.pool, log);
  const installer = await writeInstaller(dir, 'esm-named', 'install');
  const admin = await connectAdmin(mock.bootstrap);
  t.after(() => admin.disconnect());
  const certifier = await startCertifier(mock.bootstrap);
  t.after(() => certifier.close());
  const processes: ReplicatorProcess[] = [];
  t.after(async () => {
    beforeKill(processes);
    await killAll(processes);
  });
  const watch = watchOffsets(admin, db.pool);
  t.after(() => watch.stop());
  return { mock, db, installer, admin, certifier, processes, watch };
}
