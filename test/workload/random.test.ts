import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRandom, normalizeSeed, Random, seedFromString } from '../../adapters/workload/random.js';

const draw = (r: Random, n: number): number[] => Array.from({ length: n }, () => r.nextUint32());

describe('seeded random', () => {
  test('same seed, same sequence; different seed, different sequence', () => {
    assert.deepEqual(draw(createRandom(42), 100), draw(createRandom(42), 100));
    assert.deepEqual(draw(createRandom('abc'), 100), draw(createRandom('abc'), 100));
    assert.notDeepEqual(draw(createRandom(42), 100), draw(createRandom(43), 100));
    assert.notDeepEqual(draw(createRandom('abc'), 100), draw(createRandom('abd'), 100));
    assert.notDeepEqual(draw(createRandom(1), 10), draw(createRandom(1 + 2 ** 32), 10), 'high bits of the seed count');
  });

  test('mulberry32 reference values (seed 0: 0.26642920868471265, 0.0003297457005828619, 0.2232720274478197)', () => {
    assert.deepEqual(draw(createRandom(0), 3), [1144304738, 1416247, 958946056]);
    assert.equal(normalizeSeed(12345), 12345);
  });

  test('uuid() has the version-4 layout and is deterministic', () => {
    const a = createRandom(5);
    const u = a.uuid();
    assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(createRandom(5).uuid(), u);
    const seen = new Set(Array.from({ length: 1000 }, () => a.uuid()));
    assert.equal(seen.size, 1000);
  });

  test('roughly uniform', () => {
    const r = createRandom(9);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) buckets[r.int(10)]!++;
    for (const b of buckets) assert.ok(b > 9000 && b < 11000, `bucket ${b}`);
  });

  test('pick() rejects an empty array; seeds must be finite', () => {
    assert.throws(() => createRandom(1).pick([]), RangeError);
    assert.throws(() => createRandom(Number.POSITIVE_INFINITY), RangeError);
    assert.equal(typeof seedFromString(''), 'number');
  });

  test('property: int/intBetween/next stay in range; fork is deterministic', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string()), fc.integer({ min: 1, max: 2 ** 32 }), fc.integer({ min: -1000, max: 1000 }), (seed, max, lo) => {
        const r = createRandom(seed);
        for (let i = 0; i < 50; i++) {
          const x = r.next();
          assert.ok(x >= 0 && x < 1);
          const n = r.int(max);
          assert.ok(Number.isInteger(n) && n >= 0 && n < max);
          const m = r.intBetween(lo, lo + 5);
          assert.ok(m >= lo && m <= lo + 5);
        }
        assert.deepEqual(draw(createRandom(seed).fork(), 5), draw(createRandom(seed).fork(), 5));
      }),
    );
  });
});
