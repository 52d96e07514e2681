/**
 * A replicator program written against Talos's JS SDK (`Replicator.init(kafkaConfig,
 * replicatorConfig)`, `replicator.run(getSnapshot, updateSnapshot, install)`, the SDK's config
 * field names and `install({ statemap, version })`) runs unchanged on this package against a real
 * Kafka-protocol broker (librdkafka's mock cluster), replicating a generated certification log
 * into an in-memory bank; then a second program with the same group resumes from the persisted
 * snapshot and the committed offset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { InstallFailedError } from '../../machines/errors.js';
import type { Logger } from '../../adapters/logging.js';
import { Replicator } from '../../adapters/sdk/replicator.js';
import { SdkErrorKind, TalosSdkError, type JsKafkaConfig, type JsReplicatorConfig, type JsStatemapAndSnapshot } from '../../adapters/sdk/talosSdkTypes.js';
import { expectedEndState, generateCertificationLog, initialAccounts, type CertifierOptions } from '../../adapters/workload/certifier.js';
import { FAST_MOCK_CLIENT_CONFIG, mockKafkaForTest } from '../support/kafka/mockBroker.js';
import { createLogProducer } from '../support/kafka/produceLog.js';
import { candidateRecord, decisionRecord } from '../support/records.js';

const TOPIC = 'certification';
const GROUP = 'sdk-cohort-replicator';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean, timeoutMs: number, diagnostics: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}\n${diagnostics()}`);
    await sleep(25);
  }
}

function cents(amount: unknown): number {
  assert.equal(typeof amount, 'string');
  return Math.round(Number(amount) * 100);
}

/** A logger that keeps warnings and errors, to show when something times out. */
function collectingLogger(lines: string[]): Logger {
  const keep = (level: string) => (message: string, meta?: Record<string, unknown>) => lines.push(`${level} ${message}${meta ? ` ${JSON.stringify(meta)}` : ''}`);
  return { error: keep('error'), warn: keep('warn'), info: () => {}, debug: () => {} };
}

/**
 * The cohort's database as a Talos SDK program sees it: accounts with a version column, the
 * snapshot row, and the SDK's three callbacks. The install callback applies TRANSFER statemaps
 * with the Talos convention (`WHERE version < $version`) and records every call.
 */
function bankCohort(options: CertifierOptions, committedSafepoints: ReadonlyMap<number, number | null>) {
  const accounts = new Map(initialAccounts(options).map((account) => [account.name, { cents: account.balanceCents, version: account.version }]));
  const state = {
    snapshot: 0,
    snapshotUpdates: [] as number[],
    calls: [] as JsStatemapAndSnapshot[],
    completed: new Set<number>(),
    inFlight: 0,
    maxInFlight: 0,
    violations: [] as string[],
  };
  const committedVersions = [...committedSafepoints.keys()];

  const getSnapshot = async (): Promise<number> => state.snapshot;
  const updateSnapshot = async (version: number): Promise<void> => {
    if (version < state.snapshot) state.violations.push(`updateSnapshot(${version}) below the stored snapshot ${state.snapshot}`);
    state.snapshotUpdates.push(version);
    state.snapshot = Math.max(state.snapshot, version);
  };
  const install = async (data: JsStatemapAndSnapshot): Promise<void> => {
    const { statemap, version } = data;
    state.calls.push(data);
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    try {
      if (statemap.length > 0 && !committedSafepoints.has(version)) state.violations.push(`version ${version} is not committed but got statemaps`);
      for (const item of statemap) {
        if (item.version !== version) state.violations.push(`item of version ${item.version} in the install of ${version}`);
        const expected = committedSafepoints.get(version);
        // A commit without a safepoint waits for every earlier version (safepoint = version - 1).
        if (item.safepoint !== (expected ?? version - 1)) state.violations.push(`version ${version}: safepoint ${item.safepoint}, expected ${expected ?? version - 1}`);
        // Serial-equivalent order: everything committed at or below the safepoint is installed already.
        for (const earlier of committedVersions) {
          if (earlier <= (item.safepoint ?? version - 1) && !state.completed.has(earlier)) state.violations.push(`version ${version} (safepoint ${item.safepoint}) installed before ${earlier}`);
        }
      }
      // Some installs take a little while, so that several run at once.
      await sleep(version % 4);
      for (const { action, payload } of statemap) {
        if (action !== 'TRANSFER') throw new Error(`unknown action ${action}`);
        const from = accounts.get(payload.from)!;
        const to = accounts.get(payload.to)!;
        const amount = cents(payload.amount);
        for (const [account, delta] of [[from, -amount], [to, amount]] as const) {
          if (account.version >= version) {
            state.violations.push(`version ${version} found ${payload.from}/${payload.to} already at version ${account.version}`);
            continue;
          }
          account.cents += delta;
          account.version = version;
        }
      }
      state.completed.add(version);
    } finally {
      state.inFlight--;
    }
  };
  return { state, accounts, getSnapshot, updateSnapshot, install };
}

test('a Talos JS SDK replicator program runs unchanged on a real Kafka broker: every committed version installed once, in order, snapshot persisted and resumed', { timeout: 180_000 }, async (t) => {
  const kafka = await mockKafkaForTest(t, { topics: [TOPIC] });
  if (!kafka) return;

  // A generated certification log whose offsets are the versions (offset 0: a no-op genesis candidate).
  const options: CertifierOptions = { seed: 2024, transactions: 400, accounts: 12, startOffset: 0 };
  const records = [...generateCertificationLog(options)];
  const expected = expectedEndState(options);
  const committedSafepoints = new Map(expected.committed.map(({ version, safepoint }) => [version, safepoint]));
  const lastCandidate = Math.max(...records.filter((record) => record.headers.messageType === 'Candidate').map((record) => Number(record.offset)));
  assert.ok(expected.committedCount > 100 && expected.abortedCount > 0 && expected.duplicates.length > 0, 'the log has commits, aborts and duplicates');

  const producer = await createLogProducer(kafka.bootstrap, TOPIC);
  t.after(() => producer.close());
  assert.equal(await producer.send(records), records.length);

  // ---- The program, as written for @kindredgroup/cohort_sdk_client (only the import differs).
  const kafkaConfig: JsKafkaConfig = {
    brokers: kafka.brokers,
    topic: TOPIC,
    clientId: 'cohort-replicator-js',
    groupId: GROUP,
    username: '',
    password: '',
    producerConfigOverrides: {},
    consumerConfigOverrides: {
      'enable.auto.commit': 'false',
      // The mock broker's group coordinator is slow with Kafka's defaults (see mockBroker.ts).
      'session.timeout.ms': '4000',
      'heartbeat.interval.ms': '300',
      'max.poll.interval.ms': '10000',
      'fetch.wait.max.ms': '100',
      'reconnect.backoff.ms': '100',
      'reconnect.backoff.max.ms': '1000',
      'socket.connection.setup.timeout.ms': String(FAST_MOCK_CLIENT_CONFIG.connectionTimeout),
      'socket.timeout.ms': String(FAST_MOCK_CLIENT_CONFIG.requestTimeout),
    },
    logLevel: 'info',
  };
  const replicatorConfig: JsReplicatorConfig = {
    enableStats: false,
    channelSize: 1000,
    suffixCapacity: 10_000,
    certifierMessageReceiverCommitFreqMs: 200,
    statemapQueueCleanupFreqMs: 100,
    statemapInstallerThreadpool: 8,
    otelTelemetry: { initOtel: false, name: 'cohort_replicator_js', enableMetrics: false, enableTraces: false },
  };

  const logLines: string[] = [];
  const bank = bankCohort(options, committedSafepoints);
  const { state } = bank;
  const diagnostics = () =>
    `installed ${state.completed.size}/${committedSafepoints.size} committed, ${state.calls.length} install calls, snapshot ${state.snapshot}\n${logLines.slice(-20).join('\n')}`;

  const replicator = await Replicator.init(kafkaConfig, replicatorConfig, { logger: collectingLogger(logLines) });
  const running = replicator.run(bank.getSnapshot, bank.updateSnapshot, bank.install);
  let settled = false;
  void running.then(
    () => (settled = true),
    () => (settled = true),
  );
  t.after(() => replicator.stop());

  await waitFor('every committed version to be installed', () => state.completed.size >= committedSafepoints.size || settled, 60_000, diagnostics);
  assert.equal(settled, false, `run() settled early\n${diagnostics()}`);
  await waitFor('the snapshot to be persisted up to the last candidate', () => state.snapshot >= lastCandidate, 20_000, diagnostics);
  await replicator.stop();
  await running; // resolves after a graceful stop

  assert.deepEqual(state.violations, [], diagnostics());
  // Exactly once: one install call per version, one with statemaps per committed version.
  const versions = state.calls.map((call) => call.version);
  assert.equal(new Set(versions).size, versions.length, 'no version is installed twice');
  assert.deepEqual(
    state.calls.filter((call) => call.statemap.length > 0).map((call) => call.version).sort((a, b) => a - b),
    [...committedSafepoints.keys()],
  );
  assert.ok(!versions.includes(0), 'version 0 is never installed');
  assert.ok(state.maxInFlight > 1, `installs run concurrently (at most ${state.maxInFlight} at once)`);
  for (const [name, account] of expected.accounts) {
    assert.deepEqual(bank.accounts.get(name), { cents: account.balanceCents, version: account.version }, `account ${name}`);
  }

  // The snapshot went through updateSnapshot, only upwards; its offset is committed in the group.
  const output = replicator.kafkaReplicator!.actor.getSnapshot().output!;
  assert.equal(output.outcome, 'stopped');
  assert.equal(state.snapshot, lastCandidate);
  assert.equal(output.lastTurn?.persisted, lastCandidate);
  assert.deepEqual([...state.snapshotUpdates].sort((a, b) => a - b), state.snapshotUpdates);
  const admin = new kafkajs.Kafka({ clientId: 'sdk-test-admin', brokers: kafka.brokers, logLevel: kafkajs.logLevel.NOTHING, ...FAST_MOCK_CLIENT_CONFIG }).admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
    assert.equal(offsets?.partitions[0]?.offset, String(lastCandidate + 1));
  } finally {
    await admin.disconnect();
  }

  // ---- A restarted program with the same group: reads the snapshot, resumes at the committed
  // offset, installs only what is new.
  const next = records.length;
  const [from, to] = [...expected.accounts.values()].sort((a, b) => b.balanceCents - a.balanceCents);
  await producer.send([
    candidateRecord(next, [{ TRANSFER: { from: from!.name, to: to!.name, amount: '1.00' } }], 'xid-after-restart'),
    decisionRecord(next + 1, next, { xid: 'xid-after-restart', safepoint: next - 1 }),
  ]);
  committedSafepoints.set(next, next - 1);
  const callsBefore = state.calls.length;
  const again = await Replicator.init(kafkaConfig, replicatorConfig, { logger: collectingLogger(logLines) });
  const runningAgain = again.run(bank.getSnapshot, bank.updateSnapshot, bank.install);
  t.after(() => again.stop());
  await waitFor('the new version to be installed after the restart', () => state.completed.has(next), 60_000, diagnostics);
  await waitFor('the snapshot to be persisted after the restart', () => state.snapshot >= next, 20_000, diagnostics);
  await again.stop();
  await runningAgain;
  assert.deepEqual(state.violations, [], diagnostics());
  assert.deepEqual(state.calls.slice(callsBefore).map((call) => call.version), [next], 'only the new version is installed after the restart');
  assert.deepEqual(bank.accounts.get(from!.name), { cents: from!.balanceCents - 100, version: next });
  assert.deepEqual(bank.accounts.get(to!.name), { cents: to!.balanceCents + 100, version: next });
});

test('an install callback that keeps failing ends run() with a TalosSdkError of kind Persistence once maxInstallAttempts is used up', { timeout: 60_000 }, async (t) => {
  const kafka = await mockKafkaForTest(t, { topics: [TOPIC] });
  if (!kafka) return;
  const producer = await createLogProducer(kafka.bootstrap, TOPIC);
  t.after(() => producer.close());
  await producer.send([candidateRecord(0, null), candidateRecord(1), decisionRecord(2, 1, { safepoint: 0 })]);

  const kafkaConfig: JsKafkaConfig = {
    brokers: kafka.brokers,
    topic: TOPIC,
    clientId: 'cohort-replicator-js',
    groupId: 'sdk-failing-cohort',
    username: '',
    password: '',
    producerConfigOverrides: {},
    consumerConfigOverrides: { 'session.timeout.ms': '4000', 'heartbeat.interval.ms': '300', 'fetch.wait.max.ms': '100' },
  };
  const replicatorConfig: JsReplicatorConfig = {
    enableStats: false,
    channelSize: 1000,
    suffixCapacity: 1000,
    certifierMessageReceiverCommitFreqMs: 200,
    statemapQueueCleanupFreqMs: 100,
    statemapInstallerThreadpool: 2,
  };
  const logLines: string[] = [];
  const replicator = await Replicator.init(kafkaConfig, replicatorConfig, {
    logger: collectingLogger(logLines),
    config: { maxInstallAttempts: 3, installRetry: { initialDelayMs: 10, maxDelayMs: 20 } },
  });
  t.after(() => replicator.stop());
  let attempts = 0;
  await assert.rejects(
    replicator.run(
      async () => 0,
      async () => {},
      async () => {
        attempts++;
        throw new Error('relation "bank_accounts" does not exist');
      },
    ),
    (error: unknown) => {
      assert.ok(error instanceof TalosSdkError, String(error));
      assert.equal(error.kind, SdkErrorKind.Persistence);
      assert.match(error.message, /version 1 could not be installed after 3 attempts: relation "bank_accounts" does not exist/);
      assert.ok(error.cause instanceof InstallFailedError);
      return true;
    },
  );
  assert.equal(attempts, 3);
  assert.ok(logLines.some((line) => line.startsWith('warn install of version 1 failed (attempt 1)')), logLines.join('\n'));
});
