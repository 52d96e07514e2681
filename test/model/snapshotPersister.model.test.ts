/**
 * Model-based tests of the snapshot persister.
 *
 * The model is the persister's own transition function plus the one thing the outside world
 * knows and the context does not: which version the write in flight is for (read from the
 * `writeSnapshot` child the machine spawns). Events: PERSIST of versions 1..3 in any order
 * (increasing, decreasing, repeated), and, as the graph cannot run actors, the internal events
 * the real actors would produce: the write's done / error events (`xstate.done.actor.*`,
 * `xstate.error.actor.*`) and the backoff's delayed event (`xstate.after.*`).
 *
 * Every shortest path is replayed on a real persister (under a parent that records its reports)
 * whose `writeSnapshot` is a promise the test settles when the path says so, on XState's
 * SimulatedClock: the backoff retry fires when the clock reaches the computed delay, not a
 * millisecond earlier. After every step: same state and context as the model, same writes
 * started and reports sent, and the invariants (never two writes in flight; never a version at
 * or below the last written one; the next write is for the latest version requested; idle only
 * once everything requested is written; SNAPSHOT_PERSISTED for every write, in order).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor, fromPromise, setup, type AnyActorRef, type AnyStateNode, type EventObject, type SnapshotFrom } from 'xstate';
import { backoffDelay, type BackoffPolicy } from '../../machines/backoff.js';
import type { Version } from '../../machines/domain.js';
import {
  snapshotPersisterMachine,
  type SnapshotPersisterEvent,
  type SnapshotPersisterInput,
  type SnapshotPersisterReport,
} from '../../machines/snapshotPersister.machine.js';
import { Coverage, createMachineTestModel, generatePaths, machineModel, replayPath, settle, type ModelSnapshot } from '../support/model.js';

type PersisterSnapshot = SnapshotFrom<typeof snapshotPersisterMachine>;

const retry: BackoffPolicy = { initialDelayMs: 100, maxDelayMs: 250, multiplier: 2, jitter: 0.5 };
const random = () => 0.25;
const input: SnapshotPersisterInput = { retry, random };
const WRITE_ERROR = new Error('cohort_snapshot: connection reset');
/** Failed attempts in a row the model explores (each one longer backoff, up to the cap). */
const MAX_FAILURES = 3;

// The internal event types, read from the machine definition (XState names invocations by their state).
const writing = snapshotPersisterMachine.root.states.writing as AnyStateNode;
const backingOff = snapshotPersisterMachine.root.states.backingOff as AnyStateNode;
const WRITE_ID = writing.invoke[0]!.id;
const WRITE_DONE = `xstate.done.actor.${WRITE_ID}`;
const WRITE_ERROR_EVENT = `xstate.error.actor.${WRITE_ID}`;
const RETRY_DUE = [...backingOff.transitions.keys()].find((type) => type.startsWith('xstate.after.'))!;

type ModelEvent =
  | SnapshotPersisterEvent
  | { readonly type: typeof WRITE_DONE; readonly output: Version }
  | { readonly type: typeof WRITE_ERROR_EVENT; readonly error: unknown }
  | { readonly type: typeof RETRY_DUE };

interface WriteEnv {
  /** The version of the write in flight, as the writeSnapshot actor got it. */
  readonly inflight: Version | null;
}

type State = ModelSnapshot<PersisterSnapshot, WriteEnv>;

const logic = machineModel(snapshotPersisterMachine, input, {
  initial: (): WriteEnv => ({ inflight: null }),
  next: (env, _event: ModelEvent, machine, effects): WriteEnv => {
    const started = effects.spawned.filter((child) => child.src === 'writeSnapshot');
    assert.ok(started.length <= 1);
    if (started.length === 1) return { inflight: (started[0]!.input as { version: Version }).version };
    return { inflight: machine.value === 'writing' ? env.inflight : null };
  },
});

const serialize = (state: State) => {
  const { value, context } = state.machine;
  return JSON.stringify([value, context.persisted, context.requested, context.attempts, state.env.inflight]);
};

const model = createMachineTestModel(logic, {
  serialize,
  events: (state) => {
    const events: ModelEvent[] = [1, 2, 3].map((version) => ({ type: 'PERSIST', version }) as const);
    const { inflight } = state.env;
    if (inflight !== null) {
      events.push({ type: WRITE_DONE, output: inflight });
      if (state.machine.context.attempts < MAX_FAILURES) events.push({ type: WRITE_ERROR_EVENT, error: WRITE_ERROR });
    }
    if (state.machine.value === 'backingOff') events.push({ type: RETRY_DUE });
    return events;
  },
});

interface Write {
  readonly version: Version;
  readonly resolve: (version: Version) => void;
  readonly reject: (error: unknown) => void;
  settled: boolean;
}

function createRealPersister(coverage: Coverage) {
  const writes: Write[] = [];
  const persister = snapshotPersisterMachine.provide({
    actors: {
      writeSnapshot: fromPromise<Version, { readonly version: Version }>(
        ({ input: writeInput }) =>
          new Promise<Version>((resolve, reject) => {
            writes.push({ version: writeInput.version, resolve, reject, settled: false });
          }),
      ),
    },
  });
  const received: SnapshotPersisterReport[] = [];
  const parent = setup({ actors: { persister } }).createMachine({
    invoke: { id: 'persister', src: 'persister', input },
    on: { '*': { actions: ({ event }: { event: EventObject }) => void received.push(event as SnapshotPersisterReport) } },
  });
  const clock = new SimulatedClock();
  const actor = createActor(parent, { clock, inspect: coverage.inspect });
  return { actor, clock, writes, received, persister: () => actor.getSnapshot().children.persister as AnyActorRef };
}

const coverage = new Coverage(snapshotPersisterMachine);
const wrongFailureReports: { path: string; reported: Version; failed: Version | null }[] = [];

test('snapshot persister: a path for every transition of the model replays on the real persister', async (t) => {
  const { paths, vertices, edges, steps } = generatePaths(model, 'transitions');
  t.diagnostic(`model: ${vertices} vertices, ${edges} edges; replayed ${paths.length} paths, ${steps} steps`);
  for (const path of paths) {
    const real = createRealPersister(coverage);
    let maxRequested: Version | null = null;
    let lastWritten: Version | null = null;
    let writesSeen = 0;
    let reportsSeen = 0;
    let failedWrite: Version | null = null;
    await replayPath(logic, path, serialize, {
      start: () => void real.actor.start(),
      exec: async (event, _expected, previous) => {
        const pending = real.writes.filter((write) => !write.settled);
        switch (event.type) {
          case 'PERSIST': {
            const { version } = event as SnapshotPersisterEvent;
            maxRequested = maxRequested === null ? version : Math.max(maxRequested, version);
            real.persister().send(event);
            break;
          }
          case WRITE_DONE:
            assert.equal(pending.length, 1);
            assert.equal(pending[0]!.version, (event as { output: Version }).output);
            pending[0]!.settled = true;
            pending[0]!.resolve(pending[0]!.version);
            break;
          case WRITE_ERROR_EVENT:
            assert.equal(pending.length, 1);
            pending[0]!.settled = true;
            failedWrite = pending[0]!.version;
            pending[0]!.reject(WRITE_ERROR);
            break;
          case RETRY_DUE: {
            const delay = backoffDelay(retry, previous.machine.context.attempts, random);
            const started = real.writes.length;
            real.clock.increment(delay - 1);
            await settle();
            assert.equal(real.writes.length, started, `no retry before ${delay} ms`);
            assert.equal((real.persister().getSnapshot() as PersisterSnapshot).value, 'backingOff');
            real.clock.increment(1);
            break;
          }
        }
        await settle();
      },
      check: (expected, previous, event) => {
        const snapshot = real.persister().getSnapshot() as PersisterSnapshot;
        const { value, context } = snapshot;
        assert.equal(value, expected.machine.value);
        assert.deepEqual(
          { persisted: context.persisted, requested: context.requested, attempts: context.attempts },
          { persisted: expected.machine.context.persisted, requested: expected.machine.context.requested, attempts: expected.machine.context.attempts },
        );
        const newWrites = real.writes.slice(writesSeen);
        writesSeen = real.writes.length;
        const newReports = real.received.slice(reportsSeen);
        reportsSeen = real.received.length;
        assert.deepEqual(newWrites.map((write) => write.version), expected.effects.spawned.map((child) => (child.input as { version: Version }).version));
        assert.deepEqual(newReports, expected.effects.toParent);

        // Never two writes in flight; one exactly while writing.
        const pending = real.writes.filter((write) => !write.settled);
        assert.equal(pending.length, value === 'writing' ? 1 : 0);
        // Reports: a write that succeeded is reported with its version, and versions only go up.
        for (const report of newReports) {
          if (report.type === 'SNAPSHOT_PERSISTED') {
            assert.equal(event?.type, WRITE_DONE);
            assert.equal(report.version, (event as { output: Version }).output);
            assert.ok(lastWritten === null || report.version > lastWritten, `persisted ${report.version} after ${lastWritten}`);
            lastWritten = report.version;
          } else {
            assert.equal(event?.type, WRITE_ERROR_EVENT);
            assert.equal(report.attempts, context.attempts);
            assert.equal(report.error, WRITE_ERROR);
            // The report names the version whose write failed, even when a newer request arrived meanwhile.
            if (report.version !== failedWrite) wrongFailureReports.push({ path: path.description, reported: report.version, failed: failedWrite });
            assert.equal(report.version, failedWrite);
          }
        }
        assert.equal(context.persisted, lastWritten);
        // A new write: above everything written, and for the latest version requested (coalescing).
        for (const write of newWrites) {
          assert.ok(lastWritten === null || write.version > lastWritten, `write ${write.version} after ${lastWritten} was written`);
          assert.equal(write.version, maxRequested, 'the next write is for the latest version requested');
        }
        // Idle only when everything requested is written.
        if (value === 'idle') assert.ok(maxRequested === null || (lastWritten !== null && maxRequested <= lastWritten));
        if (value === 'backingOff') assert.ok(context.attempts >= 1);
        if (previous?.machine.value === 'backingOff' && value === 'writing' && event?.type === RETRY_DUE) {
          assert.equal(newWrites.length, 1, 'the backoff ends with a retry');
        }
      },
      stop: () => real.actor.stop(),
    });
  }
});

test('snapshot persister: the generated paths reach every state and take every transition', (t) => {
  t.diagnostic(coverage.summary());
  assert.deepEqual(coverage.missing(), { states: [], transitions: [] });
  assert.equal(coverage.states.size, 4);
  assert.equal(coverage.transitions.size, 7);
});

test(
  'snapshot persister: SNAPSHOT_WRITE_FAILED names the version whose write failed',
  async (t) => {
    // Minimal reproduction: PERSIST 1 starts a write of 1; PERSIST 2 arrives during it; the write of 1 fails.
    const real = createRealPersister(new Coverage(snapshotPersisterMachine));
    real.actor.start();
    real.persister().send({ type: 'PERSIST', version: 1 });
    real.persister().send({ type: 'PERSIST', version: 2 });
    await settle();
    assert.deepEqual(real.writes.map((write) => write.version), [1]);
    real.writes[0]!.reject(WRITE_ERROR);
    await settle();
    real.actor.stop();
    const shortest = [...wrongFailureReports].sort((a, b) => a.path.length - b.path.length)[0];
    t.diagnostic(`the model-based run found ${wrongFailureReports.length} such transitions, e.g. ${JSON.stringify(shortest)}`);
    assert.deepEqual(real.received, [{ type: 'SNAPSHOT_WRITE_FAILED', version: 1, attempts: 1, error: WRITE_ERROR }]);
  },
);
