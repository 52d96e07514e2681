/**
 * Model-based tests of the statemap queue machine.
 *
 * The model is statemapQueueMachine's own transition function (persistent mode: every change
 * works on a copy of the StatemapQueue, so the graph can branch from any state) plus the outside
 * world's view of each version of a small fixed scenario: not yet received, ready, in flight at
 * the installer, backing off (a retry timer pending), installed (or covered by the store's
 * snapshot), failed. That view is built only from what crosses the machine's boundary: the
 * events it gets and the effects it has (jobs sent to the installer, retries scheduled, PERSIST
 * sent to the persister), so it is an independent oracle of the queue's bookkeeping, and it lets
 * the events function offer only meaningful events: results for versions really in flight,
 * RETRY_DUE for timers really pending, SNAPSHOT_PERSISTED for the write really requested, the
 * readSnapshot actor's done / error events while it runs, the delayed events of `after`.
 *
 * Every path is replayed on a real queue actor whose installer, persister and readSnapshot are
 * fakes the test drives, under a parent that records its reports, on a clock whose timers fire
 * only when the path says which. After every step: same state and context as the model, same
 * jobs / PERSIST / reports, item counts equal to the oracle's, and the invariants: the snapshot is
 * the last contiguous installed version; no version is dispatched before every version up to its
 * safepoint is installed, nor twice at once; nothing is dispatched once the queue drains;
 * persisted and reported versions only go up; retries wait their backoff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromCallback, fromPromise, setup, type AnyActorRef, type AnyStateNode, type EventObject, type SnapshotFrom } from 'xstate';
import { backoffDelay } from '../../machines/backoff.js';
import { installJob, isDeferred, statemapEntries, statemapItems, type DispatchedVersion, type Version } from '../../machines/domain.js';
import type { InstallerEvent } from '../../machines/installer.machine.js';
import type { SnapshotPersisterEvent } from '../../machines/snapshotPersister.machine.js';
import type { QueueEntry, SettledInstall } from '../../machines/statemapQueue.js';
import {
  statemapQueueMachine,
  type QueueConfig,
  type StatemapQueueEvent,
  type StatemapQueueInput,
  type StatemapQueueOutput,
  type StatemapQueueReport,
} from '../../machines/statemapQueue.machine.js';
import type { ItemStateName } from '../../machines/queueItem.lifecycle.js';
import { Coverage, ManualClock, createMachineTestModel, generatePaths, machineModel, replayPath, settle, type Effects, type ModelSnapshot, type TestPath } from '../support/model.js';

type QueueSnapshot = SnapshotFrom<typeof statemapQueueMachine>;

const baseConfig: QueueConfig = {
  statemapQueueCleanupFreqMs: 1_000,
  statemapInstallerThreadpool: 4,
  installBatchSize: 1,
  maxInstallAttempts: 2,
  installRetry: { initialDelayMs: 50, maxDelayMs: 400, multiplier: 2, jitter: 0.2 },
  snapshotRetry: { initialDelayMs: 100, maxDelayMs: 1_000, multiplier: 2, jitter: 0.2 },
  suffixCapacity: 100,
};
const random = () => 0.75;
const INSTALL_ERROR = 'deadlock detected';
const READ_ERROR = new Error('getSnapshot: connection refused');

// ── Scenarios: decided versions in batches, and which parts of the world the model exercises. ──
const entry = (version: Version, safepoint: Version | null, actions = 1): QueueEntry => ({
  version,
  safepoint,
  statemap: Array.from({ length: actions }, (_, i) => ({ TRANSFER: { i } })),
});

/** The safepoint an item really waits for (what StatemapQueue.accept makes of it). */
const waitsFor = (e: QueueEntry): Version | null => (e.safepoint === null || (!isDeferred(e.statemap) && e.statemap.length === 0) ? null : Math.min(e.safepoint, e.version - 1));

interface Scenario {
  readonly name: string;
  readonly batches: readonly (readonly QueueEntry[])[];
  readonly maxAttempts: number;
  /** Install failures (and retries, if maxAttempts > 1) and give-backs. */
  readonly failures: boolean;
  /** Load failures, the cleanup timer, snapshot refreshes, the end of upstream, failed snapshot writes. */
  readonly lifecycle: boolean;
}

/**
 * Two models of the same machine, each small enough to replay completely: one for installs
 * (dependencies, failures, retries, give-backs, drain), one for the lifecycle around them (load
 * failures, the cleanup timer, refreshes, the end of upstream, failed snapshot writes; installs
 * fail at once there, with no retry, so that failures meet refreshes without a state explosion).
 */
const scenarios: Scenario[] = [
  {
    name: 'installs',
    batches: [
      // v1 waits for nothing; v2 is an abort (no statemap: waits for nothing, still installed so the snapshot can pass it).
      [entry(1, null, 2), entry(2, null, 0)],
      // v3 must follow v1 (not v2): it may be installed before v2, but the snapshot may not pass v2.
      [entry(3, 1)],
    ],
    maxAttempts: 2,
    failures: true,
    lifecycle: false,
  },
  {
    name: 'lifecycle',
    batches: [[entry(1, null)], [entry(2, 1)]],
    maxAttempts: 1,
    failures: true,
    lifecycle: true,
  },
];

// ── Internal event types, read from the machine definition. ────────────────────────────────────
const root = statemapQueueMachine.root;
const node = (path: string) => path.split('.').reduce<AnyStateNode>((n, key) => n.states[key] as AnyStateNode, root);
const afterEvent = (path: string) => [...node(path).transitions.keys()].find((type) => type.startsWith('xstate.after.'))!;
const LOAD_ID = node('loading.reading').invoke[0]!.id;
const REFRESH_ID = node('running.refresh.reading').invoke[0]!.id;
const LOAD_DONE = `xstate.done.actor.${LOAD_ID}`;
const LOAD_ERROR = `xstate.error.actor.${LOAD_ID}`;
const REFRESH_DONE = `xstate.done.actor.${REFRESH_ID}`;
const REFRESH_ERROR = `xstate.error.actor.${REFRESH_ID}`;
const LOAD_RETRY = afterEvent('loading.backingOff');
const CLEANUP = afterEvent('running.persistence.waiting');

type ModelEvent = StatemapQueueEvent | { readonly type: string; readonly output?: Version; readonly error?: unknown };

// ── The environment: the outside world's view of every version. ───────────────────────────────
type Status = 'new' | ItemStateName;

interface QueueEnv {
  /** Index: version. */
  readonly status: readonly Status[];
  readonly attempts: readonly number[];
  /** The snapshot first read from the store; versions at or below it are never received. */
  readonly loaded: Version | null;
  /** The highest snapshot read from the store (load and refreshes). */
  readonly floor: Version;
  readonly lastAccepted: Version;
  /** Versions whose RETRY_DUE timer is pending. */
  readonly retrying: readonly Version[];
  /** The last PERSIST sent to the persister and not acknowledged. */
  readonly persistPending: Version | null;
  readonly installerDrained: boolean;
}

type State = ModelSnapshot<QueueSnapshot, QueueEnv>;

/** Everything in the queue machine's context but its inputs, with the StatemapQueue by its public view. */
function projectContext(context: QueueSnapshot['context']): object {
  const { config: _config, random: _random, persistentData: _persistent, queue, failure, ...rest } = context;
  return {
    ...rest,
    failure: failure && { version: failure.version, attempts: failure.attempts },
    queue: queue && { ...(queue.toJSON() as object), lastAccepted: queue.lastAccepted, pending: queue.pending, inflight: queue.inflight },
  };
}

function createQueueModel(scenario: Scenario) {
  const versions = scenario.batches.flat().map((e) => e.version);
  const lastVersion = Math.max(...versions);
  const entryOf = (version: Version) => scenario.batches.flat().find((e) => e.version === version)!;
  const config: QueueConfig = { ...baseConfig, maxInstallAttempts: scenario.maxAttempts };
  const input: StatemapQueueInput = { config, random, persistentData: true };

  const initialEnv: QueueEnv = {
    status: Array.from({ length: lastVersion + 1 }, () => 'new'),
    attempts: Array.from({ length: lastVersion + 1 }, () => 0),
    loaded: null,
    floor: 0,
    lastAccepted: 0,
    retrying: [],
    persistPending: null,
    installerDrained: false,
  };

  function nextEnv(env: QueueEnv, event: ModelEvent, machine: QueueSnapshot, effects: Effects, previous: QueueSnapshot): QueueEnv {
    const status = [...env.status];
    const attempts = [...env.attempts];
    let { loaded, floor, lastAccepted, retrying, persistPending, installerDrained } = env;
    const wasRunning = previous.matches('running');
    const wasDraining = previous.matches('draining');
    switch (event.type) {
      case LOAD_DONE:
        loaded = floor = lastAccepted = (event as { output: Version }).output;
        break;
      case REFRESH_DONE: {
        const read = (event as { output: Version }).output;
        if (read > floor) {
          floor = read;
          for (let v = 1; v <= Math.min(read, lastAccepted); v++) if (status[v] === 'awaiting.ready' || status[v] === 'awaiting.backingOff') status[v] = 'installed';
        }
        break;
      }
      case 'STATEMAPS':
        if (!wasRunning) break;
        for (const e of (event as { entries: readonly QueueEntry[] }).entries) {
          if (e.version <= lastAccepted) continue;
          lastAccepted = e.version;
          status[e.version] = e.version <= floor ? 'installed' : 'awaiting.ready';
        }
        break;
      case 'INSTALL_RESULTS':
        if (!wasRunning && !wasDraining) break;
        for (const outcome of (event as { outcomes: readonly SettledInstall[] }).outcomes) {
          assert.equal(status[outcome.version], 'inflight', `results only for versions in flight (${outcome.version})`);
          if (outcome.ok) status[outcome.version] = 'installed';
          else {
            attempts[outcome.version] = attempts[outcome.version]! + 1;
            // A failure of a version the store's snapshot already covers does not matter.
            if (outcome.version <= floor) status[outcome.version] = 'installed';
            else status[outcome.version] = attempts[outcome.version]! < scenario.maxAttempts ? 'awaiting.backingOff' : 'failed';
          }
        }
        break;
      case 'INSTALLS_CANCELLED':
        if (!wasRunning && !wasDraining) break;
        for (const version of (event as { versions: readonly Version[] }).versions) status[version] = 'awaiting.ready';
        break;
      case 'RETRY_DUE': {
        const { version } = event as { version: Version };
        retrying = retrying.filter((v) => v !== version);
        if (wasRunning && status[version] === 'awaiting.backingOff') status[version] = 'awaiting.ready';
        break;
      }
      case 'SNAPSHOT_PERSISTED':
        if ((event as { version: Version }).version === persistPending) persistPending = null;
        break;
    }
    for (const sent of effects.toChildren) {
      const sentEvent = sent.event as InstallerEvent | SnapshotPersisterEvent;
      if (sent.to === 'installer' && sentEvent.type === 'INSTALL') {
        for (const job of sentEvent.jobs) {
          assert.equal(status[job.version], 'awaiting.ready', `only ready versions are dispatched (${job.version})`);
          status[job.version] = 'inflight';
        }
      } else if (sent.to === 'installer' && sentEvent.type === 'DRAIN') {
        installerDrained = true;
      } else if (sent.to === 'persister' && sentEvent.type === 'PERSIST') {
        persistPending = sentEvent.version;
      } else {
        assert.fail(`unexpected ${sentEvent.type} to ${sent.to}`);
      }
    }
    for (const delayed of effects.delayed) {
      if (delayed.event.type === 'RETRY_DUE') retrying = [...retrying, (delayed.event as unknown as { version: Version }).version].sort((a, b) => a - b);
    }
    // A machine that is done is stopped, and the actor system cancels its timers.
    if (machine.status === 'done') retrying = [];
    return { status, attempts, loaded, floor, lastAccepted, retrying, persistPending, installerDrained };
  }

  /**
   * What the oracle says the in-memory snapshot is: the last version such that it and every
   * version received before it is installed; or the store's (refreshed) snapshot, once no version
   * at or below it is still pending.
   */
  function oracleSnapshot(env: QueueEnv): Version | null {
    if (env.loaded === null) return null;
    let snapshot = env.loaded;
    let firstPending: Version = Infinity;
    for (const v of versions) {
      if (v <= env.loaded || v > env.lastAccepted) continue;
      if (env.status[v] !== 'installed') {
        firstPending = v;
        break;
      }
      snapshot = v;
    }
    return firstPending > env.floor ? Math.max(snapshot, env.floor) : snapshot;
  }

  const installed = (env: QueueEnv, version: Version) => version <= (env.loaded ?? 0) || env.status[version] === 'installed';

  const logic = machineModel(statemapQueueMachine, input, { initial: () => initialEnv, next: nextEnv });

  const serialize = (state: State) => JSON.stringify([state.machine.value, projectContext(state.machine.context), state.env]);

  const settled = (list: readonly Version[], failed: ReadonlySet<Version>): ModelEvent => ({
    type: 'INSTALL_RESULTS',
    outcomes: list.map((version) => (failed.has(version) ? { version, ok: false, error: INSTALL_ERROR } : { version, ok: true })),
  });

  function events(state: State): ModelEvent[] {
    const { machine, env } = state;
    const out: ModelEvent[] = [];
    const inflight = versions.filter((v) => env.status[v] === 'inflight');
    const allReceived = env.lastAccepted === lastVersion;
    if (machine.matches({ loading: 'reading' })) {
      out.push({ type: LOAD_DONE, output: 0 });
      if (scenario.lifecycle && machine.context.loadAttempts < 1) out.push({ type: LOAD_ERROR, error: READ_ERROR });
    }
    if (machine.matches({ loading: 'backingOff' })) out.push({ type: LOAD_RETRY });
    if (machine.matches('running')) {
      const snapshot = machine.context.queue!.snapshot;
      const next = scenario.batches.find((batch) => batch[0]!.version > env.lastAccepted);
      if (next) out.push({ type: 'STATEMAPS', entries: next });
      // A redelivered batch: ignored.
      if (env.lastAccepted >= scenario.batches[0]![0]!.version && env.lastAccepted < lastVersion) out.push({ type: 'STATEMAPS', entries: scenario.batches[0]! });
      if (scenario.lifecycle) {
        // The cleanup tick, where it can do something (and once while nothing is installed).
        if (snapshot > (machine.context.persistRequested ?? -1) || env.lastAccepted === 0) out.push({ type: CLEANUP });
        if (machine.matches({ running: { refresh: 'idle' } })) out.push({ type: 'REFRESH_SNAPSHOT' });
        if (machine.matches({ running: { refresh: 'reading' } })) {
          out.push({ type: REFRESH_DONE, output: snapshot }, { type: REFRESH_ERROR, error: READ_ERROR });
          if (env.lastAccepted > snapshot) out.push({ type: REFRESH_DONE, output: env.lastAccepted });
        }
      }
    }
    if (machine.matches('running') || machine.matches('draining')) {
      for (const version of inflight) {
        out.push(settled([version], new Set()));
        if (scenario.failures && env.attempts[version]! < scenario.maxAttempts) out.push(settled([version], new Set([version])));
      }
      if (inflight.length > 1) {
        out.push(settled(inflight, new Set()));
        if (scenario.failures) out.push(settled(inflight, new Set([inflight[0]!])), settled(inflight, new Set([inflight[inflight.length - 1]!])));
      }
      // The installer gives back what it did not start: today only once drained (in running only to cover that transition).
      if (scenario.failures && inflight.length > 0 && (env.installerDrained || inflight.length === 1)) out.push({ type: 'INSTALLS_CANCELLED', versions: [inflight[inflight.length - 1]!] });
    }
    for (const version of env.retrying) out.push({ type: 'RETRY_DUE', version });
    if (env.persistPending !== null) {
      out.push({ type: 'SNAPSHOT_PERSISTED', version: env.persistPending });
      if (scenario.lifecycle) out.push({ type: 'SNAPSHOT_WRITE_FAILED', version: env.persistPending, attempts: 1, error: 'timeout' });
    }
    // The source ends after the last batch (or before anything is loaded).
    if (scenario.lifecycle && !machine.context.upstreamEnded && (allReceived || machine.matches('loading'))) out.push({ type: 'UPSTREAM_ENDED' });
    out.push({ type: 'DRAIN' });
    return out;
  }

  const model = createMachineTestModel(logic, {
    serialize,
    events,
    distinguishEffects: false,
    // One vertex per state, except that events which change nothing visible keep their own vertex (so they are taken too).
    via: (type) => (['SNAPSHOT_WRITE_FAILED', 'STATEMAPS', 'INSTALLS_CANCELLED', CLEANUP, REFRESH_ERROR].includes(type) ? type : ''),
  });
  return { scenario, versions, config, input, entryOf, logic, model, serialize, oracleSnapshot, installed };
}

type QueueModel = ReturnType<typeof createQueueModel>;

// ── The real queue, with fakes. ────────────────────────────────────────────────────────────────
interface Records {
  reads: { resolve: (version: Version) => void; reject: (error: unknown) => void; settled: boolean }[];
  installer: { sendBack: ((event: EventObject) => void) | null; received: InstallerEvent[] };
  persister: { sendBack: ((event: EventObject) => void) | null; received: SnapshotPersisterEvent[] };
  reports: EventObject[];
}

function createRealQueues(input: StatemapQueueInput, coverage: Coverage) {
  let current: Records | null = null;
  const queue = statemapQueueMachine.provide({
    actors: {
      readSnapshot: fromPromise<Version, void>(
        () => new Promise<Version>((resolve, reject) => void current!.reads.push({ resolve, reject, settled: false })),
      ),
      installer: fromCallback(({ sendBack, receive }) => {
        current!.installer.sendBack = sendBack;
        receive((event) => void current!.installer.received.push(event as InstallerEvent));
      }) as never,
      persister: fromCallback(({ sendBack, receive }) => {
        current!.persister.sendBack = sendBack;
        receive((event) => void current!.persister.received.push(event as SnapshotPersisterEvent));
      }) as never,
    },
  });
  const parent = setup({ actors: { queue } }).createMachine({
    invoke: { id: 'queue', src: 'queue', input },
    on: { '*': { actions: ({ event }: { event: EventObject }) => void current!.reports.push(event) } },
  });
  return () => {
    const records: Records = { reads: [], installer: { sendBack: null, received: [] }, persister: { sendBack: null, received: [] }, reports: [] };
    current = records;
    const clock = new ManualClock();
    const actor = createActor(parent, { clock, inspect: coverage.inspect });
    clock.system = actor.system;
    return { actor, clock, ...records, queue: () => actor.getSnapshot().children.queue as AnyActorRef | undefined };
  };
}

const coverage = new Coverage(statemapQueueMachine);
/** Paths on which jobs go to the installer in the very step the queue starts draining (checked by the test below). */
const dispatchedWhenDraining: string[] = [];
/** Paths on which the queue fails on a version the store's (refreshed) snapshot already covers (checked by the test below). */
const failedUnderStoreSnapshot: string[] = [];

function replayOn(m: QueueModel, createReal: ReturnType<typeof createRealQueues>, path: TestPath<State, ModelEvent>) {
  const { config, versions, entryOf, logic, serialize, oracleSnapshot, installed } = m;
  const real = createReal();
  let lastQueueSnapshot: QueueSnapshot | null = null;
  let seen = { jobs: 0, persists: 0, reports: 0 };
  let lastProgress = -1;
  let lastPersistRequest = -1;
  let drainingReported = 0;
  let lastReported = -1;
  /** Versions the fake installer holds: dispatched, not yet reported back. */
  const realInflight = new Set<Version>();
  const pendingRead = () => {
    const pending = real.reads.filter((read) => !read.settled);
    assert.equal(pending.length, 1, 'one readSnapshot runs');
    pending[0]!.settled = true;
    return pending[0]!;
  };
  return replayPath(logic, path, serialize, {
    start: () => void real.actor.start(),
    exec: async (event, _expected, previous) => {
      const context = previous.machine.context;
      switch (event.type) {
        case LOAD_DONE:
        case REFRESH_DONE:
          pendingRead().resolve((event as { output: Version }).output);
          break;
        case LOAD_ERROR:
        case REFRESH_ERROR:
          pendingRead().reject(READ_ERROR);
          break;
        case LOAD_RETRY: {
          const delay = real.clock.fire((e) => e?.type === LOAD_RETRY);
          assert.equal(delay, backoffDelay(config.snapshotRetry, context.loadAttempts, random));
          break;
        }
        case CLEANUP:
          assert.equal(real.clock.fire((e) => e?.type === CLEANUP), config.statemapQueueCleanupFreqMs);
          break;
        case 'RETRY_DUE': {
          const { version } = event as { version: Version };
          const delay = real.clock.fire((e) => e?.type === 'RETRY_DUE' && (e as unknown as { version: Version }).version === version);
          assert.equal(delay, backoffDelay(config.installRetry, previous.env.attempts[version]!, random), `backoff of ${version}`);
          break;
        }
        case 'INSTALL_RESULTS':
          for (const outcome of (event as { outcomes: readonly SettledInstall[] }).outcomes) assert.ok(realInflight.delete(outcome.version));
          real.installer.sendBack!(event);
          break;
        case 'INSTALLS_CANCELLED':
          for (const version of (event as { versions: readonly Version[] }).versions) assert.ok(realInflight.delete(version));
          real.installer.sendBack!(event);
          break;
        case 'SNAPSHOT_PERSISTED':
        case 'SNAPSHOT_WRITE_FAILED':
          real.persister.sendBack!(event);
          break;
        default:
          real.queue()!.send(event);
      }
      await settle();
    },
    check: (expected, previous, event) => {
      const child = real.queue();
      const snapshot = (child ? child.getSnapshot() : lastQueueSnapshot) as QueueSnapshot;
      lastQueueSnapshot = snapshot;
      const { context } = snapshot;
      const { env } = expected;
      // Same state and context as the model.
      assert.deepEqual(snapshot.value, expected.machine.value);
      assert.deepEqual(projectContext(context), projectContext(expected.machine.context));

      // Same effects as the model.
      const jobsSent = real.installer.received.slice(seen.jobs);
      const persistsSent = real.persister.received.slice(seen.persists);
      const reports = real.reports.slice(seen.reports);
      seen = { jobs: real.installer.received.length, persists: real.persister.received.length, reports: real.reports.length };
      assert.deepEqual(jobsSent, expected.effects.toChildren.filter((s) => s.to === 'installer').map((s) => s.event));
      assert.deepEqual(persistsSent, expected.effects.toChildren.filter((s) => s.to === 'persister').map((s) => s.event));
      const queueReports = reports.filter((r) => r.type.startsWith('QUEUE.')) as StatemapQueueReport[];
      assert.deepEqual(queueReports, expected.effects.toParent);

      const queue = context.queue;
      if (queue) {
        // The oracle's item counts.
        const counts = Object.fromEntries(Object.keys(queue.counts()).map((name) => [name, 0])) as Record<string, number>;
        for (const v of versions) if (v > queue.snapshot && v <= env.lastAccepted && env.status[v] !== 'new') counts[env.status[v]!]! += 1;
        assert.deepEqual(queue.counts(), counts, 'item counts match the versions the oracle tracks');
        // The snapshot is the last contiguous installed version.
        assert.equal(queue.snapshot, oracleSnapshot(env), 'snapshot = last contiguous installed version');
      } else {
        assert.equal(env.loaded, null);
      }

      // Dispatch: only versions whose safepoint is installed; never one already in flight; never once draining.
      const jobs: DispatchedVersion[] = jobsSent.flatMap((sent) => (sent.type === 'INSTALL' ? [...sent.jobs] : []));
      for (const job of jobs) {
        const waits = waitsFor(entryOf(job.version));
        for (const v of versions) {
          if (waits !== null && v <= waits) assert.ok(installed(env, v), `version ${job.version} dispatched before ${v} (its safepoint is ${waits}) was installed`);
        }
        assert.ok(!realInflight.has(job.version), `version ${job.version} dispatched while in flight`);
        realInflight.add(job.version);
        const sent = entryOf(job.version);
        assert.deepEqual(installJob(job).statemaps, statemapItems(statemapEntries(sent.statemap, sent.version), sent.version, sent.safepoint));
      }
      if (jobs.length > 0 && !snapshot.matches('running')) dispatchedWhenDraining.push(`${path.description} (${JSON.stringify(event)})`);
      if (context.failure && !previous?.machine.context.failure && context.failure.version <= env.floor) failedUnderStoreSnapshot.push(path.description);
      if (previous && !previous.machine.matches('running') && !previous.machine.matches('loading')) assert.equal(jobs.length, 0, 'nothing is dispatched once draining');

      // Progress and persistence only move up; the parent hears of a snapshot before it hears it was persisted.
      for (const report of queueReports) {
        switch (report.type) {
          case 'QUEUE.READY':
            assert.equal(event?.type, LOAD_DONE);
            lastProgress = report.snapshot;
            break;
          case 'QUEUE.PROGRESS':
            // (The loaded snapshot may be reported again as progress once: `reported` starts null, not at it.)
            assert.ok(report.snapshot > lastReported && report.snapshot >= lastProgress, 'progress only goes up');
            lastProgress = lastReported = report.snapshot;
            break;
          case 'QUEUE.PERSISTED':
            assert.equal(event?.type, 'SNAPSHOT_PERSISTED');
            assert.ok(report.version <= lastProgress, `persisted ${report.version} reported before progress to it (${lastProgress})`);
            break;
          case 'QUEUE.DRAINING':
            assert.ok((previous?.machine.matches('running') || previous?.machine.matches('loading')) && !snapshot.matches('running'), 'DRAINING when running ends');
            drainingReported += 1;
            break;
        }
      }
      if (queue) assert.ok(lastProgress <= queue.snapshot, 'progress never runs ahead of the snapshot');
      assert.equal(drainingReported, queue && !snapshot.matches('running') ? 1 : 0, 'the parent hears once that the queue drains');
      for (const persist of persistsSent) {
        assert.ok(persist.version > lastPersistRequest && persist.version > (context.persisted ?? -1), 'PERSIST only for a higher version');
        assert.ok(queue && persist.version <= queue.snapshot, 'only an installed snapshot is persisted');
        lastPersistRequest = persist.version;
      }
      // Pending retry timers: those the oracle expects, each with its backoff.
      const retryTimers = real.clock.pending().filter((timer) => timer.event?.type === 'RETRY_DUE');
      assert.deepEqual(retryTimers.map((timer) => (timer.event as unknown as { version: Version }).version).sort(), [...env.retrying]);
      for (const timer of retryTimers) {
        const { version } = timer.event as unknown as { version: Version };
        assert.equal(timer.delay, backoffDelay(config.installRetry, env.attempts[version]!, random));
      }
      // The end: the output, the installer drained, nothing in flight, the last snapshot persisted.
      const done = real.reports.find((r) => r.type.startsWith('xstate.done.actor.')) as { output: StatemapQueueOutput } | undefined;
      if (snapshot.status === 'done') {
        assert.ok(done, 'the parent learns the queue is done');
        assert.deepEqual(done.output, expected.machine.output);
        if (queue) {
          assert.equal(lastProgress, queue.snapshot, 'the parent heard of the final snapshot');
          assert.ok(env.installerDrained);
          assert.equal(env.status.filter((s) => s === 'inflight').length, 0, 'no install in flight at the end');
          assert.ok(context.persisted !== null && context.persisted >= queue.snapshot, 'the final snapshot is persisted');
        }
      } else {
        assert.equal(done, undefined);
      }
      if (snapshot.matches('draining') || snapshot.matches('flushing')) assert.ok(env.installerDrained, 'the installer is drained');
    },
    stop: () => real.actor.stop(),
  });
}

for (const scenario of scenarios) {
  test(`statemap queue (${scenario.name}): a path to every state of the model replays on the real queue`, async (t) => {
    const m = createQueueModel(scenario);
    const { paths, vertices, edges, steps } = generatePaths(m.model, 'states');
    t.diagnostic(`model: ${vertices} vertices, ${edges} edges; replayed ${paths.length} paths, ${steps} steps`);
    const createReal = createRealQueues(m.input, coverage);
    for (const path of paths) await replayOn(m, createReal, path);
  });
}

test(
  'statemap queue: nothing is dispatched in the step that makes the queue drain',
  async (t) => {
    t.diagnostic(`the model-based run found ${dispatchedWhenDraining.length} such steps, e.g. ${[...dispatchedWhenDraining].sort((a, b) => a.length - b.length)[0]}`);
    // Minimal reproduction: maxInstallAttempts 1; v1 and v2 in flight, v3 waits for v1; one batch says v1 ok, v2 failed.
    const input: StatemapQueueInput = { config: { ...baseConfig, maxInstallAttempts: 1 }, random };
    const real = createRealQueues(input, new Coverage(statemapQueueMachine))();
    real.actor.start();
    real.reads[0]!.resolve(0);
    await settle();
    real.queue()!.send({ type: 'STATEMAPS', entries: [entry(1, null), entry(2, null), entry(3, 1)] });
    real.installer.sendBack!({ type: 'INSTALL_RESULTS', outcomes: [{ version: 1, ok: true }, { version: 2, ok: false, error: INSTALL_ERROR }] } as EventObject);
    await settle();
    const sent = real.installer.received.map((event) => (event.type === 'INSTALL' ? `INSTALL ${event.jobs.map((job) => job.version)}` : event.type));
    real.actor.stop();
    assert.deepEqual(sent, ['INSTALL 1,2', 'DRAIN'], 'after v2 ran out of attempts, v3 should not be handed to the installer');
  },
);

test(
  'statemap queue: a version covered by a refreshed snapshot never makes the replicator fail',
  async (t) => {
    t.diagnostic(`the model-based run found ${failedUnderStoreSnapshot.length} such paths, e.g. ${[...failedUnderStoreSnapshot].sort((a, b) => a.length - b.length)[0]}`);
    // Minimal reproduction: maxInstallAttempts 1; v1 in flight; the store says 1 is installed; then v1's install fails.
    const input: StatemapQueueInput = { config: { ...baseConfig, maxInstallAttempts: 1 }, random };
    const real = createRealQueues(input, new Coverage(statemapQueueMachine))();
    real.actor.start();
    real.reads[0]!.resolve(0);
    await settle();
    real.queue()!.send({ type: 'STATEMAPS', entries: [entry(1, null)] });
    real.queue()!.send({ type: 'REFRESH_SNAPSHOT' });
    await settle();
    real.reads[1]!.resolve(1);
    await settle();
    real.installer.sendBack!({ type: 'INSTALL_RESULTS', outcomes: [{ version: 1, ok: false, error: INSTALL_ERROR }] } as EventObject);
    await settle();
    const context = (real.queue()?.getSnapshot() as QueueSnapshot | undefined)?.context;
    const done = real.reports.find((r) => r.type.startsWith('xstate.done.actor.')) as { output: StatemapQueueOutput } | undefined;
    real.actor.stop();
    assert.equal(done?.output.failure ?? context?.failure ?? null, null, 'version 1 is installed according to the store');
  },
);

test('statemap queue: the generated paths reach every state and take every transition', (t) => {
  t.diagnostic(coverage.summary());
  assert.deepEqual(coverage.missing(), { states: [], transitions: [] });
  assert.equal(coverage.states.size, 13);
  assert.equal(coverage.transitions.size, 22);
});
