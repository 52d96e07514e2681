/**
 * Model-based tests of the queue item lifecycle.
 *
 * The paths come from `createTestModel(queueItemMachine)` (shortest and simple paths, whose
 * vertices are (state, incoming transition), so every transition appears). Each path is replayed
 * on three implementations at once, compared after every step:
 *   (a) a live actor of queueItemMachine,
 *   (b) the derived fast form `nextItemState` (queueItem.lifecycle.ts), the queue's hot path,
 *   (c) the real StatemapQueue, holding one item and driven through the matching operations.
 * A fast-check property and an exhaustive table check then show that the fast form and the
 * machine's own `transition` agree on every state and every event, ignored events included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createActor, transition, type AnyMachineSnapshot, type AnyStateNode } from 'xstate';
import { createTestModel, getStateNodes, toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';
import { queueItemMachine, type QueueItemEvent } from '../../machines/queueItem.machine.js';
import {
  ITEM_EVENT_TYPES,
  ITEM_STATES,
  acceptsItemEvent,
  initialItemState,
  itemStateName,
  nextItemState,
  type ItemState,
  type ItemStateName,
} from '../../machines/queueItem.lifecycle.js';
import { StatemapQueue } from '../../machines/statemapQueue.js';
import { Coverage, transitionName } from '../support/model.js';

const MAX_ATTEMPTS = 3;
const ERROR = new Error('install failed');

/** One sample of every event type; INSTALL_FAILED both with attempts left and without. */
const sampleEvents: QueueItemEvent[] = [
  { type: 'DISPATCH' },
  { type: 'INSTALL_SUCCEEDED' },
  { type: 'INSTALL_FAILED', attempts: 1, maxAttempts: MAX_ATTEMPTS, covered: false },
  { type: 'INSTALL_FAILED', attempts: MAX_ATTEMPTS, maxAttempts: MAX_ATTEMPTS, covered: false },
  { type: 'INSTALL_FAILED', attempts: MAX_ATTEMPTS, maxAttempts: MAX_ATTEMPTS, covered: true },
  { type: 'INSTALL_CANCELLED' },
  { type: 'RETRY_DUE' },
  { type: 'COVERED_BY_SNAPSHOT' },
];

/** The leaf state of an item snapshot, as the fast form names it (`awaiting.ready`, `inflight`, ...). */
function leafName(snapshot: AnyMachineSnapshot): ItemStateName {
  const leaves = (snapshot._nodes as AnyStateNode[]).filter((node) => node.type === 'atomic' || node.type === 'final');
  assert.equal(leaves.length, 1);
  return leaves[0]!.path.join('.') as ItemStateName;
}

function stateCode(name: ItemStateName): ItemState {
  const index = ITEM_STATES.indexOf(name);
  assert.ok(index >= 0, `fast form has no state ${name}`);
  return index as ItemState;
}

/** A snapshot of the real machine in the given leaf state. */
function snapshotIn(name: ItemStateName): AnyMachineSnapshot {
  const [parent, child] = name.split('.') as [string, string | undefined];
  return queueItemMachine.resolveState({ value: child ? { [parent]: child } : parent });
}

/**
 * The real StatemapQueue with exactly one item (version 1), driven through the queue operation
 * that produces each item event.
 */
class OneItemQueue {
  readonly queue = new StatemapQueue(0);
  #attempts = 0;

  constructor() {
    this.queue.accept([{ version: 1, safepoint: null, statemap: [{ PUT: { k: 1 } }] }]);
  }

  apply(event: QueueItemEvent): void {
    switch (event.type) {
      case 'DISPATCH':
        assert.deepEqual(this.queue.takeReady().map((job) => job.version), [1]);
        return;
      case 'INSTALL_SUCCEEDED':
        assert.deepEqual(this.queue.settle([{ version: 1, ok: true }], MAX_ATTEMPTS), { retries: [], failure: null });
        return;
      case 'INSTALL_FAILED': {
        this.#attempts += 1;
        if (event.covered) {
          // The store's snapshot reached the version while its install ran: the failure is moot.
          this.queue.coverUpTo(1);
          assert.deepEqual(this.queue.settle([{ version: 1, ok: false, error: ERROR }], this.#attempts), { retries: [], failure: null });
          return;
        }
        // The queue counts attempts itself; choose the limit so that this failure has (or has not) attempts left, as in the event.
        const left = event.attempts < event.maxAttempts;
        const result = this.queue.settle([{ version: 1, ok: false, error: ERROR }], left ? Infinity : this.#attempts);
        if (left) assert.deepEqual(result, { retries: [{ version: 1, attempts: this.#attempts, error: ERROR }], failure: null });
        else assert.deepEqual(result, { retries: [], failure: { version: 1, attempts: this.#attempts, error: ERROR } });
        return;
      }
      case 'INSTALL_CANCELLED':
        this.queue.cancel([1]);
        return;
      case 'RETRY_DUE':
        this.queue.retryDue(1);
        return;
      case 'COVERED_BY_SNAPSHOT':
        this.queue.coverUpTo(1);
        return;
    }
  }

  /** The queue's view must say the item is in `state`. */
  check(state: ItemStateName): void {
    const expected = Object.fromEntries(ITEM_STATES.map((name) => [name, 0]));
    // An installed item at the front is dropped at once: the snapshot moves over it.
    if (state !== 'installed') expected[state] = 1;
    assert.deepEqual(this.queue.counts(), expected, `queue counts in ${state}`);
    assert.equal(this.queue.snapshot, state === 'installed' ? 1 : 0, `queue snapshot in ${state}`);
    assert.equal(this.queue.size, state === 'installed' ? 0 : 1);
    assert.equal(this.queue.inflight, state === 'inflight' ? 1 : 0);
    assert.equal(this.queue.pending, state === 'installed' || state === 'failed' ? 0 : 1);
    // Only a ready item is handed out by takeReady (checked on a copy, which must not touch the original).
    const before = JSON.stringify(this.queue);
    assert.deepEqual(this.queue.clone().takeReady().map((job) => job.version), state === 'awaiting.ready' ? [1] : []);
    assert.equal(JSON.stringify(this.queue), before, 'clone() is independent of the original');
  }
}

const model = createTestModel(queueItemMachine, { events: sampleEvents });
const paths = { shortest: model.getShortestPaths(), simple: model.getSimplePaths() };

/** Every state node and transition of the machine, from its definition. */
function definitionEdges(): string[] {
  const edges: string[] = [];
  const walk = (node: DirectedGraphNode) => {
    for (const edge of node.edges) edges.push(transitionName(edge.transition));
    node.children.forEach(walk);
  };
  walk(toDirectedGraph(queueItemMachine));
  return edges;
}

const coverage = new Coverage(queueItemMachine);
let replayed = 0;

for (const [kind, list] of Object.entries(paths)) {
  test(`queueItem: every ${kind} path agrees on the machine, the fast form and the StatemapQueue`, async (t) => {
    assert.ok(list.length > 0);
    t.diagnostic(`${list.length} ${kind} paths, ${list.reduce((sum, path) => sum + path.steps.length, 0)} steps`);
    for (const path of list) {
      const actor = createActor(queueItemMachine, { inspect: coverage.inspect }).start();
      let fast = initialItemState;
      const queue = new OneItemQueue();
      const step = ({ event }: { event: QueueItemEvent }) => {
        actor.send(event);
        fast = nextItemState(fast, event);
        queue.apply(event);
      };
      await path.test({
        events: Object.fromEntries(sampleEvents.map((event) => [event.type, step])),
        states: {
          '*': (state) => {
            const expected = leafName(state);
            const real = actor.getSnapshot();
            assert.equal(leafName(real), expected, `live actor in ${path.description}`);
            assert.equal(real.status, expected === 'installed' || expected === 'failed' ? 'done' : 'active');
            assert.equal(itemStateName(fast), expected, `fast form in ${path.description}`);
            queue.check(expected);
            coverage.visitSnapshot(state);
          },
        },
      });
      actor.stop();
      replayed += 1;
    }
  });
}

test('queueItem: the generated paths reach every state and take every transition of the definition', (t) => {
  t.diagnostic(coverage.summary());
  assert.ok(replayed >= paths.shortest.length + paths.simple.length);
  const stateIds = getStateNodes(queueItemMachine.root).map((node) => node.id);
  assert.deepEqual([...coverage.states.keys()].sort(), ['queueItem', ...stateIds].sort());
  assert.deepEqual([...coverage.transitions.keys()].sort(), definitionEdges().sort(), 'toDirectedGraph and the state nodes list the same edges');
  assert.deepEqual(coverage.missing(), { states: [], transitions: [] });
  // 6 state nodes (plus the root), 8 transitions (INSTALL_FAILED has two guarded edges and a fallback).
  assert.equal(stateIds.length, 6);
  assert.equal(coverage.transitions.size, 8);
});

test('queueItem: the fast form is derived from the machine: same leaf states, same event types', () => {
  const leaves = getStateNodes(queueItemMachine.root)
    .filter((node) => node.type === 'atomic' || node.type === 'final')
    .map((node) => node.path.join('.'));
  assert.deepEqual([...ITEM_STATES].sort(), leaves.sort());
  const eventTypes = new Set(getStateNodes(queueItemMachine.root).flatMap((node) => [...node.transitions.keys()]));
  assert.deepEqual([...ITEM_EVENT_TYPES].sort(), [...eventTypes].sort());
  assert.deepEqual([...eventTypes].sort(), [...new Set(sampleEvents.map((event) => event.type))].sort(), 'the samples cover every event type');
  assert.equal(itemStateName(initialItemState), leafName(createActor(queueItemMachine).getSnapshot()));
});

/** Every event the item can be sent, including INSTALL_FAILED around and at the limit, and with no limit. */
const everyEvent: QueueItemEvent[] = [
  ...sampleEvents,
  ...[0, 1, 2, 3, 4].flatMap((attempts) =>
    [1, 3, Infinity].flatMap((maxAttempts) => [false, true].map((covered) => ({ type: 'INSTALL_FAILED', attempts, maxAttempts, covered }) as const)),
  ),
];

test('queueItem: fast form and machine agree on every state and every event (exhaustive)', () => {
  for (const name of ITEM_STATES) {
    const snapshot = snapshotIn(name);
    assert.equal(leafName(snapshot), name);
    for (const event of everyEvent) {
      const [next] = transition(queueItemMachine, snapshot, event);
      const code = stateCode(name);
      assert.equal(itemStateName(nextItemState(code, event)), leafName(next), `${name} + ${JSON.stringify(event)}`);
      assert.equal(acceptsItemEvent(code, event), snapshot.can(event), `accepts ${JSON.stringify(event)} in ${name}`);
      assert.equal(acceptsItemEvent(code, event), leafName(next) !== name, `an accepted event changes the state (${name})`);
    }
  }
});

const arbitraryEvent: fc.Arbitrary<QueueItemEvent> = fc.oneof(
  fc.constantFrom<QueueItemEvent>(...sampleEvents),
  fc.record({
    type: fc.constant('INSTALL_FAILED' as const),
    attempts: fc.integer({ min: 0, max: 6 }),
    maxAttempts: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constant(Infinity)),
    covered: fc.boolean(),
  }),
);

test('queueItem: random event sequences from every state: fast form == transition() of the machine', () => {
  fc.assert(
    fc.property(fc.constantFrom(...ITEM_STATES), fc.array(arbitraryEvent, { maxLength: 25 }), (start, events) => {
      let snapshot = snapshotIn(start);
      let code = stateCode(start);
      for (const event of events) {
        assert.equal(acceptsItemEvent(code, event), snapshot.can(event));
        const [next] = transition(queueItemMachine, snapshot, event);
        code = nextItemState(code, event);
        assert.equal(itemStateName(code), leafName(next), `${leafName(snapshot)} + ${JSON.stringify(event)}`);
        snapshot = next;
      }
    }),
    { numRuns: 1000 },
  );
});

test('queueItem: a live actor agrees with the fast form on random sequences (ignored events included)', () => {
  fc.assert(
    fc.property(fc.array(arbitraryEvent, { maxLength: 25 }), (events) => {
      const actor = createActor(queueItemMachine).start();
      let code = initialItemState;
      for (const event of events) {
        actor.send(event);
        code = nextItemState(code, event);
        assert.equal(itemStateName(code), leafName(actor.getSnapshot()));
      }
      actor.stop();
    }),
    { numRuns: 500 },
  );
});
