/**
 * Shared machinery for the model-based tests in test/model/.
 *
 * xstate/graph explores a machine by calling its pure `transition` function with an inert
 * actor scope. Two things stop it from doing that with the replicator's machines directly:
 *
 * - `createTestModel` refuses machines with `invoke` or `after` ("Invocations on test machines
 *   are not supported"), which is every machine here except queueItem;
 * - the inert scope's `self` has no parent, so any `sendParent` makes the pure transition throw
 *   ("Unable to send event to actor '#_parent'").
 *
 * `machineModel` therefore wraps a machine in an actor logic that runs the machine's own
 * `transition` with a scope whose `self` has a (recording) parent, and collects the actions
 * XState hands to the executor: what the machine sent to its parent and children, what it
 * spawned, which delayed events it scheduled. The model state is the machine snapshot plus a
 * small environment (what the outside world knows, e.g. which calls a pool is running), which
 * the test's `events` function reads to offer only meaningful events. The graph is built with
 * xstate/graph's `TestModel` (the class `createTestModel` instantiates) over that logic.
 *
 * `replayPath` then runs one generated path against the real implementation: it keeps the model
 * in lockstep (so each step's expectation comes from this path, not from another path that
 * reached an equal-looking state), makes the real system receive or produce each event, and
 * calls the test's assertions after every step.
 */
import assert from 'node:assert/strict';
import {
  createActor,
  createEmptyActor,
  fromCallback,
  type ActorLogic,
  type ActorScope,
  type AnyActorRef,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type ActorSystem,
  type EventObject,
  type InspectionEvent,
  type Snapshot,
} from 'xstate';
import { TestModel, type StatePath, type TestPath } from 'xstate/graph';

/** What one macrostep of the machine did to the outside world. */
export interface Effects {
  readonly toParent: EventObject[];
  readonly toChildren: { readonly to: string; readonly event: EventObject }[];
  readonly spawned: { readonly id: string; readonly src: unknown; readonly input: unknown }[];
  readonly delayed: { readonly id: string | undefined; readonly event: EventObject; readonly delay: number }[];
}

export interface ModelSnapshot<TSnap extends AnyMachineSnapshot, TEnv> {
  readonly status: 'active';
  readonly output: undefined;
  readonly error: undefined;
  readonly machine: TSnap;
  readonly env: TEnv;
  /** The effects of the step that produced this state (compared with the real system's in lockstep replay). */
  readonly effects: Effects;
  /** The event that produced this state (so that the graph keeps one vertex per incoming transition). */
  readonly via: string;
}

export interface EnvModel<TSnap extends AnyMachineSnapshot, TEnv, TEvent extends EventObject> {
  initial(machine: TSnap, effects: Effects): TEnv;
  /** The environment after the machine went from `previous` to `machine` on `event`, doing `effects`. */
  next(env: TEnv, event: TEvent, machine: TSnap, effects: Effects, previous: TSnap): TEnv;
}

export type MachineModelLogic<TSnap extends AnyMachineSnapshot, TEnv, TEvent extends EventObject> = ActorLogic<
  ModelSnapshot<TSnap, TEnv>,
  TEvent,
  undefined
> & { readonly machine: AnyStateMachine };

function emptyEffects(): Effects {
  return { toParent: [], toChildren: [], spawned: [], delayed: [] };
}

/** An inert scope like xstate's own, except that `self` has a parent, so `sendParent` resolves. */
function createModelScope(): { scope: ActorScope<any, any, any, any>; take: () => Effects } {
  const parent = createEmptyActor();
  const self = createActor(fromCallback(() => {}), { parent });
  let effects = emptyEffects();
  const scope = {
    self,
    id: '',
    sessionId: '',
    logger: () => {},
    defer: () => {},
    system: self.system,
    stopChild: () => {},
    emit: () => {},
    actionExecutor: (action: { type: string; params?: any }) => {
      const params = action.params ?? {};
      switch (action.type) {
        case 'xstate.sendTo':
          if (params.delay !== undefined) effects.delayed.push({ id: params.id, event: params.event, delay: params.delay });
          else if (params.to === parent) effects.toParent.push(params.event);
          else effects.toChildren.push({ to: (params.to as AnyActorRef).id, event: params.event });
          break;
        case 'xstate.raise':
          if (params.delay !== undefined) effects.delayed.push({ id: params.id, event: params.event, delay: params.delay });
          break;
        case 'xstate.spawnChild':
          effects.spawned.push({ id: params.id, src: params.src, input: params.input });
          break;
      }
    },
  } as unknown as ActorScope<any, any, any, any>;
  return {
    scope,
    take: () => {
      const taken = effects;
      effects = emptyEffects();
      return taken;
    },
  };
}

/** The machine (with its pure transition function) plus an environment, as actor logic for xstate/graph. */
export function machineModel<TMachine extends AnyStateMachine, TEnv, TEvent extends EventObject>(
  machine: TMachine,
  input: unknown,
  env: EnvModel<ReturnType<TMachine['transition']>, TEnv, TEvent>,
): MachineModelLogic<ReturnType<TMachine['transition']>, TEnv, TEvent> {
  type TSnap = ReturnType<TMachine['transition']>;
  const { scope, take } = createModelScope();
  const logic = {
    machine,
    config: machine.config,
    getInitialSnapshot: (): ModelSnapshot<TSnap, TEnv> => {
      take();
      const snapshot = machine.getInitialSnapshot(scope, input) as TSnap;
      const effects = take();
      return { status: 'active', output: undefined, error: undefined, machine: snapshot, env: env.initial(snapshot, effects), effects, via: 'xstate.init' };
    },
    transition: (state: ModelSnapshot<TSnap, TEnv>, event: TEvent): ModelSnapshot<TSnap, TEnv> => {
      take();
      const snapshot = machine.transition(state.machine, event, scope) as TSnap;
      const effects = take();
      return { status: 'active', output: undefined, error: undefined, machine: snapshot, env: env.next(state.env, event, snapshot, effects, state.machine), effects, via: event.type };
    },
    getPersistedSnapshot: (state: ModelSnapshot<TSnap, TEnv>) => state,
  };
  return logic as unknown as MachineModelLogic<TSnap, TEnv, TEvent>;
}

export interface ModelOptions<TSnap extends AnyMachineSnapshot, TEnv, TEvent extends EventObject> {
  /** The state's identity for the graph (the incoming event's tag and the step's effects are added to it, see below). */
  serialize(state: ModelSnapshot<TSnap, TEnv>): string;
  events(state: ModelSnapshot<TSnap, TEnv>): readonly TEvent[];
  /** Stop exploring from this state. */
  stopWhen?: (state: ModelSnapshot<TSnap, TEnv>) => boolean;
  /**
   * Whether the effects of the incoming transition are part of a vertex's identity (default: yes),
   * so that the same state reached with different outputs (another report, another job) is a
   * different vertex and gets its own path.
   */
  distinguishEffects?: boolean;
  /**
   * The tag of the incoming event in a vertex's identity (default: its type, so that shortest paths
   * to every vertex take every kind of transition into every state). Return '' to merge.
   */
  via?: (eventType: string) => string;
}

/** The observable outputs of a step, for a vertex's identity. */
export function serializeEffects(effects: Effects): string {
  return JSON.stringify([effects.toParent, effects.toChildren, effects.spawned.map((child) => [child.id, child.input]), effects.delayed.map((d) => [d.event, d.delay])]);
}

/**
 * A TestModel over `machineModel`: one vertex per (state, incoming event type, effects of that
 * step), so shortest paths to every vertex take every transition of the reachable graph at least
 * once, and every distinct output it can produce.
 */
export function createMachineTestModel<TSnap extends AnyMachineSnapshot, TEnv, TEvent extends EventObject>(
  logic: MachineModelLogic<TSnap, TEnv, TEvent>,
  options: ModelOptions<TSnap, TEnv, TEvent>,
): TestModel<ModelSnapshot<TSnap, TEnv>, TEvent, undefined> {
  return new TestModel(logic, {
    serializeState: (state: ModelSnapshot<TSnap, TEnv>) =>
      `${options.via ? options.via(state.via) : state.via}|${options.distinguishEffects === false ? '' : serializeEffects(state.effects)}|${options.serialize(state)}`,
    serializeEvent: (event: TEvent) => JSON.stringify(event),
    events: (state: ModelSnapshot<TSnap, TEnv>) => (state.machine.status === 'active' ? options.events(state) : []),
    stopWhen: options.stopWhen,
    logger: { log: () => {}, error: () => {} },
  } as never);
}

export interface GeneratedPaths<TState extends Snapshot<unknown>, TEvent extends EventObject> {
  readonly paths: TestPath<TState, TEvent>[];
  /** Vertices and edges of the model's graph (the adjacency map). */
  readonly vertices: number;
  readonly edges: number;
  readonly steps: number;
}

/**
 * Paths through the model's graph, from its adjacency map (`TestModel.getAdjacencyMap`):
 * - `states`: the shortest path to every vertex;
 * - `transitions`: for every vertex and every event the model offers there, the shortest path to
 *   the vertex followed by that event. Stronger than `states`, whose paths reach each vertex once
 *   only: a fault that shows only relative to the state before (a report naming the wrong
 *   in-flight version, say) needs every edge.
 * Paths found by breadth-first search on the adjacency map, so every step's state is the true
 * successor of the step before; paths that are a prefix of another are dropped; each path's
 * `test` is `TestModel.testPath`.
 */
export function generatePaths<TState extends Snapshot<unknown>, TEvent extends EventObject>(
  model: TestModel<TState, TEvent, undefined>,
  coverage: 'states' | 'transitions',
): GeneratedPaths<TState, TEvent> {
  const serializeState = model.options.serializeState!;
  const adjacency = model.getAdjacencyMap() as Record<string, { state: TState; transitions: Record<string, { event: TEvent; state: TState }> }>;
  const keys = Object.keys(adjacency);
  const initialKey = keys[0]!;
  const initial = adjacency[initialKey]!.state;
  // Breadth-first: the shortest path (as steps) to every vertex.
  const shortest = new Map<string, StatePath<TState, TEvent>>([
    [initialKey, { state: initial, steps: [{ state: initial, event: { type: 'xstate.init' } as TEvent }], weight: 0 }],
  ]);
  const queue = [initialKey];
  let edges = 0;
  for (let head = 0; head < queue.length; head++) {
    const key = queue[head]!;
    const path = shortest.get(key)!;
    for (const { event, state } of Object.values(adjacency[key]!.transitions)) {
      edges += 1;
      const next = serializeState(state, event, path.state);
      if (shortest.has(next)) continue;
      shortest.set(next, { state, steps: [...path.steps, { state, event }], weight: path.weight + 1 });
      queue.push(next);
    }
  }
  const candidates: StatePath<TState, TEvent>[] = [];
  for (const [key, path] of shortest) {
    const transitions = Object.values(adjacency[key]!.transitions);
    if (coverage === 'states' || transitions.length === 0) candidates.push(path);
    else for (const { event, state } of transitions) candidates.push({ state, steps: [...path.steps, { state, event }], weight: path.weight + 1 });
  }
  // Longest first; drop every path whose event sequence is a prefix of one already kept.
  candidates.sort((a, b) => b.steps.length - a.steps.length);
  const prefixes = new Set<string>();
  const paths: TestPath<TState, TEvent>[] = [];
  for (const path of candidates) {
    const events = path.steps.map((step) => JSON.stringify(step.event));
    if (prefixes.has(events.join('\n'))) continue;
    for (let i = 1; i <= events.length; i++) prefixes.add(events.slice(0, i).join('\n'));
    paths.push({ ...path, description: path.steps.map((step) => step.event.type).join(' → '), test: (params) => model.testPath(path, params) });
  }
  return { paths, vertices: keys.length, edges, steps: paths.reduce((sum, path) => sum + path.steps.length, 0) };
}

/** Replays one generated path on the real implementation. */
export interface RealSystem<TState, TEvent extends EventObject> {
  /** The first step (xstate.init): create and start the real actors. */
  start(expected: TState): void | Promise<void>;
  /** Make the real system receive or produce `event` (and let it settle). */
  exec(event: TEvent, expected: TState, previous: TState): void | Promise<void>;
  /** Assertions in every state, `expected` being the model's state after the same steps. */
  check(expected: TState, previous: TState | null, event: TEvent | null): void;
  stop(): void;
}

export async function replayPath<TSnap extends AnyMachineSnapshot, TEnv, TEvent extends EventObject>(
  logic: MachineModelLogic<TSnap, TEnv, TEvent>,
  path: TestPath<ModelSnapshot<TSnap, TEnv>, TEvent>,
  serialize: (state: ModelSnapshot<TSnap, TEnv>) => string,
  real: RealSystem<ModelSnapshot<TSnap, TEnv>, TEvent>,
): Promise<void> {
  let current: ModelSnapshot<TSnap, TEnv> | null = null;
  let previous: ModelSnapshot<TSnap, TEnv> | null = null;
  let lastEvent: TEvent | null = null;
  const exec = async (step: { event: TEvent; state: ModelSnapshot<TSnap, TEnv> }) => {
    if (step.event.type === 'xstate.init') {
      current = logic.getInitialSnapshot(undefined as never, undefined);
      lastEvent = null;
      assert.equal(serialize(current), serialize(step.state), 'the path starts in the initial state');
      await real.start(current);
      return;
    }
    previous = current!;
    current = logic.transition(previous, step.event, undefined as never);
    lastEvent = step.event;
    // The graph keeps one snapshot per serialized state, so the path's own snapshot may come from
    // another history; the lockstep model must agree with it on everything serialized.
    assert.equal(serialize(current), serialize(step.state), `the model replays the path (${step.event.type})`);
    await real.exec(step.event, current, previous);
  };
  const events = Object.fromEntries(path.steps.map((step) => [step.event.type, exec]));
  try {
    await path.test({
      events: events as never,
      states: { '*': () => real.check(current!, previous, lastEvent) },
    });
  } finally {
    real.stop();
  }
}

/** Lets promise-based actors settle and their reports reach their parents. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Transition coverage: every state node and every transition definition of a machine, by stable name. */
export class Coverage {
  readonly states = new Map<string, boolean>();
  readonly transitions = new Map<string, boolean>();
  readonly #machineId: string;

  constructor(machine: AnyStateMachine) {
    this.#machineId = machine.id;
    const visit = (node: AnyStateNode) => {
      this.states.set(node.id, false);
      for (const list of node.transitions.values()) for (const transition of list) this.transitions.set(transitionName(transition), false);
      for (const transition of node.always ?? []) this.transitions.set(transitionName(transition), false);
      for (const child of Object.values(node.states) as AnyStateNode[]) visit(child);
    };
    visit(machine.root);
  }

  /** An inspector for `createActor(..., { inspect })`: records what the real actor of this machine did. */
  readonly inspect = (event: InspectionEvent): void => {
    if (event.type !== '@xstate.microstep' && event.type !== '@xstate.snapshot') return;
    const snapshot = event.snapshot as AnyMachineSnapshot;
    if (!snapshot || (snapshot as { machine?: AnyStateMachine }).machine?.id !== this.#machineId) return;
    this.visitSnapshot(snapshot);
    if (event.type === '@xstate.microstep') for (const transition of event._transitions) this.transitions.set(transitionName(transition), true);
  };

  visitSnapshot(snapshot: AnyMachineSnapshot): void {
    for (const node of snapshot._nodes as AnyStateNode[]) this.states.set(node.id, true);
  }

  missing(): { states: string[]; transitions: string[] } {
    return {
      states: [...this.states].filter(([, seen]) => !seen).map(([name]) => name),
      transitions: [...this.transitions].filter(([, seen]) => !seen).map(([name]) => name),
    };
  }

  summary(): string {
    const count = (map: Map<string, boolean>) => `${[...map.values()].filter(Boolean).length}/${map.size}`;
    return `states ${count(this.states)}, transitions ${count(this.transitions)}`;
  }
}

/** A name for a transition definition that is the same in a machine and in its `.provide(...)` copies. */
export function transitionName(transition: AnyTransitionDefinition): string {
  const source = transition.source as AnyStateNode;
  const siblings = transition.eventType === '' ? (source.always ?? []) : (source.transitions.get(transition.eventType) ?? []);
  const index = siblings.indexOf(transition);
  const targets = transition.target ? transition.target.map((node: AnyStateNode) => node.id).join(',') : '(none)';
  const guard = transition.guard === undefined ? '' : `[${typeof transition.guard === 'string' ? transition.guard : ((transition.guard as { type?: string }).type ?? 'inline guard')}]`;
  return `${source.id} --${transition.eventType || 'always'}#${index}${guard}--> ${targets}`;
}

/**
 * A clock whose timers fire only when the test says which one: several timers of an actor system
 * (retry backoffs, a cleanup interval) can then fire in any order the model picks. Each timer is
 * tagged with the scheduled event it carries, read from the actor system.
 */
/** xstate's `Clock` (not exported by name). */
type Clock = NonNullable<Parameters<typeof createActor>[1]>['clock'] & object;

export class ManualClock implements Clock {
  #timers = new Map<number, { fn: () => void; delay: number; event: EventObject | null }>();
  #next = 1;
  system: ActorSystem<any> | null = null;

  setTimeout(fn: (...args: any[]) => void, delay: number): number {
    const id = this.#next++;
    let event: EventObject | null = null;
    if (this.system) {
      // The scheduler records the event right before it asks the clock for a timeout.
      const entries = Object.values(this.system.getSnapshot()._scheduledEvents);
      const last = entries[entries.length - 1];
      if (last && last.delay === delay) event = last.event;
    }
    this.#timers.set(id, { fn, delay, event });
    return id;
  }

  clearTimeout(id: number): void {
    this.#timers.delete(id);
  }

  pending(): { delay: number; event: EventObject | null }[] {
    return [...this.#timers.values()].map(({ delay, event }) => ({ delay, event }));
  }

  /** Fires the one pending timer whose event matches; returns its delay. */
  fire(matches: (event: EventObject | null) => boolean): number {
    const found = [...this.#timers].filter(([, timer]) => matches(timer.event));
    assert.equal(found.length, 1, `exactly one pending timer should match, pending: ${JSON.stringify(this.pending())}`);
    const [id, timer] = found[0]!;
    this.#timers.delete(id);
    timer.fn();
    return timer.delay;
  }
}

export type { StatePath, TestPath };
