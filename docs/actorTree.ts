/**
 * The tree of actors a machine invokes, read from its invoke definitions and from the logic
 * registered in `setup({ actors })`, recursing into child machines. Pure; renders a Markdown list.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { stateNodesOf } from './statechartToMermaid.js';

function isMachine(logic: unknown): logic is AnyStateMachine {
  return typeof logic === 'object' && logic !== null && 'root' in logic && 'implementations' in logic;
}

function where(machine: AnyStateMachine, node: AnyStateNode): string {
  return node === machine.root ? 'for its whole life' : `while in \`${node.path.join('.')}\``;
}

/** A nested Markdown list: every invoked actor, where it lives, and what it invokes in turn. */
export function actorTreeOf(machine: AnyStateMachine): string {
  const lines: string[] = [`- \`${machine.id}\` (statechart)`];
  const visit = (current: AnyStateMachine, depth: number, path: readonly AnyStateMachine[]) => {
    const actors = (current.implementations.actors ?? {}) as Record<string, unknown>;
    for (const node of [current.root, ...stateNodesOf(current)]) {
      for (const invoke of node.invoke) {
        const src = typeof invoke.src === 'string' ? invoke.src : invoke.id;
        const logic = typeof invoke.src === 'string' ? actors[invoke.src] : invoke.src;
        const named = /^\d+\./.test(invoke.id) || invoke.id === src ? `\`${src}\`` : `\`${invoke.id}\`: \`${src}\``;
        const kind = !isMachine(logic) ? '' : logic.id === src ? ' (statechart)' : ` (statechart \`${logic.id}\`)`;
        lines.push(`${'  '.repeat(depth)}- ${named}${kind}, invoked by \`${current.id}\` ${where(current, node)}`);
        if (isMachine(logic) && !path.includes(logic)) visit(logic, depth + 1, [...path, logic]);
      }
    }
  };
  visit(machine, 1, [machine]);
  return lines.join('\n');
}
