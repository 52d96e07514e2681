import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RunDeque } from '../../machines/structures/runDeque.js';

test('run deque: pushes (repeats kept once per run), shifts, clears and clones behave as an array, and a run number gets its value while held', () => {
  const operation = fc.oneof(
    fc.record({ op: fc.constant('push' as const), value: fc.constantFrom('a', 'b', 'c'), times: fc.integer({ min: 1, max: 400 }) }),
    fc.record({ op: fc.constant('shift' as const), count: fc.integer({ min: 1, max: 500 }) }),
    fc.record({ op: fc.constant('clone' as const) }),
    fc.record({ op: fc.constant('clear' as const) }),
  );
  fc.assert(
    fc.property(fc.array(operation, { maxLength: 30 }), (operations) => {
      let deque = new RunDeque<string>();
      // The model: every value held, with the run number push gave it.
      let model: { value: string; run: number }[] = [];
      for (const step of operations) {
        if (step.op === 'push') {
          for (let k = 0; k < step.times; k++) {
            const run = deque.push(step.value);
            const last = model.at(-1);
            // Same run exactly when the value repeats the one held just before it.
            if (last !== undefined && last.value === step.value) assert.equal(run, last.run);
            else if (last !== undefined) assert.equal(run, last.run + 1);
            model.push({ value: step.value, run });
          }
        } else if (step.op === 'shift') {
          for (let k = 0; k < step.count; k++) assert.equal(deque.shift(), model.shift()?.value);
        } else if (step.op === 'clear') {
          deque.clear();
          model = [];
        } else {
          const copy = deque.clone();
          deque.push('z');
          assert.deepEqual([...copy], model.map((entry) => entry.value));
          deque = copy;
        }
        assert.equal(deque.length, model.length);
        assert.deepEqual([...deque], model.map((entry) => entry.value));
        for (const entry of model) assert.equal(deque.get(entry.run), entry.value);
      }
      if (model.length > 0) assert.throws(() => deque.get(model[0]!.run - 1), RangeError);
    }),
    { numRuns: 200 },
  );
});
