/**
 * The OpenTelemetry metrics under Talos's names: counted exactly, one latency per installed
 * version, gauges sampled from the actors; fed to a host's SDK provider and to the status
 * server's Prometheus exposition alike; absent (no-op) without an SDK.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { createCohortReplicator, createMemorySource, silentLogger, type CandidateEventTimings } from '../../index.js';
import { METRICS } from '../../adapters/observability/metrics.js';
import { EventTimings } from '../../adapters/observability/eventTimings.js';
import { memoryStore, runToEnd, transactionLog } from '../support/observedRun.js';

/** A reader the test collects from when it wants. */
class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** name → (sum of values for counters/gauges | histogram count) */
function flatten(resourceMetrics: ResourceMetrics): Map<string, { kind: string; value: number; count?: number; unit: string; points: number }> {
  const out = new Map<string, { kind: string; value: number; count?: number; unit: string; points: number }>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      let value = 0;
      let count = 0;
      for (const point of metric.dataPoints) {
        const v = point.value as number | { count: number; sum?: number };
        if (typeof v === 'number') value += v;
        else {
          count += v.count;
          value += v.sum ?? 0;
        }
      }
      out.set(metric.descriptor.name, { kind: String(metric.dataPointType), value, count, unit: metric.descriptor.unit, points: metric.dataPoints.length });
    }
  }
  return out;
}

test('a host meterProvider receives every Talos metric: exact counts, one latency per installed version, gauges from the actors', async (t) => {
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  t.after(() => meterProvider.shutdown());
  const source = createMemorySource({ maxBatch: 7 });
  const log = transactionLog(60, { abortEvery: 4 });
  const timings: CandidateEventTimings[] = [];
  const replicator = createCohortReplicator({
    source,
    installer: { install: async () => {} },
    snapshotStore: memoryStore(),
    logger: silentLogger,
    config: { statemapQueueCleanupFreqMs: 10, certifierMessageReceiverCommitFreqMs: 10 },
    meterProvider,
    onEventTimings: (timing) => timings.push(timing),
  });
  t.after(() => replicator.observability.close());
  assert.equal(replicator.observability.metricsEnabled, true);
  replicator.start();
  source.push(log.records);
  source.end();
  await runToEnd(replicator);

  const { resourceMetrics } = await reader.collect();
  const m = flatten(resourceMetrics);
  const talos = Object.values(METRICS).filter((d) => d.talos).map((d) => d.name);
  for (const name of talos) assert.ok(m.has(name), `${name} is exported`);
  for (const d of Object.values(METRICS)) assert.equal(m.get(d.name)?.unit, d.unit, `${d.name} unit`);

  assert.equal(m.get('repl_candidates')!.value, log.candidates);
  assert.equal(m.get('repl_dec_commits')!.value, log.commits);
  assert.equal(m.get('repl_dec_aborts')!.value, log.aborts);
  // Aborted versions pass through installation too (with no statemaps), as in Talos.
  assert.equal(m.get('repl_install_ok')!.value, log.candidates);
  assert.equal(m.get('repl_install_err')?.value ?? 0, 0);
  for (const name of ['repl_install_latency', 'repl_candidate_to_install_latency', 'repl_decision_to_install_latency', 'repl_statemap_queue_latency', 'repl_queue_wait_latency']) {
    assert.equal(m.get(name)!.count, log.candidates, `${name}: one latency per installed version`);
  }
  // Nothing is left in the queue once the replicator stopped; the snapshot reached the last version.
  assert.equal(m.get('repl_statemap_queue')!.value, 0);
  assert.equal(m.get('repl_items_in_flight')!.value, 0);
  assert.equal(m.get('repl_items_installing')!.value, 0);
  assert.equal(m.get('repl_install_channel')!.value, 0);
  assert.equal(m.get('repl_statemaps_channel')!.value, 0);
  assert.equal(m.get('repl_statemap_queue_snapshot')!.value, log.lastVersion);
  assert.equal(m.get('repl_snapshot_persisted')!.value, log.lastVersion);
  assert.equal(m.get('repl_last_offset_seen')!.value, log.lastVersion + 1);
  assert.equal(m.get('repl_queue_items')!.points, 5, 'one series per item state');
  assert.equal(m.get('repl_live')!.value, 1);
  assert.equal(m.get('repl_ready')!.value, 0, 'stopped: not ready');

  // The eight event timings of every installed version, in the order of the pipeline.
  assert.equal(timings.length, log.candidates);
  assert.deepEqual(timings.map((x) => x.version).sort((a, b) => a - b), log.versions);
  for (const x of timings) {
    const order = [x.candidateReceived, x.decisionReceived, x.statemapPicked, x.queueSent, x.installBegin, x.installComplete];
    assert.ok(order.every((value) => Number.isFinite(value)), `every moment of ${x.version} seen: ${JSON.stringify(x)}`);
    for (let i = 1; i < order.length; i++) assert.ok(order[i - 1]! <= order[i]!, `version ${x.version}: moment ${i} not before moment ${i - 1}: ${JSON.stringify(x)}`);
    assert.equal(x.statemapPicked, x.queueReceived, 'picked and queued in the same turn');
    assert.equal(x.queueSent, x.installerReceived, 'sent and received in the same turn');
  }
});

test('without an SDK the instruments are the API no-ops: metricsEnabled is false and nothing is recorded', async () => {
  assert.equal(metrics.getMeterProvider().getMeter('x').createCounter('x').constructor.name.startsWith('Noop'), true, 'no global SDK in this test process');
  const replicator = createCohortReplicator({ source: createMemorySource(), installer: { install: async () => {} }, snapshotStore: memoryStore(), logger: silentLogger });
  assert.equal(replicator.observability.metricsEnabled, false);
});

test('a globally registered SDK is picked up without passing meterProvider', async (t) => {
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  assert.ok(metrics.setGlobalMeterProvider(meterProvider));
  t.after(async () => {
    metrics.disable();
    await meterProvider.shutdown();
  });
  const source = createMemorySource();
  const log = transactionLog(5);
  const replicator = createCohortReplicator({ source, installer: { install: async () => {} }, snapshotStore: memoryStore(), logger: silentLogger });
  t.after(() => replicator.observability.close());
  assert.equal(replicator.observability.metricsEnabled, true);
  replicator.start();
  source.push(log.records);
  source.end();
  await runToEnd(replicator);
  const m = flatten((await reader.collect()).resourceMetrics);
  assert.equal(m.get('repl_candidates')!.value, 5);
  assert.equal(m.get('repl_install_ok')!.value, 5);
});

test('failed install attempts are counted per version in repl_install_err', async (t) => {
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  t.after(() => meterProvider.shutdown());
  const source = createMemorySource();
  const log = transactionLog(4, { safepointLag: 1 });
  let failures = 0;
  const replicator = createCohortReplicator({
    source,
    // Version 3 fails twice, then succeeds.
    installer: { install: async (_statemaps, version) => { if (version === 3 && failures < 2) { failures += 1; throw new Error('deadlock'); } } },
    snapshotStore: memoryStore(),
    logger: silentLogger,
    config: { installRetry: { initialDelayMs: 1, maxDelayMs: 2 }, statemapQueueCleanupFreqMs: 10 },
    meterProvider,
  });
  t.after(() => replicator.observability.close());
  replicator.start();
  source.push(log.records);
  source.end();
  await runToEnd(replicator);
  const m = flatten((await reader.collect()).resourceMetrics);
  assert.equal(m.get('repl_install_err')!.value, 2);
  assert.equal(m.get('repl_install_ok')!.value, 4);
  assert.equal(m.get('repl_install_latency')!.count, 4);
  assert.equal(replicator.observability.status().installs.failedAttempts, 2);
});

test('EventTimings: latencies from the recorded moments; a version whose slot was taken over reports none', () => {
  const timings = new EventTimings(1024);
  timings.candidateReceived(7, 100);
  timings.decisionReceived(7, 130);
  timings.queued(7, 131);
  timings.sent(7, 140);
  timings.installBegun(7, 150);
  assert.deepEqual(timings.installed(7, 175), { version: 7, candidateToInstall: 75, decisionToInstall: 45, queueToInstall: 44, queueWait: 19, install: 25 });
  // Done with: a second completion (a redelivery) finds nothing.
  assert.equal(timings.installed(7, 200), null);
  // A version seen only from its decision on (its candidate was read before a restart).
  timings.decisionReceived(9, 10);
  timings.installBegun(9, 12);
  assert.deepEqual(timings.installed(9, 15), { version: 9, candidateToInstall: null, decisionToInstall: 5, queueToInstall: null, queueWait: null, install: 3 });
  // 1024 offsets later the same slot is claimed by another version.
  timings.candidateReceived(11, 1);
  timings.candidateReceived(11 + 1024, 2);
  assert.equal(timings.installed(11, 3), null);
  assert.equal(timings.installed(11 + 1024, 3)?.candidateToInstall, 1);
});

test('a fault in the pipeline probe switches it off with one error line; replication goes on', { timeout: 20_000 }, async () => {
  const provider = new MeterProvider({ readers: [new TestReader()] });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const store = memoryStore(0, { getSnapshotGate: () => gate });
  const errors: string[] = [];
  const logger = { ...silentLogger, error: (message: string) => void errors.push(message) } as unknown as typeof silentLogger;
  const source = createMemorySource();
  const installed: number[] = [];
  const replicator = createCohortReplicator({
    source,
    installer: { install: async (_statemaps, version) => void installed.push(version) },
    snapshotStore: store,
    logger,
    meterProvider: provider,
    config: { statemapQueueCleanupFreqMs: 10, certifierMessageReceiverCommitFreqMs: 10 },
  });
  replicator.start();
  // While the snapshot loads the root ignores this event, but the probe sees it and cannot read it.
  replicator.send({ type: 'SOURCE.RECORDS' } as never);
  replicator.send({ type: 'SOURCE.RECORDS' } as never);
  assert.equal(errors.length, 1, 'reported once');
  assert.match(errors[0]!, /^observability: the pipeline probe failed and is switched off/);
  release();
  const log = transactionLog(20);
  source.push(log.records);
  source.end();
  const final = await runToEnd(replicator);
  assert.equal(final.output?.outcome, 'stopped');
  assert.deepEqual(installed, log.versions);
  assert.equal(store.persisted, log.lastVersion);
  await provider.shutdown();
});
