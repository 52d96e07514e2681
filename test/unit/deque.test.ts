import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Deque } from '../../machines/structures/deque.js';

type Operation =
  | { readonly op: 'push'; readonly count: number }
  | { readonly op: 'shift' }
  | { readonly op: 'shiftMany'; readonly count: number }
  | { readonly op: 'set'; readonly at: number }
  | { readonly op: 'clone' }
  | { readonly op: 'clear' };

const operation = fc.oneof(
  fc.record({ op: fc.constant('push' as const), count: fc.integer({ min: 1, max: 3_000 }) }),
  fc.record({ op: fc.constant('shift' as const) }),
  fc.record({ op: fc.constant('shiftMany' as const), count: fc.integer({ min: -1, max: 3_000 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('clone' as const) }),
  fc.record({ op: fc.constant('clear' as const) }),
);

function assertSame(deque: Deque<number>, model: readonly number[]): void {
  assert.equal(deque.length, model.length);
  assert.deepEqual([...deque], model);
  assert.equal(deque.peekFront(), model[0]);
  assert.equal(deque.peekBack(), model.at(-1));
  for (const index of [-1, 0, 1, model.length - 1, model.length, model.length + 5]) assert.equal(deque.at(index), index < 0 ? undefined : model[index]);
}

test('deque: any mix of pushes, shifts, shiftMany, sets, clears and clones (rings that grow, wrap around and shrink) behaves as an array', () => {
  fc.assert(
    fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
      let deque = new Deque<number>();
      let model: number[] = [];
      let next = 0;
      for (const step of operations) {
        if (step.op === 'push') {
          for (let i = 0; i < step.count; i++) {
            deque.push(next);
            model.push(next++);
          }
        } else if (step.op === 'shift') {
          assert.equal(deque.shift(), model.shift());
        } else if (step.op === 'shiftMany') {
          const expected = model.slice(0, Math.max(0, step.count));
          model = model.slice(expected.length);
          assert.deepEqual(deque.shiftMany(step.count), expected);
        } else if (step.op === 'set') {
          if (model.length === 0) {
            assert.throws(() => deque.set(0, -2), RangeError);
          } else {
            const index = step.at % model.length;
            deque.set(index, -2);
            model[index] = -2;
          }
        } else if (step.op === 'clear') {
          assert.deepEqual(deque.clear(), model);
          model = [];
        } else {
          const copy = deque.clone();
          // The copy is independent: what the original does next leaves it as it was.
          deque.push(-1);
          deque.shift();
          assertSame(copy, model);
          model = [...model, -1].slice(1);
        }
        assertSame(deque, model);
      }
    }),
    { numRuns: 300 },
  );
});

test('deque: a deep backlog that drains (the ring grows to a million slots, then halves as it empties) keeps its order throughout', () => {
  const deque = new Deque<number>();
  for (let i = 0; i < 1_000_000; i++) deque.push(i);
  for (let i = 0; i < 999_990; i++) assert.equal(deque.shift(), i);
  for (let i = 1_000_000; i < 1_000_005; i++) deque.push(i);
  assert.deepEqual([...deque], Array.from({ length: 15 }, (_, k) => 999_990 + k));
  assert.deepEqual(deque.shiftMany(100), Array.from({ length: 15 }, (_, k) => 999_990 + k));
  assert.equal(deque.length, 0);
});
