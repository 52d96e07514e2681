/**
 * The queue's hot path: the item lifecycle as a transition table over small integers,
 * derived at load time from `queueItemMachine`'s own definition (its state nodes, their
 * transitions and its guard implementations). Nothing here restates a transition: change the
 * machine and this table changes with it. the model-based tests in `test/model/` check
 * that the table and the real machine agree on every path the model-based generator finds.
 */
import type { AnyStateNode } from 'xstate';
import { queueItemMachine, type QueueItemEvent, type QueueItemEventType } from './queueItem.machine.js';

/** A leaf state of the item machine, e.g. `awaiting.ready`. */
export type ItemStateName = 'awaiting.ready' | 'awaiting.backingOff' | 'inflight' | 'installed' | 'failed';
/** Index into `ITEM_STATES`; what the queue stores per item. */
export type ItemState = number & { readonly __itemState: unique symbol };

type Guard = (event: QueueItemEvent) => boolean;
interface Edge {
  readonly guard: Guard | null;
  readonly target: ItemState;
}

function leafNodes(node: AnyStateNode): AnyStateNode[] {
  const children = Object.values(node.states) as AnyStateNode[];
  return children.length === 0 ? [node] : children.flatMap(leafNodes);
}

function resolveLeaf(node: AnyStateNode): AnyStateNode {
  let current = node;
  while (Object.keys(current.states).length > 0) {
    const initial = current.initial?.target?.[0] as AnyStateNode | undefined;
    if (!initial) throw new Error(`state ${current.id} has children but no initial state`);
    current = initial;
  }
  return current;
}

function guardOf(name: unknown): Guard | null {
  if (name === undefined) return null;
  const key = typeof name === 'string' ? name : (name as { type?: string }).type;
  const impl = key ? (queueItemMachine.implementations.guards as Record<string, unknown>)[key] : undefined;
  if (typeof impl !== 'function') throw new Error(`queue item guard ${String(key)} has no implementation`);
  return (event) => Boolean((impl as (args: unknown, params: unknown) => boolean)({ context: undefined, event }, undefined));
}

const leaves = leafNodes(queueItemMachine.root);
const stateNames = leaves.map((leaf) => leaf.path.join('.') as ItemStateName);
const codeOfNode = new Map(leaves.map((leaf, index) => [leaf, index as ItemState]));
const eventTypes = [...new Set(leaves.flatMap((leaf) => {
  const types: string[] = [];
  for (let node: AnyStateNode | undefined = leaf; node; node = node.parent) types.push(...node.transitions.keys());
  return types;
}))] as QueueItemEventType[];

/** table[state][eventType] = the edges to try in order: the leaf's own first, then its ancestors' (XState's priority). */
const table: ReadonlyArray<Readonly<Partial<Record<QueueItemEventType, readonly Edge[]>>>> = leaves.map((leaf) => {
  const row: Partial<Record<QueueItemEventType, Edge[]>> = {};
  for (let node: AnyStateNode | undefined = leaf; node; node = node.parent) {
    for (const [eventType, transitions] of node.transitions) {
      const edges = (row[eventType as QueueItemEventType] ??= []);
      for (const transition of transitions) {
        const targetNode = transition.target?.[0] as AnyStateNode | undefined;
        const target = targetNode ? codeOfNode.get(resolveLeaf(targetNode)) : codeOfNode.get(leaf);
        if (target === undefined) throw new Error(`cannot resolve target of ${eventType} in ${leaf.id}`);
        edges.push({ guard: guardOf(transition.guard), target });
      }
    }
  }
  return row;
});

function codeOf(name: ItemStateName): ItemState {
  const index = stateNames.indexOf(name);
  if (index < 0) throw new Error(`queue item machine has no state ${name}`);
  return index as ItemState;
}

/** The state codes the queue needs by name; looked up once, so a renamed state fails at load time. */
export const ItemStates = {
  ready: codeOf('awaiting.ready'),
  backingOff: codeOf('awaiting.backingOff'),
  inflight: codeOf('inflight'),
  installed: codeOf('installed'),
  failed: codeOf('failed'),
} as const;

export const ITEM_STATES: readonly ItemStateName[] = stateNames;
export const ITEM_EVENT_TYPES: readonly QueueItemEventType[] = eventTypes;
export const initialItemState: ItemState = codeOfNode.get(resolveLeaf(queueItemMachine.root))!;

/** The next state, or the same one when the event is not accepted there (as XState ignores it). */
export function nextItemState(state: ItemState, event: QueueItemEvent): ItemState {
  const edges = table[state]?.[event.type];
  if (edges) {
    for (const edge of edges) if (edge.guard === null || edge.guard(event)) return edge.target;
  }
  return state;
}

/** Whether the event changes anything in this state; the queue treats a refused event as a bug. */
export function acceptsItemEvent(state: ItemState, event: QueueItemEvent): boolean {
  const edges = table[state]?.[event.type];
  return edges !== undefined && edges.some((edge) => edge.guard === null || edge.guard(event));
}

export function itemStateName(state: ItemState): ItemStateName {
  return stateNames[state]!;
}
