/**
 * Renders an XState v5 machine definition as a Mermaid `stateDiagram-v2` diagram, and as a
 * Markdown summary of its states and transitions. Pure: same machine in, same text out; no I/O.
 *
 * It reads only the machine's state nodes (`machine.root`, `states`, `transitions`, `always`,
 * `after`, `invoke`, `initial`, `type`, `entry`, `exit`, `description`), so the pictures in
 * docs/architecture.md follow the statecharts the replicator actually runs.
 *
 * Mermaid conventions used (checked against mermaid's stateDiagram grammar, see mermaidCheck.ts):
 * - a state's Mermaid id is its path joined with `_` (ids are global in a diagram, and XState
 *   reuses keys such as `waiting` at several depths); its label is its own key;
 * - every leaf is declared as `state "key" as id`, every compound or parallel state as
 *   `state "key" as id { ... }`, parallel regions separated by `--`;
 * - `[*] --> x` inside a composite marks its initial state, `x --> [*]` a final state;
 * - every transition is written at the top level of the diagram, after all declarations, so a
 *   reference never moves a state into another composite;
 * - labels: `EVENT [guard]`, `[else]` for the fallback after guarded alternatives,
 *   `after delayName`, `always [guard]`, `done src` / `error src` for invoked actors;
 * - a transition declared on the machine itself is drawn from every top-level state it can
 *   leave (not final, not its own target, not handling the event itself unguarded);
 * - a leaf that invokes an actor carries `invoke src` as its description line;
 * - transitions without a target (actions only) are not drawn: the Markdown summary lists them.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';

/** The part of a TransitionDefinition this module reads. */
interface TransitionLike {
  readonly target?: readonly AnyStateNode[] | undefined;
  readonly guard?: unknown;
  readonly actions: readonly unknown[];
  readonly reenter: boolean;
  readonly eventType: string;
}

/** One transition as the diagram and the summary see it. */
export interface TransitionInfo {
  /** The state node that declares it. */
  readonly owner: AnyStateNode;
  /** `DISPATCH`, `after cleanupInterval`, `always`, `done readSnapshot`, ... */
  readonly event: string;
  /** `hasFailure`, `else` (the fallback after guarded alternatives), or null. */
  readonly guard: string | null;
  /** Empty for a transition that only runs actions. */
  readonly targets: readonly AnyStateNode[];
  readonly reenter: boolean;
  readonly actions: readonly string[];
}

const RESERVED_IDS = new Set(['state', 'note', 'class', 'classdef', 'scale', 'direction', 'style', 'click', 'root', 'hide', 'end', 'as']);

function childrenOf(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states) as AnyStateNode[];
}

function hasChildren(node: AnyStateNode): boolean {
  return Object.keys(node.states).length > 0;
}

/** Every state node under the root, depth first, in definition order (the root excluded). */
export function stateNodesOf(machine: AnyStateMachine): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  const visit = (node: AnyStateNode) => {
    for (const child of childrenOf(node)) {
      out.push(child);
      visit(child);
    }
  };
  visit(machine.root);
  return out;
}

/** A Mermaid id for every state: its path joined with `_`, made safe and unique. */
function assignIds(machine: AnyStateMachine): Map<AnyStateNode, string> {
  const ids = new Map<AnyStateNode, string>();
  const taken = new Set<string>();
  for (const node of stateNodesOf(machine)) {
    let id = node.path.map((segment) => segment.replace(/[^A-Za-z0-9_]/g, '_')).join('_');
    // Mermaid's lexer reads these as keywords; `[*]` nodes get ids `<parent>_start` / `_end`.
    if (!/^[A-Za-z]/.test(id) || RESERVED_IDS.has(id.toLowerCase()) || /^default/i.test(id)) id = `s_${id}`;
    if (/_(start|end)$/.test(id)) id = `${id}_`;
    let unique = id;
    for (let n = 2; taken.has(unique); n += 1) unique = `${id}_${n}`;
    taken.add(unique);
    ids.set(node, unique);
  }
  return ids;
}

/** Text that is safe after ` : ` in a Mermaid state diagram line, and inside `state "..."`. */
export function mermaidText(text: string): string {
  return text
    .replace(/\r?\n/g, ' ')
    .replace(/%%/g, '%')
    .replace(/[:;#"{}<>]/g, (c) => ({ ':': ' ', ';': ',', '#': '', '"': "'", '{': '(', '}': ')', '<': '(', '>': ')' })[c]!)
    .replace(/direction(\s+)(TB|BT|RL|LR)/gi, 'direction-$2')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The name of a guard: a named guard, `!g`, `a && b`, `a || b`, or `inline guard`. */
export function guardText(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const fn = guard as { name?: string; guards?: readonly unknown[] };
    const parts = Array.isArray(fn.guards) ? fn.guards.map((g) => {
      const text = guardText(g);
      return /\s/.test(text) ? `(${text})` : text;
    }) : null;
    if (parts && fn.name === 'not') return `!${parts[0] ?? '?'}`;
    if (parts && fn.name === 'and') return parts.join(' && ');
    if (parts && fn.name === 'or') return parts.join(' || ');
    // An inline arrow function gets the name of the property it was written in (`guard`).
    if (fn.name && !['guard', 'anonymous', 'check'].includes(fn.name)) return fn.name;
    return 'inline guard';
  }
  if (guard && typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'guard';
}

/** The name of an action: a named action, `assign(...)`-style for inline built-ins, or `inline action`. */
export function actionText(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') {
    const fn = action as { name?: string; type?: unknown; to?: unknown; event?: unknown };
    if (typeof fn.type === 'string' && fn.type.startsWith('xstate.')) {
      const kind = fn.type.slice('xstate.'.length);
      const eventType = fn.event && typeof fn.event === 'object' && typeof (fn.event as { type?: unknown }).type === 'string' ? (fn.event as { type: string }).type : null;
      if (kind === 'sendTo' && fn.to === '#_parent') return `sendParent(${eventType ?? '...'})`;
      if (kind === 'sendTo' && typeof fn.to === 'string') return `sendTo(${fn.to}${eventType ? `, ${eventType}` : ''})`;
      if (kind === 'raise' && eventType) return `raise(${eventType})`;
      return `${kind}(...)`;
    }
    if (fn.name && !['actions', 'entry', 'exit', 'anonymous'].includes(fn.name)) return fn.name;
    return 'inline action';
  }
  if (action && typeof action === 'object' && typeof (action as { type?: unknown }).type === 'string') return (action as { type: string }).type;
  return 'action';
}

/** The source name of an invoked actor: its logic's key in `setup({ actors })`, else its id. */
function invokeSource(invoke: { id: string; src: unknown }): string {
  return typeof invoke.src === 'string' ? invoke.src : invoke.id;
}

function findInvoke(machine: AnyStateMachine, owner: AnyStateNode, id: string): { id: string; src: unknown } | undefined {
  const own = owner.invoke.find((invoke) => invoke.id === id);
  if (own) return own;
  for (const node of [machine.root, ...stateNodesOf(machine)]) {
    const found = node.invoke.find((invoke) => invoke.id === id);
    if (found) return found;
  }
  return undefined;
}

/** A readable event label: `xstate.after.*`, `xstate.done.actor.*` and friends get short names. */
export function eventText(machine: AnyStateMachine, owner: AnyStateNode, eventType: string): string {
  if (eventType.startsWith('xstate.after.')) {
    const delay = owner.after.find((after) => after.eventType === eventType)?.delay;
    if (typeof delay === 'string') return `after ${delay}`;
    if (typeof delay === 'number') return `after ${delay} ms`;
    return 'after (computed delay)';
  }
  for (const [prefix, word] of [['xstate.done.actor.', 'done'], ['xstate.error.actor.', 'error'], ['xstate.snapshot.', 'snapshot']] as const) {
    if (eventType.startsWith(prefix)) {
      const id = eventType.slice(prefix.length);
      const invoke = findInvoke(machine, owner, id);
      return `${word} ${invoke ? invokeSource(invoke) : id}`;
    }
  }
  if (eventType.startsWith('xstate.done.state.')) return 'done';
  if (eventType === '*') return 'any event';
  return eventType;
}

/** The transitions a state node declares, in definition order (`on`, delays, invoke results, then `always`). */
export function transitionsOf(machine: AnyStateMachine, owner: AnyStateNode): TransitionInfo[] {
  const out: TransitionInfo[] = [];
  const add = (event: string, list: readonly TransitionLike[]) => {
    let guardedBefore = false;
    for (const transition of list) {
      const guard = transition.guard !== undefined ? guardText(transition.guard) : guardedBefore ? 'else' : null;
      if (transition.guard !== undefined) guardedBefore = true;
      out.push({
        owner,
        event,
        guard,
        targets: transition.target ?? [],
        reenter: transition.reenter,
        actions: transition.actions.map(actionText),
      });
    }
  };
  for (const [eventType, list] of owner.transitions as Map<string, readonly TransitionLike[]>) add(eventText(machine, owner, eventType), list);
  if (owner.always) add('always', owner.always as readonly TransitionLike[]);
  return out;
}

/** Entry or exit actions, without the raise/cancel pairs XState adds for `after` timers. */
function ownActions(owner: AnyStateNode, which: 'entry' | 'exit'): string[] {
  const timers = new Set(owner.after.map((after) => after.eventType as string));
  return (owner[which] as readonly unknown[])
    .filter((action) => {
      const fn = action as { type?: unknown; id?: unknown; sendId?: unknown };
      if (typeof action !== 'function') return true;
      if (fn.type === 'xstate.raise' && typeof fn.id === 'string' && timers.has(fn.id)) return false;
      if (fn.type === 'xstate.cancel' && typeof fn.sendId === 'string' && timers.has(fn.sendId)) return false;
      return true;
    })
    .map(actionText);
}

function edgeLabel(transition: TransitionInfo): string {
  return mermaidText(transition.guard ? `${transition.event} [${transition.guard}]` : transition.event);
}

/** Whether a top-level state takes `event` itself, unguarded, so a machine-level transition never leaves it. */
function shadows(machine: AnyStateMachine, state: AnyStateNode, event: string): boolean {
  return transitionsOf(machine, state).some((transition) => transition.event === event && transition.guard === null);
}

/** The Mermaid `stateDiagram-v2` text of a machine (no trailing newline). */
export function statechartToMermaid(machine: AnyStateMachine): string {
  const ids = assignIds(machine);
  const idOf = (node: AnyStateNode): string => {
    const id = ids.get(node);
    if (id === undefined) throw new Error(`state ${node.id} is not part of machine ${machine.id}`);
    return id;
  };
  const lines: string[] = ['stateDiagram-v2'];

  /** The direct child of `parent` that is or contains `node`. */
  const childContaining = (parent: AnyStateNode, node: AnyStateNode): AnyStateNode | undefined => {
    let current: AnyStateNode | undefined = node;
    while (current && current.parent !== parent) current = current.parent;
    return current;
  };

  const declareChildren = (parent: AnyStateNode, indent: string) => {
    const children = childrenOf(parent);
    children.forEach((child, index) => {
      if (parent.type === 'parallel' && index > 0) lines.push(`${indent}--`);
      const label = mermaidText(child.type === 'history' ? `${child.key} (history)` : child.key);
      if (hasChildren(child)) {
        lines.push(`${indent}state "${label}" as ${idOf(child)} {`);
        declareChildren(child, `${indent}  `);
        lines.push(`${indent}}`);
      } else {
        lines.push(`${indent}state "${label}" as ${idOf(child)}`);
        for (const invoke of child.invoke) lines.push(`${indent}${idOf(child)} : ${mermaidText(`invoke ${invokeSource(invoke)}`)}`);
      }
    });
    if (parent.type === 'compound') {
      const initial = parent.initial?.target?.[0] as AnyStateNode | undefined;
      const entry = initial ? childContaining(parent, initial) : undefined;
      if (entry) lines.push(`${indent}[*] --> ${idOf(entry)}`);
    }
    for (const child of children) if (child.type === 'final') lines.push(`${indent}${idOf(child)} --> [*]`);
  };
  declareChildren(machine.root, '  ');

  const topLevel = childrenOf(machine.root);
  for (const owner of [machine.root, ...stateNodesOf(machine)]) {
    for (const transition of transitionsOf(machine, owner)) {
      const label = edgeLabel(transition);
      for (const target of transition.targets) {
        if (target === machine.root) continue; // a transition to the machine itself cannot be drawn; the summary lists it
        const sources = owner === machine.root
          ? topLevel.filter((state) => state.type !== 'final' && state !== childContaining(machine.root, target) && !shadows(machine, state, transition.event))
          : [owner];
        for (const source of sources) lines.push(`  ${idOf(source)} --> ${idOf(target)} : ${label}`);
      }
    }
  }
  return lines.join('\n');
}

function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').trim();
}

function code(text: string): string {
  return `\`${text.replace(/`/g, "'")}\``;
}

function statePath(machine: AnyStateMachine, node: AnyStateNode): string {
  return node === machine.root ? `(${machine.id})` : node.path.join('.');
}

function kindText(node: AnyStateNode): string {
  if (node.type === 'compound') {
    const initial = node.initial?.target?.[0] as AnyStateNode | undefined;
    return initial ? `compound, starts in ${code(initial.path.slice(node.path.length).join('.'))}` : 'compound';
  }
  return node.type;
}

/**
 * A Markdown summary of the machine: one table of states (kind, invoked actors, entry/exit
 * actions, description) and one of every transition with its guard and actions.
 */
export function statechartSummary(machine: AnyStateMachine): string {
  const nodes = [machine.root, ...stateNodesOf(machine)];
  const states = ['| State | Kind | Invokes | Entry / exit | Description |', '|---|---|---|---|---|'];
  for (const node of nodes) {
    const invokes = node.invoke.map((invoke) => (invoke.id === invokeSource(invoke) || /^\d+\./.test(invoke.id) ? code(invokeSource(invoke)) : `${code(invoke.id)}: ${code(invokeSource(invoke))}`));
    const entry = ownActions(node, 'entry').map((name) => `entry ${code(name)}`);
    const exit = ownActions(node, 'exit').map((name) => `exit ${code(name)}`);
    states.push(`| ${code(statePath(machine, node))} | ${cell(kindText(node))} | ${cell(invokes.join(', '))} | ${cell([...entry, ...exit].join(', '))} | ${cell(node.description ?? '')} |`);
  }
  const transitions = ['| From | Event | Guard | To | Actions |', '|---|---|---|---|---|'];
  for (const node of nodes) {
    for (const transition of transitionsOf(machine, node)) {
      const to = transition.targets.length === 0
        ? '(stays)'
        : transition.targets.map((target) => code(statePath(machine, target)) + (transition.reenter ? ' (re-entered)' : '')).join(', ');
      transitions.push(`| ${code(statePath(machine, node))} | ${code(transition.event)} | ${transition.guard ? code(transition.guard) : ''} | ${cell(to)} | ${cell(transition.actions.map(code).join(', '))} |`);
    }
  }
  return [...states, '', ...transitions].join('\n');
}
