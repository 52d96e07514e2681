import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NumberDeque } from '../../machines/structures/numberDeque.js';

function assertSame(deque: NumberDeque, model: readonly number[]): void {
  assert.equal(deque.length, model.length);
  assert.equal(deque.peekFront(), model[0]);
  for (const index of [-1, 0, 1, model.length >> 1, model.length - 1, model.length]) assert.equal(deque.at(index), index < 0 ? undefined : model[index]);
}

test('number deque: pushes, shifts, clears and clones (rings that grow past the kept size, wrap around and shrink) behave as an array', () => {
  const operation = fc.oneof(
    fc.record({ op: fc.constant('push' as const), count: fc.integer({ min: 1, max: 150_000 }) }),
    fc.record({ op: fc.constant('shift' as const), count: fc.integer({ min: 1, max: 150_000 }) }),
    fc.record({ op: fc.constant('clone' as const) }),
    fc.record({ op: fc.constant('clear' as const) }),
  );
  fc.assert(
    fc.property(fc.array(operation, { maxLength: 12 }), (operations) => {
      let deque = new NumberDeque();
      let model: number[] = [];
      let next = 2 ** 40; // beyond 32 bits: kept exactly
      for (const step of operations) {
        if (step.op === 'push') {
          for (let i = 0; i < step.count; i++) {
            deque.push(next);
            model.push(next++);
          }
        } else if (step.op === 'shift') {
          for (let i = 0; i < step.count; i++) assert.equal(deque.shift(), model.shift());
        } else if (step.op === 'clear') {
          deque.clear();
          model = [];
        } else {
          const copy = deque.clone();
          deque.push(-1);
          assertSame(copy, model);
          deque = copy;
        }
        assertSame(deque, model);
      }
      assert.deepEqual(Array.from({ length: deque.length }, (_, i) => deque.at(i)), model);
    }),
    { numRuns: 15 },
  );
});
