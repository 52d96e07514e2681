/**
 * The status server over real HTTP on a free localhost port: /health through the replicator's
 * life (not started, loading the snapshot, ready, stopped, failed), /status with a queue held in
 * a known state, /metrics, /events, and a clean close.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCohortReplicator, createMemorySource, silentLogger, type Logger, type ReplicatorStatus } from '../../index.js';
import { backpressureLevelOf, healthOf } from '../../adapters/observability/health.js';
import { describeStats } from '../../adapters/statsReporter.js';
import { candidateRecord, decisionRecord } from '../support/records.js';
import { eventually, gate, memoryStore, runToEnd, transactionLog } from '../support/observedRun.js';

async function get(url: string): Promise<{ status: number; type: string; body: string; json: () => unknown }> {
  const response = await fetch(url);
  const body = await response.text();
  return { status: response.status, type: response.headers.get('content-type') ?? '', body, json: () => JSON.parse(body) };
}

test('/health follows the replicator: not started, loading the snapshot, ready, stopped (HTTP 503 / 200)', async (t) => {
  const loading = gate();
  const source = createMemorySource();
  const replicator = createCohortReplicator({
    source,
    installer: { install: async () => {} },
    snapshotStore: memoryStore(0, { getSnapshotGate: () => loading.promise }),
    logger: silentLogger,
    config: { statemapQueueCleanupFreqMs: 10, certifierMessageReceiverCommitFreqMs: 10 },
    statusPort: 0,
  });
  t.after(() => replicator.observability.close());
  const { statusUrl } = await replicator.observability.ready();
  assert.match(statusUrl!, /^http:\/\/127\.0\.0\.1:\d+\/$/);

  let health = await get(`${statusUrl}health`);
  assert.equal(health.status, 503);
  assert.deepEqual(health.json(), { live: true, ready: false, reasons: ['not started'] });
  assert.equal((await get(`${statusUrl}health/live`)).status, 200);
  assert.equal((await get(`${statusUrl}health/ready`)).status, 503);

  replicator.start();
  health = await get(`${statusUrl}health`);
  assert.equal(health.status, 503);
  assert.deepEqual(health.json(), { live: true, ready: false, reasons: ['loading the snapshot'] });

  loading.open();
  await eventually(async () => (await get(`${statusUrl}health`)).status === 200, 'ready');
  assert.deepEqual((await get(`${statusUrl}health`)).json(), { live: true, ready: true, reasons: [] });
  assert.equal((await get(`${statusUrl}health/ready`)).status, 200);

  source.push(transactionLog(3).records);
  source.end();
  await runToEnd(replicator);
  health = await get(`${statusUrl}health`);
  assert.equal(health.status, 503);
  assert.deepEqual(health.json(), { live: true, ready: false, reasons: ['stopped'] });
  assert.equal((await get(`${statusUrl}health/live`)).status, 200, 'a graceful stop is not a liveness failure');

  await replicator.observability.close();
  await assert.rejects(fetch(`${statusUrl}health`), 'closed: nothing listens any more');
});

test('/status shows every machine, the snapshot, offsets, lag, queue items per state, suffix, backpressure and installs', async (t) => {
  const hold = gate();
  const source = createMemorySource();
  const store = memoryStore();
  const replicator = createCohortReplicator({
    source,
    installer: { install: () => hold.promise },
    snapshotStore: store,
    logger: silentLogger,
    config: { statemapInstallerThreadpool: 2, statemapQueueCleanupFreqMs: 10, certifierMessageReceiverCommitFreqMs: 10 },
    statusPort: 0,
  });
  t.after(() => replicator.observability.close());
  const { statusUrl } = await replicator.observability.ready();
  replicator.start();
  // Versions 1, 3, 5, 7 wait for nothing; 9 waits for 7 and 11 for 9. Installs hang.
  source.push([
    ...[1, 3, 5, 7].flatMap((v) => [candidateRecord(v), decisionRecord(v + 1, v, { safepoint: 0 })]),
    candidateRecord(9),
    decisionRecord(10, 9, { safepoint: 7 }),
    candidateRecord(11),
    decisionRecord(12, 11, { safepoint: 9 }),
  ]);
  source.end();
  const status = await eventually(async () => {
    const s = (await get(`${statusUrl}status`)).json() as ReplicatorStatus;
    return s.queue?.size === 6 ? s : undefined;
  }, 'all six versions in the queue');

  assert.equal(status.state, 'running');
  assert.deepEqual(status.health, { live: true, ready: true, reasons: [] });
  assert.deepEqual(status.machines.root, { status: 'active', state: ['running'] });
  assert.deepEqual(status.machines.queue, { status: 'active', state: ['running.persistence.waiting', 'running.refresh.idle'] });
  assert.deepEqual(status.machines.replicator, { status: 'active', state: ['running.flow.flowing', 'running.commits.waiting'] });
  assert.deepEqual(status.machines.installer, { status: 'active', state: ['accepting'] });
  assert.deepEqual(status.machines.persister, { status: 'active', state: ['idle'] });
  assert.deepEqual(status.machines.source, { status: 'active', state: null });
  assert.deepEqual(status.snapshot, { inMemory: 0, persisted: 0 });
  assert.equal(status.committedOffset, 0);
  assert.equal(status.lastOffsetSeen, 12);
  assert.equal(status.lag, 12);
  assert.equal(status.endOffset, 12, "the memory source's last offset pushed");
  assert.equal(status.unread, 0, 'everything pushed was read');
  assert.deepEqual(status.queue, { size: 6, awaiting: 2, waitingForSafepoint: 2, backingOff: 0, inflight: 4, installing: 2, installerBacklog: 2, installed: 0, failed: 0 });
  assert.deepEqual(status.suffix, { size: 6, head: 1, nextToSend: 13 });
  assert.deepEqual(status.backpressure, { level: 'none', sourcePaused: false });
  assert.equal(status.installs.total, 0);
  assert.equal(status.rejectedRecords, 0);
  assert.equal(status.lastError, null);

  hold.open();
  await runToEnd(replicator);
  const final = (await get(`${statusUrl}status`)).json() as ReplicatorStatus;
  assert.equal(final.state, 'stopped');
  assert.deepEqual(final.snapshot, { inMemory: 11, persisted: 11 });
  assert.equal(final.committedOffset, 11);
  assert.equal(final.lag, 0, 'every candidate read is installed (the last decision offset lies above the snapshot, but leaves nothing to do)');
  assert.equal(final.installs.total, 6);
  assert.equal(final.machines.root!.status, 'done');
  assert.deepEqual(final.machines.queue, { status: 'done', state: ['done'] }, 'children are still reported once the root has ended');
  assert.equal(final.queue?.size, 0);
});

test('an install that keeps failing: /health says failed (not live), /status carries the error', async (t) => {
  const source = createMemorySource();
  const replicator = createCohortReplicator({
    source,
    installer: { install: async (_statemaps, version) => { if (version === 3) throw new Error('relation "bank_accounts" does not exist'); } },
    snapshotStore: memoryStore(),
    logger: silentLogger,
    config: { maxInstallAttempts: 2, installRetry: { initialDelayMs: 1, maxDelayMs: 2 }, statemapQueueCleanupFreqMs: 10, certifierMessageReceiverCommitFreqMs: 10 },
    statusPort: 0,
  });
  t.after(() => replicator.observability.close());
  const { statusUrl } = await replicator.observability.ready();
  replicator.start();
  source.push(transactionLog(4, { safepointLag: 1 }).records);
  source.end();
  const done = await runToEnd(replicator);
  assert.equal(done.value, 'failed');

  const health = await get(`${statusUrl}health`);
  assert.equal(health.status, 503);
  const body = health.json() as { live: boolean; ready: boolean; reasons: string[] };
  assert.equal(body.live, false);
  assert.equal(body.ready, false);
  assert.match(body.reasons[0]!, /^failed: version 3 could not be installed after 2 attempts: relation "bank_accounts" does not exist$/);
  assert.equal((await get(`${statusUrl}health/live`)).status, 503);

  const status = (await get(`${statusUrl}status`)).json() as ReplicatorStatus;
  assert.equal(status.state, 'failed');
  assert.equal(status.lastError?.level, 'error');
  assert.match(status.lastError!.message, /version 3 could not be installed after 2 attempts/);
  assert.equal(status.installs.failedAttempts, 2);
  assert.equal(status.snapshot.inMemory, 1, 'the snapshot stops below the failed version');
});

test('/metrics is the Prometheus exposition of the status server\'s own SDK; /events streams history and status; unknown paths 404', async (t) => {
  const source = createMemorySource();
  const log = transactionLog(10, { abortEvery: 2 });
  const replicator = createCohortReplicator({
    source,
    installer: { install: async () => {} },
    snapshotStore: memoryStore(),
    logger: silentLogger,
    config: { statemapQueueCleanupFreqMs: 10, certifierMessageReceiverCommitFreqMs: 10 },
    statusPort: 0,
  });
  t.after(() => replicator.observability.close());
  const { statusUrl } = await replicator.observability.ready();
  assert.equal(replicator.observability.metricsEnabled, true, 'statusPort brings its own SDK provider');
  replicator.start();
  source.push(log.records);
  source.end();
  await runToEnd(replicator);

  const metrics = await get(`${statusUrl}metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.type, /^text\/plain/);
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics.body)?.[1]);
  assert.equal(value('repl_candidates_total'), 10);
  assert.equal(value('repl_dec_commits_total'), 5);
  assert.equal(value('repl_dec_aborts_total'), 5);
  assert.equal(value('repl_install_ok_total'), 10);
  assert.equal(value('repl_candidate_to_install_latency_count'), 10);
  assert.equal(value('repl_statemap_queue_snapshot'), log.lastVersion);
  assert.match(metrics.body, /^# TYPE repl_decision_to_install_latency histogram$/m);
  assert.match(metrics.body, /^# UNIT repl_install_latency ms$/m);

  // Server-sent events: the history first, then the status.
  const controller = new AbortController();
  t.after(() => controller.abort());
  const events = await fetch(`${statusUrl}events`, { signal: controller.signal });
  assert.match(events.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reader = events.body!.getReader();
  let text = '';
  while (!/event: status\ndata: .*\n\n/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
  assert.match(text, /^retry: 1000\nevent: history\ndata: \[/);
  const status = JSON.parse(/event: status\ndata: (.*)\n\n/.exec(text)![1]!) as ReplicatorStatus;
  assert.equal(status.state, 'stopped');
  controller.abort();

  const page = await get(statusUrl!);
  assert.equal(page.status, 200);
  assert.match(page.type, /^text\/html/);
  assert.match(page.body, /new EventSource\('\/events'\)/);
  assert.doesNotMatch(page.body, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'nothing loaded from elsewhere');
  assert.equal((await get(`${statusUrl}nope`)).status, 404);
});

test('unread: offsets on the log not read yet, while the source is paused with a full suffix', async (t) => {
  const hold = gate();
  const source = createMemorySource({ maxBatch: 2 });
  const replicator = createCohortReplicator({
    source,
    installer: { install: () => hold.promise },
    snapshotStore: memoryStore(),
    logger: silentLogger,
    config: { suffixCapacity: 4, statemapInstallerThreadpool: 1 },
  });
  t.after(() => replicator.observability.close());
  replicator.start();
  const log = transactionLog(20, { safepointLag: 1 });
  source.push(log.records);
  source.end();
  const status = await eventually(() => {
    const s = replicator.observability.status();
    return s.backpressure.sourcePaused ? s : undefined;
  }, 'the source paused by the full suffix');
  const last = Number(log.records[log.records.length - 1]!.offset);
  assert.equal(status.endOffset, last);
  assert.ok(status.lastOffsetSeen !== null && status.lastOffsetSeen < last, `read up to ${status.lastOffsetSeen} of ${last}`);
  assert.equal(status.unread, last - status.lastOffsetSeen!);
  hold.open();
  await runToEnd(replicator);
  assert.equal(replicator.observability.status().unread, 0);
});

test('statusPort is validated; a port already taken is reported by ready()', async (t) => {
  const options = { source: createMemorySource(), installer: { install: async () => {} }, snapshotStore: memoryStore(), logger: silentLogger };
  assert.throws(() => createCohortReplicator({ ...options, statusPort: -1 }), /"statusPort" must be a port number/);
  const first = createCohortReplicator({ ...options, statusPort: 0 });
  t.after(() => first.observability.close());
  const { statusUrl } = await first.observability.ready();
  const port = Number(new URL(statusUrl!).port);
  const second = createCohortReplicator({ ...options, source: createMemorySource(), statusPort: port });
  t.after(() => second.observability.close());
  await assert.rejects(second.observability.ready(), /EADDRINUSE/);
});

test('enableStats logs a Talos-like line: tps, items per state, snapshot, offsets, lag, suffix, backpressure', async (t) => {
  const lines: string[] = [];
  const logger: Logger = { ...silentLogger, info: (message: string) => void lines.push(message) };
  const hold = gate();
  const source = createMemorySource();
  const replicator = createCohortReplicator({
    source,
    installer: { install: () => hold.promise },
    snapshotStore: memoryStore(),
    logger,
    config: { enableStats: true, statsFreqMs: 10, statemapInstallerThreadpool: 1 },
  });
  t.after(() => replicator.observability.close());
  replicator.start();
  source.push(transactionLog(3, { safepointLag: 1 }).records);
  source.end();
  const line = await eventually(() => lines.find((l) => l.includes('inflight=1')), 'a stats line with the install in flight');
  assert.match(line, /^stats: running \| tps=(-|\d+\.\d) installed=0 \| awaiting=2 \(waitingForSafepoint=2 backingOff=0\) inflight=1 \(installing=1 backlog=0\) installed=0 failed=0 queue=3 \| snapshot=0 persisted=0 committed=0 lastOffset=6 lag=6 unread=0 \| suffix=3 backpressure=none rejected=0$/);
  hold.open();
  await runToEnd(replicator);
});

test('health: critical backpressure makes the replicator unready; the level is read from the flow state of the replicator service', () => {
  const base = { started: true, status: 'active' as const, state: 'running', error: null, snapshotLoadAttempts: 0 };
  assert.deepEqual(healthOf({ ...base, backpressure: 'none' }), { live: true, ready: true, reasons: [] });
  assert.deepEqual(healthOf({ ...base, backpressure: 'slowing' }), { live: true, ready: true, reasons: [] });
  assert.deepEqual(healthOf({ ...base, backpressure: 'critical' }), { live: true, ready: false, reasons: ['paused by critical backpressure'] });
  assert.deepEqual(healthOf({ ...base, state: 'starting', backpressure: 'none', snapshotLoadAttempts: 3 }), { live: true, ready: false, reasons: ['loading the snapshot (getSnapshot failed 3 time(s), retrying)'] });
  assert.deepEqual(healthOf({ ...base, state: 'stopping', backpressure: 'none' }), { live: true, ready: false, reasons: ['stopping'] });
  assert.deepEqual(healthOf({ ...base, status: 'error', error: 'boom', backpressure: 'none' }), { live: false, ready: false, reasons: ['crashed: boom'] });
  assert.equal(backpressureLevelOf({ running: { flow: 'stalled', commits: 'waiting' } }), 'critical');
  assert.equal(backpressureLevelOf({ running: { flow: 'slowing', commits: 'waiting' } }), 'slowing');
  assert.equal(backpressureLevelOf({ running: { flow: 'full', commits: 'waiting' } }), 'slowing');
  assert.equal(backpressureLevelOf({ running: { flow: 'flowing', commits: 'waiting' } }), 'none');
  assert.equal(backpressureLevelOf('waiting'), 'none');
  assert.equal(backpressureLevelOf(undefined), 'none');
  assert.match(describeStats({ state: 'starting', health: { live: true, ready: false, reasons: ['loading the snapshot'] }, installs: { total: null }, queue: null, snapshot: { inMemory: null, persisted: null }, committedOffset: null, lastOffsetSeen: null, lag: null, suffix: null, backpressure: { level: 'none', sourcePaused: false }, rejectedRecords: 0 } as unknown as ReplicatorStatus, null), /^stats: starting \(not ready: loading the snapshot\) \| tps=- installed=- \| queue not loaded \| snapshot=- /);
});
