/** Stopping, refreshing the snapshot, backpressure, concurrency, and hosting the replicator in another machine. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assign, createActor, sendTo, setup, waitFor } from 'xstate';
import { createCohortReplicator, createMemorySource, provideCohortReplicator, resolveConfig, silentLogger, type CohortReplicatorOutput, type RawRecord } from '../../index.js';
import { candidateRecord, decisionRecord } from '../support/records.js';
import { gate, MemoryCohort, type Gate } from '../support/memoryCohort.js';
import { buildHistory, type HistorySpec, type TxSpec } from '../support/history.js';
import { runPipeline, type RunParams } from '../support/pipelineChecks.js';
import { fastConfig, finished, installedVersions, maxConcurrentInstalls, settle, start, until } from '../support/scenario.js';

const set = (key: string, value: number) => [{ SET: { key, value } }];

/** Candidates 1..n (keys independent), each decided right after it, with safepoint 0. */
function independentLog(n: number): RawRecord[] {
  const records: RawRecord[] = [];
  for (let i = 0; i < n; i++) {
    const version = 1 + 2 * i;
    records.push(candidateRecord(version, set(`k${version}`, version)), decisionRecord(version + 1, version, { safepoint: 0 }));
  }
  return records;
}

test('graceful STOP mid-run: in-flight installs finish, nothing new starts, the last snapshot is persisted and committed, final state stopped', { timeout: 30_000 }, async () => {
  const gates = new Map<number, Gate>();
  const gateOf = (version: number) => gates.get(version) ?? gates.set(version, gate()).get(version)!;
  const { cohort, run } = start(independentLog(10), {
    end: false,
    config: { statemapInstallerThreadpool: 2, statemapQueueCleanupFreqMs: 10_000, certifierMessageReceiverCommitFreqMs: 10_000 },
    cohort: { installGate: (version) => gateOf(version).promise },
  });
  await until(() => cohort.installCalls.length === 2, 'two installs are in flight');
  assert.deepEqual(cohort.calledVersions, [1, 3]);
  run.actor.send({ type: 'STOP' });
  await settle();
  assert.equal(run.actor.getSnapshot().status, 'active', 'the replicator waits for its in-flight installs');
  assert.equal(cohort.persisted, 0, 'the persister timer never fired (10 s): only the stop persists');
  gateOf(3).open();
  gateOf(1).open();
  const output = await finished(run);
  assert.equal(output.outcome, 'stopped');
  assert.equal(run.actor.getSnapshot().value, 'stopped');
  assert.deepEqual(cohort.calledVersions, [1, 3], 'no install starts after STOP');
  assert.deepEqual(cohort.installCalls.map((call) => call.outcome), ['ok', 'ok'], 'the in-flight installs completed');
  assert.equal(output.snapshot, 3);
  assert.equal(output.persisted, 3);
  assert.equal(cohort.persisted, 3, 'the last snapshot is persisted on stop');
  assert.deepEqual(run.source.commits, [3], 'and its offset committed');
  assert.ok(run.source.closed);
});

test('STOP while the snapshot is still loading ends in stopped without reading, installing, writing or committing anything', { timeout: 30_000 }, async (t) => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const cohort = new MemoryCohort();
  const { run, installer, source } = cohort.openRun();
  const actor = createActor(
    provideCohortReplicator({
      source,
      installer,
      snapshotStore: { getSnapshot: () => held.then(() => 0), updateSnapshot: async () => assert.fail('nothing to persist') },
      logger: silentLogger,
    }),
    { input: { config: resolveConfig(fastConfig) } },
  );
  t.after(() => actor.stop());
  actor.start();
  run.source.push(independentLog(2));
  actor.send({ type: 'STOP' });
  const done = await waitFor(actor, (s) => s.status === 'done', { timeout: 3000 }).finally(release);
  assert.equal(done.value, 'stopped');
  assert.deepEqual(cohort.installCalls, []);
  assert.deepEqual(run.source.commits, []);
});

test('REFRESH_SNAPSHOT: versions covered by a snapshot raised externally count as installed and are not installed again', { timeout: 30_000 }, async () => {
  // Candidates 1..6, decided in order, each waiting for the one before (all write key k).
  const records: RawRecord[] = [];
  for (let v = 1; v <= 6; v++) records.push(candidateRecord(v, set('k', v)));
  for (let v = 1; v <= 6; v++) records.push(decisionRecord(6 + v, v, { safepoint: v - 1 }));
  const one = gate();
  const { cohort, run } = start(records, { end: false, cohort: { installGate: (version) => (version === 1 ? one.promise : undefined) } });
  await until(() => cohort.installCalls.length === 1 && run.source.buffered === 0, 'version 1 is in flight and 2..6 wait for it');
  // Another process installed up to 4 and moved the persisted snapshot.
  cohort.raiseSnapshot(4);
  run.actor.send({ type: 'REFRESH_SNAPSHOT' });
  await until(() => cohort.snapshotReads.length === 2, 'the snapshot is re-read');
  await settle();
  assert.deepEqual(cohort.calledVersions, [1], 'nothing may start while 1 is in flight (2..4 are covered, 5 waits for 4 and so for 1)');
  one.open();
  run.source.end();
  const output = await finished(run);
  assert.equal(output.outcome, 'stopped');
  assert.deepEqual(cohort.calledVersions, [1, 5, 6], 'versions 2..4 are covered by the refreshed snapshot');
  assert.ok(cohort.completedAt.get(1)! < cohort.callsOf(5)[0]!.seq, 'the in-flight install of 1 finished before 5 started');
  assert.equal(output.snapshot, 6);
  assert.equal(cohort.persisted, 6);
  assert.equal(run.source.commits.at(-1), 6);
});

test('REFRESH_SNAPSHOT above everything received: later versions at or below it are covered without installing', { timeout: 30_000 }, async () => {
  const { cohort, run } = start([candidateRecord(1, set('k', 1)), decisionRecord(2, 1, { safepoint: 0 })], { end: false });
  await until(() => run.lastObservedSnapshot === 1, 'version 1 installed');
  cohort.raiseSnapshot(6);
  run.actor.send({ type: 'REFRESH_SNAPSHOT' });
  await until(() => run.lastObservedSnapshot === 6, 'the in-memory snapshot follows the refreshed one');
  run.source.push([candidateRecord(3, set('k', 3)), decisionRecord(4, 3, { safepoint: 1 }), candidateRecord(5, set('k', 5)), decisionRecord(6, 5, { safepoint: 3 })]);
  run.source.push([candidateRecord(7, set('k', 7)), decisionRecord(8, 7, { safepoint: 5 })]);
  run.source.end();
  const output = await finished(run);
  assert.equal(output.outcome, 'stopped');
  assert.deepEqual(cohort.calledVersions, [1, 7]);
  assert.equal(output.snapshot, 7);
  assert.equal(cohort.persisted, 7);
});

test('REFRESH_SNAPSHOT: the in-memory snapshot never falls below the refreshed (persisted) one', { timeout: 30_000 }, async () => {
  // Regression: refresh to 6 with nothing pending; then 3 (covered) and 11 arrive in one batch; 11 fails for
  // good. The queue used to set its snapshot to 3 when dropping the covered item, and reported 3 < persisted 6.
  const { cohort, run } = start([candidateRecord(1, set('k', 1)), decisionRecord(2, 1, { safepoint: 0 })], {
    end: false,
    config: { maxInstallAttempts: 1 },
    cohort: { installOutcome: ({ version }) => (version === 11 ? 'fail' : 'ok') },
  });
  await until(() => run.lastObservedSnapshot === 1, 'version 1 installed');
  cohort.raiseSnapshot(6);
  run.actor.send({ type: 'REFRESH_SNAPSHOT' });
  await until(() => run.lastObservedSnapshot === 6 && run.observations.at(-1)!.persisted === 6, 'the refreshed snapshot is adopted and persisted');
  run.source.push([candidateRecord(3, set('k', 3)), decisionRecord(4, 3, { safepoint: 1 }), candidateRecord(11, set('k', 11)), decisionRecord(12, 11, { safepoint: 3 })]);
  run.source.end();
  const output = await finished(run);
  assert.equal(output.outcome, 'failed');
  assert.equal(output.persisted, 6);
  assert.ok(output.snapshot !== null && output.snapshot >= 6, `the reported in-memory snapshot (${output.snapshot}) must not be below the persisted one (6)`);
});

test('backpressure: with a small suffix and a slow installer the source is paused, then resumed, and everything is installed', { timeout: 30_000 }, async () => {
  // All candidates first, then their decisions: the suffix fills with candidates waiting for installs.
  const records: RawRecord[] = [];
  const n = 12;
  for (let v = 1; v <= n; v++) records.push(candidateRecord(v, set('k', v)));
  for (let v = 1; v <= n; v++) records.push(decisionRecord(n + v, v, { safepoint: v - 1 }));
  const { cohort, run } = start(records, { maxBatch: 1, config: { suffixCapacity: 4, channelSize: 1 }, cohort: { installLatency: () => 2 } });
  let sawPaused = false;
  const watch = setInterval(() => (sawPaused ||= run.source.paused), 1);
  const output = await finished(run).finally(() => clearInterval(watch));
  assert.equal(output.outcome, 'stopped');
  assert.ok(run.pauses > 0, 'the replicator paused the source');
  assert.ok(run.resumes > 0, 'and resumed it');
  assert.ok(sawPaused, 'the memory source was seen paused');
  assert.equal(run.source.paused, false, 'the source is not left paused');
  assert.deepEqual(cohort.calledVersions, Array.from({ length: n }, (_, i) => i + 1));
  assert.equal(output.snapshot, n);
  assert.equal(cohort.persisted, n);
});

test('backpressure as in Talos: the source slows down above the fill threshold, stops while installs stall, and resumes when they move', { timeout: 30_000 }, async () => {
  const gates = new Map<number, Gate>();
  const gateOf = (version: number) => gates.get(version) ?? gates.set(version, gate()).get(version)!;
  // 30 independent versions; version 1's install hangs, so the snapshot (and the suffix head) cannot move.
  const { cohort, run } = start(independentLog(30), {
    maxBatch: 2,
    config: { suffixCapacity: 20, suffixResumeRatio: 0.5, backpressureFillThreshold: 0.25, backpressureMinDelayMs: 5, backpressureMaxDelayMs: 40, backpressureStallMs: 50, channelSize: 2 },
    cohort: { installGate: (version) => (version === 1 ? gateOf(1).promise : Promise.resolve()) },
  });
  await until(() => run.source.paused, 'the source is paused once the head has not moved for backpressureStallMs');
  const replicator = run.actor.getSnapshot().children.replicator!.getSnapshot() as { value: unknown; context: { suffix: { size: number } } };
  assert.deepEqual(replicator.value, { running: { flow: 'stalled', commits: 'waiting' } });
  const throttles = [...run.source.throttles];
  assert.ok(throttles.length > 0 && throttles[0]! >= 5, `the source was slowed down first (waits asked for: ${throttles.join(', ')})`);
  assert.ok(throttles.every((delay, i) => i === 0 || delay >= throttles[i - 1]!), `the wait grows as the suffix fills: ${throttles.join(', ')}`);
  assert.ok(throttles.every((delay) => delay <= 40), 'never more than backpressureMaxDelayMs');
  assert.ok(replicator.context.suffix.size < 20, 'a stall stops the source before the suffix is full');
  const buffered = run.source.buffered;
  await settle();
  assert.equal(run.source.buffered, buffered, 'nothing is read while stopped');
  gateOf(1).open();
  const output = await finished(run);
  assert.equal(output.outcome, 'stopped');
  assert.equal(run.source.paused, false, 'resumed once installs moved');
  assert.equal(run.source.throttles.at(-1), 0, 'and back to full speed once the suffix drained');
  assert.deepEqual(installedVersions(cohort), independentLog(30).filter((r) => r.headers.messageType === 'Candidate').map((r) => Number(r.offset)));
});

test('backpressure: a decision record right after the last installed version does not keep the source paused forever', { timeout: 30_000 }, async () => {
  // Regression: suffixCapacity 2, one record per batch:
  // C1, D2(1): 1 is sent; offset 2 is a hole. C3: 2 candidates, head 1 < nextToSend 3 -> pause.
  // 1 installed -> prune to 1 -> 1 candidate -> resume. C4: 2 candidates, head 2 < nextToSend 3 -> pause, and nothing is in flight to ever prune again.
  const records = [
    candidateRecord(1, set('a', 1)),
    decisionRecord(2, 1, { safepoint: 0 }),
    candidateRecord(3, set('b', 3)),
    candidateRecord(4, set('c', 4)),
    decisionRecord(5, 3, { safepoint: 0 }),
    decisionRecord(6, 4, { safepoint: 0 }),
  ];
  const { cohort, run } = start(records, { maxBatch: 1, config: { suffixCapacity: 2, channelSize: 1 }, timeoutMs: 1500 });
  const end = await run.ended;
  assert.equal(end.kind, 'done', `the replicator hangs: ${JSON.stringify(end)}`);
  assert.deepEqual(installedVersions(cohort), [1, 3, 4]);
});

test('backpressure: a duplicate candidate right above the last installed version does not keep the source paused forever', { timeout: 30_000 }, async () => {
  // Regression: suffixCapacity 2, one record per batch. 1 is installed; 3 re-sends 1 (it never reaches the
  // queue, so the queue's snapshot stays 1). If the suffix keeps slot 3, C5 makes 2 candidates with
  // head 3 < nextToSend 5: paused, with nothing in flight that could ever prune the suffix again.
  const records = [
    candidateRecord(1, set('a', 1), 'tx-1'),
    decisionRecord(2, 1, { safepoint: 0, xid: 'tx-1' }),
    candidateRecord(3, set('a', 1), 'tx-1'),
    decisionRecord(4, 3, { safepoint: 0, duplicateVersion: 1, xid: 'tx-1' }),
    candidateRecord(5, set('b', 5)),
    candidateRecord(6, set('c', 6)),
    decisionRecord(7, 5, { safepoint: 0 }),
    decisionRecord(8, 6, { safepoint: 0 }),
  ];
  const { cohort, run } = start(records, { maxBatch: 1, config: { suffixCapacity: 2, channelSize: 1 }, timeoutMs: 1500 });
  const end = await run.ended;
  assert.equal(end.kind, 'done', `the replicator hangs: ${JSON.stringify(end)}`);
  assert.deepEqual(installedVersions(cohort), [1, 5, 6]);
  assert.equal(cohort.persisted, 6);
});

test('safepoint ordering with concurrent installs (threadpool 50): no item starts before every version up to its safepoint is installed', { timeout: 30_000 }, async () => {
  // 150 transactions over 6 keys, decisions up to 8 slots late, random latencies; the checks of the property tests.
  const txs: TxSpec[] = [];
  let x = 12345;
  const next = (m: number) => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % m);
  for (let i = 0; i < 150; i++) {
    const keys = [...new Set([next(6), next(6)])];
    txs.push({
      kind: next(10) < 8 ? 'commit' : 'abort',
      ops: keys.map((key) => ({ action: next(2) === 0 ? 'ADD' : 'SET', key, amount: 1 + next(9) })),
      delay: next(9),
      safepoint: 'conflict',
      raise: 0,
      dupOf: 0,
      repeatDecision: false,
      emptyArray: false,
    });
  }
  const spec: HistorySpec = { txs, versionZero: false, garbage: [], strays: [], undecided: null, initialSnapshot: null };
  const params: RunParams = {
    seed: 7, threadpool: 50, batchSize: 1, channelSize: 10_000, maxBatch: 1000, cleanupMs: 2, commitMs: 2, suffixCapacity: 10_000,
    latencyMax: 3, failureRate: 0.05, ambiguousRate: 0, snapshotFailureRate: 0, commitFailureRate: 0, chunk: 10, chunkPauseMs: 1,
    firstFrom: 'beginning', interruptions: [], restartFrom: 'committed', refreshes: [],
  };
  const { violations, cohort, expectation } = await runPipeline(buildHistory(spec), params, { timeoutMs: 10_000 });
  assert.deepEqual(violations, []);
  assert.ok(maxConcurrentInstalls(cohort) > 3, `installs actually ran concurrently (max ${maxConcurrentInstalls(cohort)})`);
  assert.equal(cohort.persisted, expectation.finalSnapshot);
});

test('the replicator spawned as a child of a host machine: the host receives its done output', { timeout: 30_000 }, async (t) => {
  const cohort = new MemoryCohort();
  const { run, installer, snapshotStore, source } = cohort.openRun();
  const replicator = provideCohortReplicator({ source, installer, snapshotStore, logger: silentLogger });
  const host = setup({
    types: { context: {} as { result: CohortReplicatorOutput | null; snapshots: number } },
    actors: { replicator },
  }).createMachine({
    id: 'host',
    context: { result: null, snapshots: 0 },
    initial: 'replicating',
    states: {
      replicating: {
        invoke: {
          id: 'cohortReplicator',
          src: 'replicator',
          input: { config: resolveConfig({ ...fastConfig, statemapInstallerThreadpool: 4 }) },
          onDone: { target: 'finished', actions: assign({ result: ({ event }) => event.output }) },
          onError: 'broken',
        },
        on: { SHUTDOWN: { actions: sendTo('cohortReplicator', { type: 'STOP' }) } },
      },
      finished: { type: 'final' },
      broken: { type: 'final' },
    },
  });
  const actor = createActor(host);
  t.after(() => actor.stop());
  actor.start();
  run.source.push(independentLog(5));
  run.source.end();
  const done = await waitFor(actor, (s) => s.status === 'done', { timeout: 5000 });
  assert.equal(done.value, 'finished');
  const result = done.context.result!;
  assert.equal(result.outcome, 'stopped');
  assert.equal(result.snapshot, 9);
  assert.equal(result.persisted, 9);
  assert.equal(result.committed, 9);
  assert.equal(result.error, null);
  assert.deepEqual(installedVersions(cohort), [1, 3, 5, 7, 9]);
  assert.equal(cohort.persisted, 9);
});

test('the hosted replicator stops when the host forwards STOP, and the host sees the stopped output', { timeout: 30_000 }, async (t) => {
  const cohort = new MemoryCohort();
  const hold = gate();
  const { run, installer, snapshotStore, source } = cohort.openRun();
  const gated = { install: async (statemaps: Parameters<typeof installer.install>[0], version: number) => (await hold.promise, installer.install(statemaps, version)) };
  const host = setup({
    types: { context: {} as { result: CohortReplicatorOutput | null }, events: {} as { type: 'SHUTDOWN' } },
    actors: { replicator: provideCohortReplicator({ source, installer: gated, snapshotStore, logger: silentLogger }) },
  }).createMachine({
    context: { result: null },
    initial: 'replicating',
    states: {
      replicating: {
        invoke: { id: 'child', src: 'replicator', input: { config: resolveConfig(fastConfig) }, onDone: { target: 'finished', actions: assign({ result: ({ event }) => event.output }) } },
        on: { SHUTDOWN: { actions: sendTo('child', { type: 'STOP' }) } },
      },
      finished: { type: 'final' },
    },
  });
  const actor = createActor(host);
  t.after(() => actor.stop());
  actor.start();
  run.source.push(independentLog(3));
  await until(() => actor.getSnapshot().children.child?.getSnapshot().context.snapshot === 0, 'the child loaded its snapshot');
  await settle();
  actor.send({ type: 'SHUTDOWN' });
  hold.open();
  const done = await waitFor(actor, (s) => s.status === 'done', { timeout: 5000 });
  assert.equal(done.context.result?.outcome, 'stopped');
  assert.equal(done.context.result?.persisted, cohort.persisted);
  assert.equal(done.context.result?.snapshot, cohort.persisted);
});

test('parseOnWorkerThread: the replicator parses on a worker, installs every version, persists the last one, and ends; a STOP mid-parse leaves no unhandled rejection', { timeout: 30_000 }, async () => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  try {
    for (const stopEarly of [false, true]) {
      const installed: number[] = [];
      let persisted = 0;
      const source = createMemorySource({ maxBatch: 50 });
      const actor = createCohortReplicator({
        source,
        parseOnWorkerThread: true,
        installer: { install: async (_statemaps, version) => void installed.push(version) },
        snapshotStore: { getSnapshot: async () => 0, updateSnapshot: async (version) => void (persisted = version) },
        logger: silentLogger,
        config: { statemapQueueCleanupFreqMs: 10, certifierMessageReceiverCommitFreqMs: 10 },
      });
      actor.start();
      source.push(independentLog(500));
      if (stopEarly) {
        // Stop while batches are still with the worker: they are dropped (read again next time).
        await new Promise((resolve) => setImmediate(resolve));
        actor.send({ type: 'STOP' });
      } else {
        source.end();
      }
      const done = await waitFor(actor, (snapshot) => snapshot.status === 'done', { timeout: 20_000 });
      assert.equal(done.output?.outcome, 'stopped');
      if (!stopEarly) {
        assert.deepEqual(installed, Array.from({ length: 500 }, (_, i) => 1 + 2 * i), 'every version installed once, in order (independent keys, threadpool 50, installs that finish at once)');
        assert.equal(persisted, 999);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(rejections, []);
  } finally {
    process.off('unhandledRejection', onRejection);
  }
});

test('parseOnWorkerThread and parse together are refused', () => {
  assert.throws(
    () =>
      createCohortReplicator({
        source: createMemorySource(),
        parseOnWorkerThread: true,
        parse: () => ({ messages: [], rejects: [], lastOffset: null }),
        installer: { install: async () => undefined },
        snapshotStore: { getSnapshot: async () => 0, updateSnapshot: async () => undefined },
        logger: silentLogger,
      }),
    /"parseOnWorkerThread" and "parse" cannot both be given/,
  );
});
