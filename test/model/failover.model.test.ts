/**
 * Model-based tests of the failover machine (one cohort replicator per turn of ownership).
 *
 * The model is failoverMachine's own transition function plus what the outside world knows:
 * whether a replicator turn is running (spawned by the machine and not done yet), whether it
 * was told to stop, and whether the membership was told to leave. Events: the membership's
 * reports (OWNED, LOST, FATAL, and LEFT once it was told to leave), STOP, and the running
 * turn's done event with a `stopped` or `failed` output.
 *
 * Every path is replayed on a real failover actor whose membership and replicator are small
 * stand-ins the test drives. After every step: same state and context as the model, the same
 * replicators started, STOPs and LEAVEs sent, and the invariants: never two turns at once; a
 * turn starts only while the log is owned; a turn that lost ownership, or any turn on STOP, is
 * told to stop; the group is left once, only after the last turn ended; the outcome is
 * `failed` exactly when a turn failed or the membership reported a fatal error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assign, createActor, fromCallback, setup, type AnyActorRef, type AnyStateNode, type SnapshotFrom } from 'xstate';
import type { CohortReplicatorOutput } from '../../machines/cohortReplicator.machine.js';
import { resolveConfig } from '../../machines/config.js';
import { failoverMachine, type FailoverEvent, type FailoverInput } from '../../machines/failover.machine.js';
import { Coverage, createMachineTestModel, generatePaths, machineModel, replayPath, settle, type ModelSnapshot } from '../support/model.js';

type FailoverSnapshot = SnapshotFrom<typeof failoverMachine>;

const input: FailoverInput = { config: resolveConfig({}) };
const owning = failoverMachine.root.states.owning as AnyStateNode;
const REPLICATOR_DONE = `xstate.done.actor.${owning.invoke[0]!.id}`;
const FATAL = new Error('topic has 4 partitions');
const TURN_ERROR = new Error('install of version 7 failed 3 times');
const turnOutput = (outcome: 'stopped' | 'failed'): CohortReplicatorOutput => ({ outcome, snapshot: 5, persisted: 5, committed: 5, error: outcome === 'failed' ? TURN_ERROR : null });

type ModelEvent = FailoverEvent | { readonly type: typeof REPLICATOR_DONE; readonly output: CohortReplicatorOutput };

interface Env {
  readonly turnRunning: boolean;
  readonly turnStopAsked: boolean;
  readonly leaveAsked: boolean;
  readonly turnsStarted: number;
}
type State = ModelSnapshot<FailoverSnapshot, Env>;

const logic = machineModel(failoverMachine, input, {
  initial: (): Env => ({ turnRunning: false, turnStopAsked: false, leaveAsked: false, turnsStarted: 0 }),
  next: (env, event: ModelEvent, _machine, effects): Env => {
    let { turnRunning, turnStopAsked, leaveAsked, turnsStarted } = env;
    if (event.type === REPLICATOR_DONE) {
      turnRunning = false;
      turnStopAsked = false;
    }
    for (const child of effects.spawned) {
      if (child.id === 'replicator') {
        turnRunning = true;
        turnStopAsked = false;
        turnsStarted += 1;
      }
    }
    for (const sent of effects.toChildren) {
      if (sent.to === 'replicator' && sent.event.type === 'STOP') turnStopAsked = true;
      if (sent.to === 'membership' && sent.event.type === 'LEAVE') leaveAsked = true;
    }
    return { turnRunning, turnStopAsked, leaveAsked, turnsStarted };
  },
});

const serialize = (state: State) => {
  const { value, context } = state.machine;
  return JSON.stringify([value, context.owned, context.turns, context.lastTurn?.outcome ?? null, context.error?.message ?? null, state.env]);
};

const MAX_TURNS = 2;
const model = createMachineTestModel(logic, {
  serialize,
  events: (state) => {
    const { machine, env } = state;
    if (machine.status !== 'active') return [];
    const events: ModelEvent[] = [{ type: 'STOP' }];
    if (!machine.context.owned && env.turnsStarted < MAX_TURNS) events.push({ type: 'MEMBERSHIP.OWNED' });
    if (machine.context.owned) events.push({ type: 'MEMBERSHIP.LOST', reason: 'rebalanced' });
    if (machine.context.error === null) events.push({ type: 'MEMBERSHIP.FATAL', error: FATAL });
    if (env.leaveAsked) events.push({ type: 'MEMBERSHIP.LEFT' });
    if (env.turnRunning) {
      events.push({ type: REPLICATOR_DONE, output: turnOutput('failed') });
      // A turn ends by itself only when stopped (the Kafka source never ends).
      if (env.turnStopAsked) events.push({ type: REPLICATOR_DONE, output: turnOutput('stopped') });
    }
    return events;
  },
});

/** Stand-ins: a turn that records STOP and ends when the test says so; a membership that records LEAVE. */
function createRealFailover(coverage: Coverage) {
  const turns: { stops: number; finish: (output: CohortReplicatorOutput) => void; ended: boolean }[] = [];
  let leaves = 0;
  const turnMachine = setup({
    types: { context: {} as { output: CohortReplicatorOutput | null }, events: {} as { type: 'STOP' } | { type: 'FINISH'; output: CohortReplicatorOutput } },
  }).createMachine({
    context: { output: null },
    entry: ({ self }) => {
      const turn = { stops: 0, ended: false, finish: (output: CohortReplicatorOutput) => self.send({ type: 'FINISH', output }) };
      turns.push(turn);
    },
    initial: 'running',
    states: {
      running: {
        on: {
          STOP: { actions: () => void (turns.at(-1)!.stops += 1) },
          FINISH: { target: 'done', actions: assign({ output: ({ event }) => event.output }) },
        },
      },
      done: { type: 'final', entry: () => void (turns.at(-1)!.ended = true) },
    },
    output: ({ context }) => context.output!,
  });
  const machine = failoverMachine.provide({
    actors: {
      membership: fromCallback(({ receive }) => receive(() => void (leaves += 1))),
      replicator: turnMachine as never,
    },
  });
  const actor = createActor(machine, { input, inspect: coverage.inspect });
  return { actor, turns, leaves: () => leaves };
}

const coverage = new Coverage(failoverMachine);

test('failover: a path for every transition of the model replays on the real machine', async (t) => {
  const { paths, vertices, edges, steps } = generatePaths(model, 'transitions');
  t.diagnostic(`model: ${vertices} vertices, ${edges} edges; replayed ${paths.length} paths, ${steps} steps`);
  for (const path of paths) {
    const real = createRealFailover(coverage);
    let turnsSeen = 0;
    let fatal = false;
    let turnFailed = false;
    let stopWanted = false;
    await replayPath(logic, path, serialize, {
      start: () => void real.actor.start(),
      exec: async (event) => {
        if (event.type === REPLICATOR_DONE) {
          const running = real.turns.filter((turn) => !turn.ended);
          assert.equal(running.length, 1);
          const output = (event as { output: CohortReplicatorOutput }).output;
          if (output.outcome === 'failed') turnFailed = true;
          running[0]!.finish(output);
        } else {
          if (event.type === 'MEMBERSHIP.FATAL') fatal = true;
          real.actor.send(event as FailoverEvent);
        }
        await settle();
      },
      check: (expected) => {
        const snapshot = real.actor.getSnapshot();
        assert.deepEqual(snapshot.value, expected.machine.value);
        const { context } = snapshot;
        assert.deepEqual(
          [context.owned, context.turns, context.lastTurn?.outcome ?? null, context.error?.message ?? null],
          [expected.machine.context.owned, expected.machine.context.turns, expected.machine.context.lastTurn?.outcome ?? null, expected.machine.context.error?.message ?? null],
        );
        const running = real.turns.filter((turn) => !turn.ended);
        assert.ok(running.length <= 1, 'never two turns at once');
        assert.equal(running.length === 1, expected.env.turnRunning);
        const started = real.turns.slice(turnsSeen);
        turnsSeen = real.turns.length;
        if (started.length > 0) assert.ok(context.owned, 'a turn starts only while the log is owned');
        if (started.length > 0) stopWanted = false;
        if (running.length === 1) {
          stopWanted ||= !context.owned || snapshot.matches({ owning: 'stopping' }) || context.error !== null;
          assert.equal(running[0]!.stops > 0, stopWanted, 'a turn is told to stop once ownership is lost, on STOP, or on a fatal error');
          assert.ok(running[0]!.stops <= 2, 'at most once for a lost ownership and once for STOP');
        }
        assert.ok(real.leaves() <= 1, 'the group is left once');
        if (real.leaves() === 1) assert.equal(running.length, 0, 'only after the last turn ended');
        if (snapshot.status === 'done') {
          assert.equal(snapshot.output!.outcome, fatal || turnFailed ? 'failed' : 'stopped');
          assert.equal(real.leaves(), 1, 'a finished failover has left the group');
        }
      },
      stop: () => real.actor.stop(),
    });
  }
});

test('failover: the generated paths reach every state and take every transition', (t) => {
  t.diagnostic(coverage.summary());
  assert.deepEqual(coverage.missing(), { states: [], transitions: [] });
});

test('failover: after ownership moves away and back, the second turn starts only once the first has ended', async () => {
  const real = createRealFailover(new Coverage(failoverMachine));
  real.actor.start();
  real.actor.send({ type: 'MEMBERSHIP.OWNED' });
  await settle();
  assert.equal(real.turns.length, 1);
  real.actor.send({ type: 'MEMBERSHIP.LOST', reason: 'rebalanced' });
  real.actor.send({ type: 'MEMBERSHIP.OWNED' });
  await settle();
  assert.equal(real.turns.length, 1, 'the first turn is still handing over');
  assert.equal(real.turns[0]!.stops, 1);
  real.turns[0]!.finish(turnOutput('stopped'));
  await settle();
  assert.equal(real.turns.length, 2, 'the second turn starts right after');
  assert.deepEqual(real.actor.getSnapshot().value, { owning: 'replicating' });
  real.actor.stop();
});
