/**
 * Runs a generated history through the whole pipeline (one or more replicator processes over one
 * in-memory cohort, with crashes in between) and checks every invariant on what was recorded.
 * Checks never throw inside callbacks: they read the records afterwards and list violations.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import type { RawRecord, ReplicatorConfigInput, Version } from '../../index.js';
import { describeHistory, expectationOf, preinstalledOf, serialRows, type Expectation, type History } from './history.js';
import { MemoryCohort, type CohortRun, type InjectedOutcome, type RunEnd, type StartRunOptions } from './memoryCohort.js';

/** Resolves once `predicate` holds (polled every millisecond). */
async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((resolve) => setTimeout(resolve, 1));
}

export interface RunParams {
  readonly seed: number;
  readonly threadpool: number;
  readonly batchSize: number;
  readonly channelSize: number;
  readonly maxBatch: number;
  readonly cleanupMs: number;
  readonly commitMs: number;
  readonly suffixCapacity: number;
  /** Install latency: 0..latencyMax ms (0: a microtask). */
  readonly latencyMax: number;
  readonly failureRate: number;
  readonly ambiguousRate: number;
  readonly snapshotFailureRate: number;
  /** Share of offset commits that fail (the replicator asks again on its next interval). */
  readonly commitFailureRate: number;
  /** Records per push, and whether pushes wait for a timer between them. */
  readonly chunk: number;
  readonly chunkPauseMs: number;
  /** The first run reads the log from its first offset, or from just above the initial snapshot. */
  readonly firstFrom: 'beginning' | 'snapshot';
  /**
   * Interrupt the k-th run after this many install calls (0: as soon as it starts): abruptly (a
   * crash: the actor is stopped) or gracefully (STOP); then start the next run.
   */
  readonly interruptions: ReadonlyArray<{ readonly after: number; readonly graceful: boolean }>;
  /** After an interruption, the next run reads from the last committed offset + 1, or the persisted snapshot + 1. */
  readonly restartFrom: 'committed' | 'persisted';
  /**
   * Another process raises the snapshot once a run made `after` install calls: it installs every
   * version up to a queue version (picked by `pick`) that is not installed yet, raises the store,
   * and the run is sent REFRESH_SNAPSHOT.
   */
  readonly refreshes: ReadonlyArray<{ readonly after: number; readonly pick: number }>;
}

export interface ParamsArbOptions {
  /** Crashes and graceful stops between runs. */
  readonly crashes?: boolean;
  readonly refreshes?: boolean;
  readonly smallSuffix?: boolean;
  readonly failures?: boolean;
}

export function runParamsArb(options: ParamsArbOptions = {}): fc.Arbitrary<RunParams> {
  return fc.record({
    seed: fc.integer(),
    threadpool: fc.constantFrom(1, 2, 3, 50),
    batchSize: fc.constantFrom(1, 1, 2, 3),
    channelSize: fc.constantFrom(1, 3, 10_000),
    maxBatch: fc.constantFrom(1, 2, 5, 1000),
    cleanupMs: fc.integer({ min: 1, max: 5 }),
    commitMs: fc.integer({ min: 1, max: 5 }),
    suffixCapacity: options.smallSuffix ? fc.integer({ min: 1, max: 6 }) : fc.constant(10_000),
    latencyMax: fc.constantFrom(0, 1, 3),
    failureRate: options.failures === false ? fc.constant(0) : fc.constantFrom(0, 0, 0.1, 0.3),
    ambiguousRate: options.failures === false ? fc.constant(0) : fc.constantFrom(0, 0, 0.1),
    snapshotFailureRate: options.failures === false ? fc.constant(0) : fc.constantFrom(0, 0, 0.3),
    commitFailureRate: options.failures === false ? fc.constant(0) : fc.constantFrom(0, 0, 0.3),
    chunk: fc.integer({ min: 1, max: 20 }),
    chunkPauseMs: fc.constantFrom(-1, 0, 1),
    firstFrom: fc.constantFrom<'beginning' | 'snapshot'>('beginning', 'snapshot'),
    interruptions: options.crashes ? fc.array(fc.record({ after: fc.integer({ min: 0, max: 25 }), graceful: fc.boolean() }), { minLength: 1, maxLength: 3 }) : fc.constant([]),
    restartFrom: fc.constantFrom<'committed' | 'persisted'>('committed', 'persisted'),
    refreshes: options.refreshes ? fc.array(fc.record({ after: fc.integer({ min: 0, max: 20 }), pick: fc.nat({ max: 40 }) }), { minLength: 1, maxLength: 2 }) : fc.constant([]),
  });
}

export function configOf(params: RunParams): ReplicatorConfigInput {
  return {
    statemapInstallerThreadpool: params.threadpool,
    installBatchSize: params.batchSize,
    channelSize: params.channelSize,
    suffixCapacity: params.suffixCapacity,
    statemapQueueCleanupFreqMs: params.cleanupMs,
    certifierMessageReceiverCommitFreqMs: params.commitMs,
    maxInstallAttempts: Infinity,
    installRetry: { initialDelayMs: 1, maxDelayMs: 5 },
    snapshotRetry: { initialDelayMs: 1, maxDelayMs: 5 },
    // Every backpressure state is reached with small suffixes; short waits keep a run quick.
    backpressureMinDelayMs: 1,
    backpressureMaxDelayMs: 3,
    backpressureStallMs: 5,
  };
}

export interface PipelineResult {
  readonly cohort: MemoryCohort;
  readonly expectation: Expectation;
  readonly ends: readonly RunEnd[];
  readonly violations: readonly string[];
}

/** Feeds `history` through as many runs as `params.interruptions` asks for, then checks everything. */
export interface PipelineOptions {
  /** Safety net per run (default 4000 ms). */
  readonly timeoutMs?: number;
  /** The replicator's batch parser (default: parseBatch on the main thread). */
  readonly parse?: StartRunOptions['parse'];
}

export async function runPipeline(history: History, params: RunParams, options: PipelineOptions = {}): Promise<PipelineResult> {
  const expectation = expectationOf(history);
  const s0 = history.initialSnapshot;
  const pick = (rate: number, random: { chance(p: number): boolean }) => rate > 0 && random.chance(rate);
  const cohort = new MemoryCohort({
    seed: params.seed,
    initialSnapshot: s0,
    initialRows: serialRows(history, s0),
    preinstalled: preinstalledOf(history),
    batch: params.batchSize > 1,
    installLatency: ({ random }) => (params.latencyMax === 0 ? 0 : random.int(params.latencyMax + 1)),
    installOutcome: ({ random }): InjectedOutcome => (pick(params.failureRate, random) ? 'fail' : pick(params.ambiguousRate, random) ? 'ambiguous' : 'ok'),
    updateSnapshotFails: (_call, _version, random) => pick(params.snapshotFailureRate, random),
    commitFails: (_version, random) => pick(params.commitFailureRate, random),
  });
  const config = configOf(params);
  const from = (offset: Version): RawRecord[] => history.records.filter((record) => Number(record.offset) >= offset);
  let next = params.firstFrom === 'beginning' ? history.firstOffset : s0 + 1;
  let committed: Version | null = params.firstFrom === 'beginning' ? null : s0;
  const ends: RunEnd[] = [];
  const refreshes = [...params.refreshes].sort((a, b) => a.after - b.after);
  const externalRaise = (run: CohortRun, pick: number) => {
    const candidates = expectation.queueVersions.filter((version) => version > cohort.persisted);
    if (candidates.length === 0 || run.settled) return;
    const target = candidates[pick % candidates.length]!;
    cohort.externalInstall(expectation.queueVersions.filter((version) => version <= target && !cohort.completedAt.has(version)).map((version) => ({ version, statemaps: expectation.items.get(version) ?? [] })));
    cohort.raiseSnapshot(target);
    run.actor.send({ type: 'REFRESH_SNAPSHOT' });
  };
  for (let k = 0; ; k++) {
    const interruption = params.interruptions[k];
    const run = cohort.startRun({
      onInstallCall: (count, current) => {
        while (refreshes.length > 0 && refreshes[0]!.after <= count) {
          const { pick } = refreshes.shift()!;
          setImmediate(() => externalRaise(current, pick));
        }
      },
      records: from(next),
      config,
      maxBatch: params.maxBatch,
      feed: { chunk: params.chunk, pauseMs: params.chunkPauseMs },
      ...(interruption === undefined ? {} : interruption.graceful ? { stopAfterInstallCalls: interruption.after } : { crashAfterInstallCalls: interruption.after }),
      timeoutMs: options.timeoutMs ?? 4000,
      ...(options.parse ? { parse: options.parse } : {}),
    });
    if (refreshes[0]?.after === 0) {
      const { pick } = refreshes.shift()!;
      setImmediate(() => void until(() => run.loaded !== null || run.settled).then(() => externalRaise(run, pick)));
    }
    const end = await run.ended;
    ends.push(end);
    const stopped = end.kind === 'done' && run.stopSeq !== null;
    if (end.kind !== 'crashed' && !stopped) break;
    const last = run.commits.filter((commit) => commit.ok).at(-1)?.version;
    if (last !== undefined) committed = last;
    next = params.restartFrom === 'committed' ? (committed === null ? history.firstOffset : committed + 1) : cohort.persisted + 1;
  }
  // Let anything a crashed run left running settle, so late effects would show up in the checks.
  await new Promise((resolve) => setTimeout(resolve, params.latencyMax + 2));
  const violations = checkPipeline(cohort, history, expectation, ends);
  return { cohort, expectation, ends, violations };
}

/** Every invariant, on the records of all runs. */
export function checkPipeline(cohort: MemoryCohort, history: History, expectation: Expectation, ends: readonly RunEnd[]): string[] {
  const violations: string[] = [];
  const fail = (message: string) => {
    if (violations.length < 25) violations.push(message);
  };
  const s0 = history.initialSnapshot;
  const { queueSet, queueVersions } = expectation;
  const completed = (version: Version, beforeSeq: number): boolean => {
    const at = cohort.completedAt.get(version);
    return at !== undefined && at < beforeSeq;
  };
  const firstIncomplete = (upTo: Version, beforeSeq: number): Version | undefined => {
    for (const version of queueVersions) {
      if (version > upTo) break;
      if (!completed(version, beforeSeq)) return version;
    }
    return undefined;
  };

  // -- the way the runs ended
  const last = ends.at(-1);
  if (!last || last.kind !== 'done') fail(`the last run did not end on its own: ${JSON.stringify(last, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`);
  else {
    if (last.outcome !== 'stopped' || last.output.error) fail(`the last run ended ${last.outcome}: ${last.output.error?.message ?? ''}`);
    if (last.output.snapshot !== expectation.finalSnapshot) fail(`final in-memory snapshot ${last.output.snapshot}, expected ${expectation.finalSnapshot}`);
    if (last.output.persisted !== expectation.finalSnapshot) fail(`final persisted (output) ${last.output.persisted}, expected ${expectation.finalSnapshot}`);
  }
  ends.slice(0, -1).forEach((end, index) => {
    const stopped = end.kind === 'done' && end.outcome === 'stopped' && cohort.runs[index]!.stopSeq !== null;
    if (end.kind !== 'crashed' && !stopped) fail(`run ${index} ended with ${end.kind}${end.kind === 'done' ? ` (${end.outcome})` : ''} before the log was consumed`);
  });
  // Graceful stops: nothing starts after STOP, everything in flight finishes, the last snapshot is persisted and its offset asked to be committed.
  cohort.runs.forEach((run, index) => {
    const end = ends[index];
    if (run.stopSeq === null || end?.kind !== 'done') return;
    const late = cohort.installCalls.find((call) => call.run === index && call.seq > run.stopSeq!);
    if (late) fail(`run ${index} started installing version ${late.version} after STOP`);
    const unsettled = cohort.installCalls.find((call) => call.run === index && call.outcome === 'pending');
    if (unsettled) fail(`run ${index} ended with the install of version ${unsettled.version} still running`);
    const { snapshot, persisted } = end.output;
    if (persisted !== snapshot) fail(`run ${index} stopped with snapshot ${snapshot} but persisted ${persisted}`);
    if (snapshot !== null && cohort.persisted < snapshot) fail(`run ${index} stopped with snapshot ${snapshot} but the store holds ${cohort.persisted}`);
    if (snapshot !== null && run.loaded !== null && snapshot > run.loaded && run.commits.at(-1)?.version !== snapshot) fail(`run ${index} stopped at ${snapshot} but last asked to commit ${run.commits.at(-1)?.version}`);
  });

  // -- install calls
  const okInRun = new Map<string, number>();
  const pendingInRun = new Map<string, { seq: number; settledSeq: number | null }>();
  for (const call of cohort.installCalls) {
    const { version, seq, run } = call;
    if (!queueSet.has(version)) {
      const tx = history.byVersion.get(version);
      fail(`install called for version ${version} (${tx ? tx.kind + (tx.duplicateOf !== null ? ` of ${tx.duplicateOf}` : '') : 'no candidate'}), which must never be installed in this history (S0=${s0}, firstUndecided=${expectation.firstUndecided})`);
      continue;
    }
    const expected = expectation.items.get(version) ?? [];
    if (!isDeepStrictEqual(call.statemaps, expected)) fail(`install of version ${version} got statemaps ${JSON.stringify(call.statemaps)}, expected ${JSON.stringify(expected)}`);
    const safepoint = call.statemaps[0]?.safepoint;
    if (call.statemaps.length > 0 && safepoint !== null && safepoint !== undefined) {
      const missing = firstIncomplete(safepoint, seq);
      if (missing !== undefined) fail(`version ${version} (safepoint ${safepoint}) was handed to the installer before version ${missing} was installed`);
    }
    const key = `${run}:${version}`;
    const ok = okInRun.get(key);
    if (ok !== undefined && ok < seq) fail(`run ${run} called install for version ${version} again after it had succeeded`);
    const previous = pendingInRun.get(key);
    if (previous && (previous.settledSeq === null || previous.settledSeq > seq)) fail(`run ${run} called install for version ${version} while an earlier call for it was still running`);
    pendingInRun.set(key, call);
    if (call.outcome === 'ok' && call.settledSeq !== null) okInRun.set(key, Math.min(okInRun.get(key) ?? Infinity, call.settledSeq));
  }

  // -- the database
  for (const version of queueVersions) if (!cohort.completedAt.has(version)) fail(`version ${version} never went through installation`);
  for (const version of expectation.mustInstall) {
    const entries = expectation.items.get(version)!.length;
    for (let index = 0; index < entries; index++) {
      const applied = cohort.entryApplications.get(`${version}#${index}`) ?? 0;
      if (applied !== 1) fail(`entry ${index} of version ${version} was applied ${applied} times`);
    }
  }
  for (const key of cohort.entryApplications.keys()) {
    const version = Number(key.split('#')[0]);
    if (!expectation.mustInstall.includes(version)) fail(`entry ${key} was applied, but version ${version} must not be`);
  }
  const expectedRows = serialRows(history, Infinity, expectation.firstUndecided);
  const rowDump = (rows: ReadonlyMap<string, unknown>) => JSON.stringify([...rows].sort(([a], [b]) => a.localeCompare(b)));
  if (rowDump(cohort.rows) !== rowDump(expectedRows)) fail(`end state ${rowDump(cohort.rows)} differs from the serial replay ${rowDump(expectedRows)}`);

  // -- the persisted snapshot
  let before = s0;
  for (const change of cohort.snapshotChanges) {
    if (change.version <= before) fail(`the persisted snapshot went from ${before} to ${change.version}`);
    before = change.version;
  }
  if (cohort.persisted !== expectation.finalSnapshot) fail(`persisted snapshot ${cohort.persisted} at the end, expected ${expectation.finalSnapshot}`);
  const runs = cohort.runs;
  for (const run of runs) {
    const writes = cohort.snapshotWrites.filter((write) => write.run === run.index);
    let previous = -Infinity;
    for (const write of writes) {
      if (write.version < previous) fail(`run ${run.index} wrote snapshot ${write.version} after ${previous}`);
      previous = write.version;
      const raisedMeanwhile = cohort.snapshotChanges.some((change) => change.by === 'external' && change.seq < write.seq);
      if (write.version <= write.storeBefore && !raisedMeanwhile) fail(`run ${run.index} called updateSnapshot(${write.version}) with the store already at ${write.storeBefore}`);
      const missing = firstIncomplete(write.version, write.seq);
      if (missing !== undefined) fail(`run ${run.index} persisted snapshot ${write.version} before version ${missing} was installed`);
      // The store may only hold what the root already shows as installed. (The call itself may come first:
      // on STOP the queue flushes inside the root's own step, before the root takes in its progress report.)
      const observed = write.appliedSeq === null ? null : maxObservedBefore(run, write.appliedSeq);
      if (write.appliedSeq !== null && (observed === null || write.version > observed)) fail(`run ${run.index} persisted ${write.version} above the in-memory snapshot ${observed}`);
      if (!queueSet.has(write.version) && write.version !== s0) fail(`run ${run.index} persisted ${write.version}, which is not a version the queue received`);
    }
    let committedBefore = -Infinity;
    for (const commit of run.commits) {
      if (commit.version > commit.persistedAtCommit) fail(`run ${run.index} committed offset ${commit.version} with the persisted snapshot at ${commit.persistedAtCommit}`);
      if (commit.version <= committedBefore) fail(`run ${run.index} committed ${commit.version} after it had committed ${committedBefore}`);
      if (commit.ok) committedBefore = commit.version;
    }
    checkObservations(run, fail, firstIncomplete, queueSet);
  }
  const finalRun = runs.at(-1)!;
  if (last?.kind === 'done' && finalRun.loaded !== null && expectation.finalSnapshot > finalRun.loaded) {
    const lastCommit = finalRun.commits.at(-1)?.version;
    if (lastCommit !== expectation.finalSnapshot) fail(`the last run's last offset commit (attempt) is ${lastCommit}, expected ${expectation.finalSnapshot}`);
  }
  if (last?.kind === 'done' && !finalRun.source.closed) fail('the source was not closed at the end');
  if (violations.length > 0) violations.unshift(`history: ${describeHistory(history)}; runs: ${ends.map((end) => end.kind).join(', ')}`);
  return violations;
}

function maxObservedBefore(run: CohortRun, seq: number): Version | null {
  let max: Version | null = null;
  for (const observation of run.observations) {
    if (observation.seq > seq) break;
    if (observation.snapshot !== null && (max === null || observation.snapshot > max)) max = observation.snapshot;
  }
  return max;
}

function checkObservations(run: CohortRun, fail: (message: string) => void, firstIncomplete: (upTo: Version, beforeSeq: number) => Version | undefined, queueSet: ReadonlySet<Version>): void {
  let previous: Version | null = null;
  for (const observation of run.observations) {
    const { snapshot, persisted, committed } = observation;
    if (snapshot === null) continue;
    if (previous !== null && snapshot < previous) fail(`run ${run.index}: the in-memory snapshot went down from ${previous} to ${snapshot}`);
    previous = snapshot;
    if (snapshot !== run.loaded && !queueSet.has(snapshot)) fail(`run ${run.index}: in-memory snapshot ${snapshot} is neither the loaded snapshot ${run.loaded} nor a version the queue received`);
    const missing = firstIncomplete(snapshot, observation.seq);
    if (missing !== undefined) fail(`run ${run.index}: in-memory snapshot ${snapshot} while version ${missing} is not installed`);
    if (persisted !== null && persisted > snapshot) fail(`run ${run.index}: persisted ${persisted} above the in-memory snapshot ${snapshot}`);
    if (committed !== null && persisted !== null && committed > persisted) fail(`run ${run.index}: committed ${committed} above persisted ${persisted}`);
  }
}
