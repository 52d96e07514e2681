/**
 * A structural check of the Mermaid `stateDiagram-v2` subset that statechartToMermaid emits.
 * Not a Mermaid parser (none is installed here); it enforces the rules of mermaid's state
 * diagram lexer (packages/mermaid/src/diagrams/state/parser/stateDiagram.jison) that the
 * generated text could break:
 * - an id is one token of `[^:\n\s\-\{]+`; we demand `[A-Za-z][A-Za-z0-9_]*` and no keyword;
 * - a transition or description label is `":"[^:\n;]+`: no `:` or `;`; we also refuse `#`
 *   (comments), `%%` (comments), `{ } < > "` and `direction XX` (read as a direction statement);
 * - a quoted state label is `["][^"]*["]`;
 * - `--` (concurrency divider) only inside a composite; braces balance;
 * - a composite state takes no description line (mermaid 11 throws "Group nodes can only
 *   have label");
 * - every state used in a transition is declared, once, and `[*] --> x` / `x --> [*]` inside a
 *   composite name a state declared in that same composite.
 * Returns the problems found, each naming its line; an empty list means the text passed.
 */

const ID = '[A-Za-z][A-Za-z0-9_]*';
const RESERVED = /^(state|note|class|classdef|scale|direction|style|click|root|hide|end|as)$|^default/i;

function labelProblem(label: string): string | null {
  if (label.length === 0) return 'empty label';
  if (/[:;#{}<>"\n]/.test(label)) return `label ${JSON.stringify(label)} contains a character mermaid's lexer does not allow there`;
  if (label.includes('%%')) return `label ${JSON.stringify(label)} contains %% (a comment)`;
  if (/direction\s+(TB|BT|RL|LR)/i.test(label)) return `label ${JSON.stringify(label)} would be read as a direction statement`;
  return null;
}

export function checkMermaidStateDiagram(text: string): string[] {
  const problems: string[] = [];
  const lines = text.split('\n');
  if (lines[0] !== 'stateDiagram-v2') problems.push('line 1: must be "stateDiagram-v2"');

  /** Stack of open composites; '' is the top level. */
  const stack: string[] = [''];
  const declared = new Map<string, { composite: boolean; parent: string }>();
  const described = new Set<string>();
  const relations: { line: number; from: string; to: string; scope: string }[] = [];

  const badId = (id: string): boolean => !new RegExp(`^${ID}$`).test(id) || RESERVED.test(id);
  const declare = (id: string, composite: boolean, line: number) => {
    if (badId(id)) problems.push(`line ${line}: state id ${JSON.stringify(id)} is not a safe mermaid id`);
    if (declared.has(id)) problems.push(`line ${line}: state ${id} is declared twice`);
    declared.set(id, { composite, parent: stack[stack.length - 1]! });
  };

  lines.slice(1).forEach((raw, index) => {
    const line = index + 2;
    const text = raw.trim();
    if (text === '') return;
    let match: RegExpMatchArray | null;
    if ((match = text.match(new RegExp(`^state "([^"]*)" as (${ID}) \\{$`)))) {
      const problem = labelProblem(match[1]!);
      if (problem) problems.push(`line ${line}: ${problem}`);
      declare(match[2]!, true, line);
      stack.push(match[2]!);
    } else if ((match = text.match(new RegExp(`^state "([^"]*)" as (${ID})$`)))) {
      const problem = labelProblem(match[1]!);
      if (problem) problems.push(`line ${line}: ${problem}`);
      declare(match[2]!, false, line);
    } else if (text === '}') {
      if (stack.length === 1) problems.push(`line ${line}: "}" closes nothing`);
      else stack.pop();
    } else if (text === '--') {
      if (stack.length === 1) problems.push(`line ${line}: "--" outside a composite state`);
    } else if ((match = text.match(/^(\S+) --> (\S+)(?: : (.*))?$/))) {
      const [, from, to, label] = match as unknown as [string, string, string, string | undefined];
      for (const id of [from, to]) if (id !== '[*]' && badId(id)) problems.push(`line ${line}: state id ${JSON.stringify(id)} is not a safe mermaid id`);
      if (label !== undefined) {
        const problem = labelProblem(label);
        if (problem) problems.push(`line ${line}: ${problem}`);
      }
      relations.push({ line, from, to, scope: stack[stack.length - 1]! });
    } else if ((match = text.match(new RegExp(`^(${ID}) : (.*)$`)))) {
      const problem = labelProblem(match[2]!);
      if (problem) problems.push(`line ${line}: ${problem}`);
      described.add(match[1]!);
    } else {
      problems.push(`line ${line}: not a recognised statement: ${JSON.stringify(text)}`);
    }
  });
  if (stack.length !== 1) problems.push(`end: ${stack.length - 1} composite state(s) left open`);

  for (const id of described) {
    const state = declared.get(id);
    if (!state) problems.push(`state ${id} has a description but is never declared`);
    else if (state.composite) problems.push(`composite state ${id} has a description line (mermaid refuses that)`);
  }
  for (const { line, from, to, scope } of relations) {
    for (const id of [from, to]) {
      if (id === '[*]') continue;
      const state = declared.get(id);
      if (!state) problems.push(`line ${line}: transition uses undeclared state ${id}`);
      else if (scope !== '' && state.parent !== scope) problems.push(`line ${line}: inside ${scope}, ${id} belongs to ${state.parent || 'the top level'} (the reference would move it)`);
    }
    if (from === '[*]' && to === '[*]') problems.push(`line ${line}: [*] --> [*]`);
  }
  return problems;
}
