/**
 * Observability of the Kafka replicator: the status server follows the failover machine to the
 * cohort replicator of the current turn, so /status, /health and /metrics show the replication
 * (and this process's ownership of the topic) on a real Kafka-protocol broker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKafkaReplicator, silentLogger } from '../../index.js';
import { generateCertificationLog } from '../../adapters/workload/certifier.js';
import { FAST_MOCK_CONSUMER_CONFIG, mockKafkaForTest } from '../support/kafka/mockBroker.js';
import { createLogProducer, OFFSET_ZERO_FILLER } from '../support/kafka/produceLog.js';

async function waitUntil(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('the status server of a Kafka replicator shows the turn it runs, its ownership of the topic, health and metrics', { timeout: 60_000 }, async (t) => {
  const mock = await mockKafkaForTest(t, { topics: ['certification'] });
  if (!mock) return;
  const records = [OFFSET_ZERO_FILLER, ...generateCertificationLog({ transactions: 300, accounts: 50, seed: 5 })];
  const lastCandidate = records.reduce((last, record, offset) => (record.headers.messageType === 'Candidate' ? offset : last), 0);
  const candidates = records.filter((record) => record.headers.messageType === 'Candidate').length;
  const producer = await createLogProducer(mock.bootstrap, 'certification');
  await producer.send(records);
  await producer.close();

  let persisted = 0;
  const replicator = createKafkaReplicator({
    kafka: {
      brokers: [mock.bootstrap],
      topic: 'certification',
      groupId: 'status-test',
      sessionTimeoutMs: FAST_MOCK_CONSUMER_CONFIG.sessionTimeout,
      heartbeatIntervalMs: FAST_MOCK_CONSUMER_CONFIG.heartbeatInterval,
      maxWaitTimeMs: FAST_MOCK_CONSUMER_CONFIG.maxWaitTimeInMs,
    },
    installer: { install: async () => {} },
    snapshotStore: { getSnapshot: async () => 0, updateSnapshot: async (version) => void (persisted = version) },
    logger: silentLogger,
    config: { statemapQueueCleanupFreqMs: 50, certifierMessageReceiverCommitFreqMs: 50 },
    statusPort: 0,
  });
  const running = replicator.run();
  // Whatever an assertion does, the consumer must leave and the server close, or the test never ends.
  t.after(async () => {
    replicator.stop();
    await running.catch(() => undefined);
    await replicator.observability.close();
  });
  const { statusUrl } = await replicator.observability.ready();
  assert.ok(statusUrl);
  const get = async (path: string) => {
    const response = await fetch(new URL(path, statusUrl));
    return { code: response.status, text: await response.text() };
  };

  const standby = JSON.parse((await get('status')).text) as { failover: { owned: boolean } };
  assert.equal(standby.failover.owned, false, 'before the group is joined, the process does not own the topic');

  await waitUntil('the persisted snapshot reaches the last candidate', () => persisted >= lastCandidate);
  const status = JSON.parse((await get('status')).text) as {
    state: string;
    failover: { state: string; owned: boolean; turns: number };
    snapshot: { inMemory: number; persisted: number };
    machines: Record<string, { status: string }>;
    health: { ready: boolean };
  };
  assert.equal(status.state, 'running');
  assert.deepEqual(status.failover, { state: 'owning.replicating', owned: true, turns: 1 });
  assert.equal(status.snapshot.inMemory, lastCandidate);
  assert.equal(status.machines.queue!.status, 'active');
  assert.equal(status.health.ready, true);
  assert.equal((await get('health')).code, 200);
  const metrics = (await get('metrics')).text;
  assert.match(metrics, new RegExp(`repl_candidates_total(\\{[^}]*\\})? ${candidates}\\n`), 'every candidate record read is counted');
  assert.match(metrics, /repl_install_ok_total(\{[^}]*\})? [1-9]\d*\n/);
  assert.match(metrics, /repl_statemap_queue_snapshot(\{[^}]*\})? \d+/);

  replicator.stop();
  const output = await running;
  assert.equal(output.outcome, 'stopped');
  const ended = JSON.parse((await get('status')).text) as { state: string; failover: { state: string; owned: boolean } };
  assert.equal(ended.failover.state, 'stopped');
  assert.equal(ended.failover.owned, false);
  await replicator.observability.close();
});
