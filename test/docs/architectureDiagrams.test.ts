/**
 * The architecture docs cannot drift from the statecharts: the committed docs/architecture.md
 * and docs/statecharts/*.mmd must equal what the machines generate now (`npm run docs`
 * regenerates them). Plus unit tests of the renderer and of the Mermaid check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { and, fromPromise, not, setup } from 'xstate';
import { ARCHITECTURE_DOC, STATECHART_DIR, documentedMachines, fillGeneratedBlocks, mermaidOf, mmdFileOf } from '../../docs/architectureDoc.js';
import { findRepoRoot } from '../../docs/generate.js';
import { actorTreeOf } from '../../docs/actorTree.js';
import { checkMermaidStateDiagram } from '../../docs/mermaidCheck.js';
import { guardText, mermaidText, statechartSummary, statechartToMermaid } from '../../docs/statechartToMermaid.js';

const root = findRepoRoot(fileURLToPath(import.meta.url));

/** The first line where two texts differ, for a short failure message. */
function firstDifference(actual: string, expected: string): string {
  const a = actual.split('\n');
  const b = expected.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `line ${i + 1}:\n  committed: ${JSON.stringify(a[i])}\n  generated: ${JSON.stringify(b[i])}`;
  }
  return 'no difference';
}

test('docs/architecture.md holds the diagrams the machines generate now', () => {
  const committed = readFileSync(join(root, ARCHITECTURE_DOC), 'utf8');
  const generated = fillGeneratedBlocks(committed);
  assert.ok(committed === generated, `${ARCHITECTURE_DOC} is stale, run \`npm run docs\`; first difference at ${firstDifference(committed, generated)}`);
});

test('docs/statecharts holds exactly one up-to-date .mmd file per documented machine', () => {
  const dir = join(root, STATECHART_DIR);
  for (const entry of documentedMachines) {
    const path = join(dir, `${entry.key}.mmd`);
    assert.ok(existsSync(path), `${STATECHART_DIR}/${entry.key}.mmd is missing, run \`npm run docs\``);
    const committed = readFileSync(path, 'utf8');
    const generated = mmdFileOf(entry);
    assert.ok(committed === generated, `${STATECHART_DIR}/${entry.key}.mmd is stale, run \`npm run docs\`; first difference at ${firstDifference(committed, generated)}`);
  }
  const extra = readdirSync(dir).filter((name) => name.endsWith('.mmd') && !documentedMachines.some((entry) => `${entry.key}.mmd` === name));
  assert.deepEqual(extra, [], 'statecharts of machines that are no longer documented');
});

test('every documented machine renders a diagram that passes the Mermaid check', () => {
  for (const entry of documentedMachines) {
    assert.deepEqual(checkMermaidStateDiagram(mermaidOf(entry)), [], entry.key);
    assert.ok(mermaidOf(entry).includes(`[*] --> `), `${entry.key} shows its initial state`);
  }
});

// A machine with one of everything the renderer handles: nesting, parallel regions, guards with
// an else branch, a named and a numeric delay, always, invoke with done/error, final states, a
// transition declared on the machine root, and an actions-only transition.
const tiny = setup({
  guards: { isReady: () => true, ok: () => false },
  actions: { log: () => {} },
  delays: { tick: 10 },
  actors: { worker: fromPromise(async () => 1) },
}).createMachine({
  id: 'tiny',
  initial: 'idle',
  on: { RESET: '.idle' },
  states: {
    idle: {
      description: 'Waits: for GO.NOW.',
      on: {
        'GO.NOW': [{ guard: 'isReady', target: 'busy' }, { target: 'done' }],
        PING: { actions: 'log' },
      },
    },
    busy: {
      type: 'parallel',
      always: { guard: 'ok', target: 'done' },
      states: {
        timer: {
          initial: 'waiting',
          states: {
            waiting: { after: { tick: 'rang', 500: { guard: 'ok', target: 'rang' } } },
            rang: { type: 'final' },
          },
        },
        work: {
          initial: 'running',
          states: {
            running: { invoke: { src: 'worker', onDone: 'finished', onError: 'finished' } },
            finished: {},
          },
        },
      },
    },
    done: { type: 'final' },
  },
});

test('renders nested, parallel, guarded, delayed, eventless, invoked and final states as Mermaid', () => {
  const expected = [
    'stateDiagram-v2',
    '  state "idle" as idle',
    '  state "busy" as busy {',
    '    state "timer" as busy_timer {',
    '      state "waiting" as busy_timer_waiting',
    '      state "rang" as busy_timer_rang',
    '      [*] --> busy_timer_waiting',
    '      busy_timer_rang --> [*]',
    '    }',
    '    --',
    '    state "work" as busy_work {',
    '      state "running" as busy_work_running',
    '      busy_work_running : invoke worker',
    '      state "finished" as busy_work_finished',
    '      [*] --> busy_work_running',
    '    }',
    '  }',
    '  state "done" as done',
    '  [*] --> idle',
    '  done --> [*]',
    // Declared on the root: drawn from every top-level state it can leave (not its target, not a final state).
    '  busy --> idle : RESET',
    '  idle --> busy : GO.NOW [isReady]',
    '  idle --> done : GO.NOW [else]',
    '  busy --> done : always [ok]',
    '  busy_timer_waiting --> busy_timer_rang : after 500 ms [ok]',
    '  busy_timer_waiting --> busy_timer_rang : after tick',
    '  busy_work_running --> busy_work_finished : done worker',
    '  busy_work_running --> busy_work_finished : error worker',
  ].join('\n');
  const actual = statechartToMermaid(tiny);
  assert.equal(actual, expected);
  assert.deepEqual(checkMermaidStateDiagram(actual), []);
});

test('the summary lists actions-only transitions, invokes and descriptions the diagram leaves out', () => {
  const summary = statechartSummary(tiny);
  assert.match(summary, /\| `idle` \| `PING` \|  \| \(stays\) \| `log` \|/);
  assert.match(summary, /\| `busy\.work\.running` \| atomic \| `worker` \|/);
  assert.match(summary, /\| `idle` \| atomic \|  \|  \| Waits: for GO\.NOW\. \|/);
  assert.match(summary, /\| `\(tiny\)` \| `RESET` \|  \| `idle` \|/);
});

test('labels and guards are made safe for Mermaid', () => {
  assert.equal(mermaidText('a: b; c # d "e" {f} <g> %% h'), "a b, c d 'e' (f) (g) % h");
  assert.equal(mermaidText('set direction LR'), 'set direction-LR');
  assert.equal(guardText('named'), 'named');
  assert.equal(guardText(not('full')), '!full');
  assert.equal(guardText(and(['a', not('b')])), 'a && !b');
  assert.equal(guardText({ type: 'withParams', params: { n: 1 } }), 'withParams');
  assert.equal(guardText(() => true), 'inline guard');
});

test('ids never collide, even when keys repeat at several depths or look like Mermaid keywords', () => {
  const machine = setup({}).createMachine({
    id: 'odd',
    initial: 'state',
    states: {
      state: { initial: 'waiting', states: { waiting: {} } },
      'waiting.x': { initial: 'default', states: { default: {}, 'a-b': {} } },
      waiting: {},
      'a.b': {},
      a_b: {},
    },
  });
  const text = statechartToMermaid(machine);
  assert.deepEqual(checkMermaidStateDiagram(text), [], text);
  assert.match(text, /state "state" as s_state \{/);
  assert.match(text, /state "waiting" as state_waiting/);
  assert.match(text, /state "waiting" as waiting$/m);
  assert.match(text, /state "a\.b" as a_b$/m);
  assert.match(text, /state "a_b" as a_b_2$/m);
  assert.match(text, /state "a-b" as waiting_x_a_b/);
  assert.match(text, /state "default" as waiting_x_default/);
});

test('the Mermaid check catches what mermaid would refuse or misread', () => {
  const problems = checkMermaidStateDiagram([
    'stateDiagram-v2',
    '  state "a" as a {',
    '    state "b" as b',
    '  }',
    '  a : has a description',
    '  b --> c : EVENT: with colon',
    '  --',
    '  state "x" as default_x',
  ].join('\n'));
  assert.ok(problems.some((p) => p.includes('composite state a has a description')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('undeclared state c')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('contains a character')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('"--" outside a composite')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('"default_x" is not a safe mermaid id')), problems.join('\n'));
});

test('generated blocks are replaced between their markers, and bad markers are refused', () => {
  const first = documentedMachines.find((entry) => entry.key === 'queueItem');
  assert.ok(first);
  const doc = `# Title\n\nbefore\n<!-- BEGIN GENERATED: ${first.key} -->\nstale\n<!-- END GENERATED: ${first.key} -->\nafter\n`;
  const filled = fillGeneratedBlocks(doc, [first]);
  assert.ok(filled.startsWith('# Title\n\nbefore\n<!-- BEGIN GENERATED: '));
  assert.ok(filled.endsWith(`<!-- END GENERATED: ${first.key} -->\nafter\n`));
  assert.ok(filled.includes('```mermaid\nstateDiagram-v2\n'));
  assert.ok(!filled.includes('stale'));
  assert.equal(fillGeneratedBlocks(filled, [first]), filled, 'filling is idempotent');
  assert.throws(() => fillGeneratedBlocks(doc, documentedMachines), /no generated block for/);
  assert.throws(() => fillGeneratedBlocks(`<!-- BEGIN GENERATED: nope -->\n<!-- END GENERATED: nope -->`, [first]), /names no generated block/);
  assert.throws(() => fillGeneratedBlocks(`<!-- BEGIN GENERATED: ${first.key} -->\n`, [first]), /never closed/);
  assert.throws(() => fillGeneratedBlocks('no markers\n', documentedMachines.filter((entry) => entry.key === 'cohortReplicator')), /no generated block for cohortReplicator, actors/);
  assert.throws(() => fillGeneratedBlocks(filled + filled, [first]), /appears twice/);
});

test('the actor tree follows invoke definitions into child machines', () => {
  const child = setup({ actors: { leaf: fromPromise(async () => 1) } }).createMachine({ id: 'child', initial: 'a', states: { a: { invoke: { src: 'leaf' } } } });
  const parent = setup({ actors: { child } }).createMachine({ id: 'parent', invoke: { id: 'kid', src: 'child' } });
  assert.equal(actorTreeOf(parent), [
    '- `parent` (statechart)',
    '  - `kid`: `child` (statechart), invoked by `parent` for its whole life',
    '    - `leaf`, invoked by `child` while in `a`',
  ].join('\n'));
});
