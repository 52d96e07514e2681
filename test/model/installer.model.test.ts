/**
 * Model-based tests of the installer machine.
 *
 * The model is installerMachine's own transition function (persistent mode, so that the graph
 * can branch from any state without two branches sharing a backlog) plus the pool as the outside
 * world sees it: which calls it was asked to run and has not settled. Events are generated from
 * that state: INSTALL of the next one or two versions, POOL.SETTLED for calls the pool really
 * runs (oldest first, newest first, several at once, ok or failed), DRAIN.
 *
 * Every shortest path (one per state and incoming event) is replayed on a real installer,
 * invoked by a tiny parent that records what it receives, with a fake `installPool` that records
 * RUN and settles calls when the path says so. After every step: the real state and context equal
 * the model's, the pool received exactly the calls the model sent, the parent exactly the reports,
 * and the invariants hold (running <= concurrency, no job lost or run twice, nothing started after
 * DRAIN, a full pool whenever jobs wait).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromCallback, setup, type AnyActorRef, type EventObject, type SnapshotFrom } from 'xstate';
import type { DispatchedVersion } from '../../machines/domain.js';
import { callsOf, installerMachine, type InstallerEvent, type InstallerInput, type InstallerReport, type PoolEvent } from '../../machines/installer.machine.js';
import type { SettledInstall } from '../../machines/statemapQueue.js';
import { Coverage, createMachineTestModel, generatePaths, machineModel, replayPath, settle, type ModelSnapshot } from '../support/model.js';

type InstallerSnapshot = SnapshotFrom<typeof installerMachine>;

interface PoolEnv {
  /** The next version to hand in. */
  readonly nextVersion: number;
  /** Versions of each call the pool was asked to run and has not settled, oldest first. */
  readonly running: readonly (readonly number[])[];
}

type State = ModelSnapshot<InstallerSnapshot, PoolEnv>;

const job = (version: number): DispatchedVersion => ({ version, safepoint: null, statemap: [{ PUT: { v: version } }] });

function settled(calls: readonly (readonly number[])[], ok: boolean): InstallerEvent {
  const outcomes: SettledInstall[] = calls.flat().map((version) => (ok ? { version, ok: true } : { version, ok: false, error: `failed ${version}` }));
  return { type: 'POOL.SETTLED', calls: calls.length, outcomes };
}

function createInstallerModel(input: InstallerInput, lastVersion: number) {
  const logic = machineModel(installerMachine, input, {
    initial: (): PoolEnv => ({ nextVersion: 1, running: [] }),
    next: (env, event: InstallerEvent, _machine, effects): PoolEnv => {
      let { nextVersion, running } = env;
      if (event.type === 'INSTALL') nextVersion = Math.max(nextVersion, ...event.jobs.map((j) => j.version + 1));
      if (event.type === 'POOL.SETTLED') {
        const done = new Set(event.outcomes.map((outcome) => outcome.version));
        running = running.filter((call) => !call.some((version) => done.has(version)));
      }
      for (const sent of effects.toChildren) {
        assert.equal(sent.to, 'pool');
        running = [...running, ...callsOf(sent.event as PoolEvent).map((call) => call.map((j) => j.version))];
      }
      return { nextVersion, running };
    },
  });
  const serialize = (state: State) => {
    const { value, context } = state.machine;
    return JSON.stringify([value, context.running, [...context.backlog].map((j) => j.version), state.env]);
  };
  const model = createMachineTestModel(logic, {
    serialize,
    events: (state) => {
      const { nextVersion: v, running } = state.env;
      const events: InstallerEvent[] = [];
      if (v <= lastVersion) events.push({ type: 'INSTALL', jobs: [job(v)] });
      if (v + 1 <= lastVersion) events.push({ type: 'INSTALL', jobs: [job(v), job(v + 1)] });
      if (running.length > 0) {
        events.push(settled([running[0]!], true), settled([running[0]!], false));
        if (running.length > 1) events.push(settled([running[running.length - 1]!], true), settled(running, true));
      }
      events.push({ type: 'DRAIN' });
      return events;
    },
  });
  return { logic, model, serialize };
}

interface FakePool {
  input: unknown;
  sendBack: ((event: InstallerEvent) => void) | null;
  /** Every RUN the pool received. */
  runs: PoolEvent[];
  /** Versions of the calls it runs and has not settled. */
  running: number[][];
  started: number;
}

/**
 * A real installer under a recording parent, with a fake pool. The machines are built once per
 * configuration; each run gets fresh records through `current`.
 */
function createRealInstallers(input: InstallerInput, coverage: Coverage) {
  let current: { pool: FakePool; received: InstallerReport[] } | null = null;
  const installer = installerMachine.provide({
    actors: {
      installPool: fromCallback<PoolEvent, { readonly batchSize: number }>(({ sendBack, receive, input: poolInput }) => {
        const pool = current!.pool;
        pool.input = poolInput;
        pool.sendBack = sendBack as (event: InstallerEvent) => void;
        pool.started += 1;
        receive((event) => {
          pool.runs.push(event);
          for (const call of callsOf(event)) pool.running.push(call.map((j) => j.version));
        });
      }),
    },
  });
  const parent = setup({ actors: { installer } }).createMachine({
    invoke: { id: 'installer', src: 'installer', input },
    on: { '*': { actions: ({ event }: { event: EventObject }) => void current!.received.push(event as InstallerReport) } },
  });
  return () => {
    const records = { pool: { input: null, sendBack: null, runs: [], running: [], started: 0 } as FakePool, received: [] as InstallerReport[] };
    current = records;
    const actor = createActor(parent, { inspect: coverage.inspect });
    return { actor, ...records, installer: () => actor.getSnapshot().children.installer as AnyActorRef };
  };
}

/** Small configurations get a path for every transition of the model; the larger one a path to every state (to stay fast). */
const configs: { input: InstallerInput; lastVersion: number; coverage: 'transitions' | 'states' }[] = [
  { input: { concurrency: 2, batchSize: 1, persistentData: true }, lastVersion: 4, coverage: 'transitions' },
  { input: { concurrency: 1, batchSize: 2, persistentData: true }, lastVersion: 4, coverage: 'transitions' },
  { input: { concurrency: 3, batchSize: 2, persistentData: true }, lastVersion: 4, coverage: 'states' },
];

const coverage = new Coverage(installerMachine);

for (const { input, lastVersion, coverage: kind } of configs) {
  test(`installer (concurrency ${input.concurrency}, batch ${input.batchSize}): a path to every ${kind === 'states' ? 'state' : 'transition'} of the model replays on the real installer`, async (t) => {
    const { logic, model, serialize } = createInstallerModel(input, lastVersion);
    const { paths, vertices, edges, steps } = generatePaths(model, kind);
    t.diagnostic(`model: ${vertices} vertices, ${edges} edges; replayed ${paths.length} paths, ${steps} steps`);
    const createRealInstaller = createRealInstallers(input, coverage);
    for (const path of paths) {
      const real = createRealInstaller();
      // What the real system did so far, for the invariants that span the whole run.
      let handedIn: number[] = [];
      let cancelled: number[] = [];
      let ranVersions: number[] = [];
      let runsSeen = 0;
      let reportsSeen = 0;
      let drainedAt: number | null = null;
      await replayPath(logic, path, serialize, {
        start: () => void real.actor.start(),
        exec: async (event) => {
          if (event.type === 'POOL.SETTLED') {
            // The pool reports calls it really runs.
            const done = new Set(event.outcomes.map((outcome) => outcome.version));
            const finished = real.pool.running.filter((call) => call.some((version) => done.has(version)));
            assert.equal(finished.length, event.calls, 'the pool settles calls it runs');
            assert.deepEqual(finished.flat().sort(), [...done].sort(), 'every version of a settled call has an outcome');
            real.pool.running = real.pool.running.filter((call) => !finished.includes(call));
            real.pool.sendBack!(event);
          } else {
            if (event.type === 'INSTALL') handedIn = [...handedIn, ...event.jobs.map((j) => j.version)];
            if (event.type === 'DRAIN' && drainedAt === null) drainedAt = real.pool.runs.length;
            real.installer().send(event);
          }
          await settle();
        },
        check: (expected, _previous, event) => {
          const snapshot = real.installer().getSnapshot() as InstallerSnapshot;
          const { context } = snapshot;
          // Same state as the model.
          assert.deepEqual(snapshot.value, expected.machine.value);
          assert.equal(context.running, expected.machine.context.running);
          assert.deepEqual([...context.backlog].map((j) => j.version), [...expected.machine.context.backlog].map((j) => j.version));
          // Same effects as the model: the calls the pool received, the reports the parent received.
          const newRuns = real.pool.runs.slice(runsSeen);
          runsSeen = real.pool.runs.length;
          assert.deepEqual(newRuns, expected.effects.toChildren.map((sent) => sent.event));
          const newReports = real.received.slice(reportsSeen);
          reportsSeen = real.received.length;
          assert.deepEqual(newReports, expected.effects.toParent);
          // Invariants.
          assert.equal(real.pool.started, 1, 'one pool for the life of the installer');
          assert.deepEqual(real.pool.input, { batchSize: input.batchSize });
          assert.ok(context.running >= 0 && context.running <= input.concurrency, `running ${context.running} <= ${input.concurrency}`);
          assert.equal(context.running, real.pool.running.length, 'running counts the calls the pool has not settled');
          for (const run of newRuns) {
            assert.equal(run.batchSize, input.batchSize);
            for (const call of callsOf(run)) {
              assert.ok(call.length >= 1 && call.length <= input.batchSize);
              ranVersions = [...ranVersions, ...call.map((j) => j.version)];
            }
          }
          assert.ok(drainedAt === null || real.pool.runs.length === drainedAt, 'nothing starts after DRAIN');
          for (const report of newReports) {
            if (report.type === 'INSTALLS_CANCELLED') cancelled = [...cancelled, ...report.versions];
          }
          if (event?.type === 'POOL.SETTLED') {
            assert.deepEqual(newReports.filter((r) => r.type === 'INSTALL_RESULTS'), [{ type: 'INSTALL_RESULTS', outcomes: event.outcomes }]);
          } else {
            assert.equal(newReports.filter((r) => r.type === 'INSTALL_RESULTS').length, 0, 'results only come from the pool');
          }
          const backlog = [...context.backlog].map((j) => j.version);
          // Every version handed in is run, given back or waiting, exactly once, in version (arrival) order.
          assert.deepEqual([...ranVersions].sort((a, b) => a - b), ranVersions, 'calls start in arrival order');
          assert.deepEqual([...ranVersions, ...cancelled, ...backlog].sort((a, b) => a - b), [...handedIn].sort((a, b) => a - b));
          if (snapshot.value === 'accepting') {
            assert.ok(backlog.length === 0 || context.running === input.concurrency, 'jobs wait only while the pool is full');
          } else {
            assert.deepEqual(backlog, [], 'a draining installer keeps no backlog');
          }
        },
        stop: () => real.actor.stop(),
      });
    }
  });
}

test('installer: the generated paths reach every state and take every transition', (t) => {
  t.diagnostic(coverage.summary());
  assert.deepEqual(coverage.missing(), { states: [], transitions: [] });
  assert.equal(coverage.states.size, 3);
  assert.equal(coverage.transitions.size, 5);
});
