/**
 * The shape of each statechart the replicator runs (every state node, read from the machine
 * definitions themselves, so the status page never restates a state), and the active state
 * paths of a running actor. The page draws the first and highlights the second.
 */
import type { AnyStateMachine, AnyStateNode, StateValue } from 'xstate';
import { cohortReplicatorMachine } from '../../machines/cohortReplicator.machine.js';
import { installerMachine } from '../../machines/installer.machine.js';
import { replicatorServiceMachine } from '../../machines/replicatorService.machine.js';
import { snapshotPersisterMachine } from '../../machines/snapshotPersister.machine.js';
import { statemapQueueMachine } from '../../machines/statemapQueue.machine.js';

export interface StateNodeShape {
  /** Dotted path from the machine root, e.g. `running.flow.paused`. */
  readonly path: string;
  readonly key: string;
  readonly depth: number;
  readonly kind: 'atomic' | 'compound' | 'parallel' | 'final';
}

export interface StatechartShape {
  /** The machine's id (`statemapQueue`). */
  readonly machine: string;
  /** The actor's id in the running system (`queue`), `root` for the replicator itself. */
  readonly actor: string;
  readonly nodes: readonly StateNodeShape[];
}

function nodesOf(node: AnyStateNode, depth: number, out: StateNodeShape[]): StateNodeShape[] {
  for (const child of Object.values(node.states) as AnyStateNode[]) {
    const kind = child.type === 'parallel' ? 'parallel' : child.type === 'final' ? 'final' : Object.keys(child.states).length > 0 ? 'compound' : 'atomic';
    out.push({ path: child.path.join('.'), key: child.key, depth, kind });
    nodesOf(child, depth + 1, out);
  }
  return out;
}

function shapeOf(machine: AnyStateMachine, actor: string): StatechartShape {
  return { machine: machine.id, actor, nodes: nodesOf(machine.root, 0, []) };
}

/** The actors whose statecharts the status page draws, parents first. */
export const STATECHARTS: readonly StatechartShape[] = [
  shapeOf(cohortReplicatorMachine, 'root'),
  shapeOf(replicatorServiceMachine, 'replicator'),
  shapeOf(statemapQueueMachine, 'queue'),
  shapeOf(installerMachine, 'installer'),
  shapeOf(snapshotPersisterMachine, 'persister'),
];

/** Every active state node of a state value, ancestors included: `{running: {flow: 'paused'}}` → running, running.flow, running.flow.paused. */
export function activePaths(value: StateValue | undefined | null): string[] {
  const out: string[] = [];
  const walk = (v: StateValue, prefix: string) => {
    if (typeof v === 'string') {
      out.push(prefix ? `${prefix}.${v}` : v);
      return;
    }
    for (const [key, child] of Object.entries(v)) {
      const path = prefix ? `${prefix}.${key}` : key;
      out.push(path);
      if (child !== undefined) walk(child as StateValue, path);
    }
  };
  if (value !== undefined && value !== null) walk(value, '');
  return out;
}

/** The active leaves only, for one-line descriptions: `running.flow.paused, running.commits.waiting`. */
export function leafPaths(value: StateValue | undefined | null): string[] {
  const all = activePaths(value);
  return all.filter((path) => !all.some((other) => other.startsWith(`${path}.`)));
}
