/**
 * The queue's scheduling against a brute-force reference, over random histories: after every
 * step, the items dispatched so far are exactly the items that have been eligible (every queued
 * version at or below the safepoint installed), none twice, and the snapshot is the last
 * contiguous installed version. Safepoints reach far back (up to the whole queue), so waiting
 * items hang behind anchors anywhere in it, including ones a refreshed snapshot covers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Version } from '../../machines/domain.js';
import { StatemapQueue, type QueueEntry } from '../../machines/statemapQueue.js';

type Step = { readonly kind: 'accept'; readonly count: number } | { readonly kind: 'install'; readonly pick: number } | { readonly kind: 'cover'; readonly ahead: number };

const historyArb = fc.record({
  // Per version: how far back its safepoint lies (0: none), and whether it has a statemap.
  versions: fc.array(fc.record({ back: fc.oneof({ weight: 4, arbitrary: fc.nat(40) }, { weight: 1, arbitrary: fc.integer({ min: 41, max: 300_000 }) }), empty: fc.boolean() }), { minLength: 1, maxLength: 60 }),
  // Mostly small gaps, now and then a huge one: the queue's searches guess from the average gap, and must not rely on it.
  gaps: fc.array(fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 4, max: 100_000 }) }), { minLength: 60, maxLength: 60 }),
  steps: fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('accept' as const), count: fc.integer({ min: 1, max: 8 }) }) },
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('install' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('cover' as const), ahead: fc.integer({ min: 1, max: 6 }) }) },
    ),
    { maxLength: 200 },
  ),
});

test('scheduling: dispatched exactly when eligible, each once, with safepoints anywhere in a deep queue', () => {
  fc.assert(
    fc.property(historyArb, ({ versions, gaps, steps }) => {
      // Versions with holes between them (decision offsets, and now and then a long run of them).
      const entries: QueueEntry[] = [];
      let version = 10;
      versions.forEach(({ back, empty }, index) => {
        version += gaps[index]!;
        const safepoint = back === 0 ? null : Math.max(0, version - back);
        entries.push({ version, safepoint, statemap: empty ? [] : [{ PUT: { v: version } }] });
      });
      const queue = new StatemapQueue(9);
      let accepted = 0;
      /** Installed through an install, or covered by a refreshed snapshot while not in flight. */
      const done = new Set<Version>();
      const dispatched = new Set<Version>();
      const inflight: Version[] = [];
      const waitsFor = (entry: QueueEntry): Version | null =>
        entry.safepoint === null || (Array.isArray(entry.statemap) && entry.statemap.length === 0) ? null : Math.min(entry.safepoint, entry.version - 1);
      const queued = () => entries.slice(0, accepted);
      const eligible = (entry: QueueEntry) => {
        const waits = waitsFor(entry);
        return waits === null || queued().every((other) => other.version > waits || done.has(other.version));
      };
      const check = () => {
        for (const job of queue.takeReady()) {
          const entry = entries.find((e) => e.version === job.version)!;
          assert.ok(!dispatched.has(job.version), `version ${job.version} dispatched twice`);
          assert.ok(!done.has(job.version), `version ${job.version} dispatched after it was covered`);
          assert.ok(eligible(entry), `version ${job.version} dispatched before every version up to ${waitsFor(entry)} was installed`);
          dispatched.add(job.version);
          inflight.push(job.version);
        }
        for (const entry of queued()) {
          if (!dispatched.has(entry.version) && !done.has(entry.version)) assert.ok(!eligible(entry), `version ${entry.version} is eligible and was not dispatched`);
        }
        let snapshot = 9;
        for (const entry of queued()) {
          if (!done.has(entry.version)) break;
          snapshot = entry.version;
        }
        assert.equal(queue.snapshot, snapshot);
      };
      const install = (version: Version) => {
        done.add(version);
        queue.settle([{ version, ok: true }], Infinity);
      };
      for (const step of steps) {
        if (step.kind === 'accept' && accepted < entries.length) {
          const batch = entries.slice(accepted, accepted + step.count);
          accepted += batch.length;
          queue.accept(batch);
        } else if (step.kind === 'install' && inflight.length > 0) {
          install(inflight.splice(step.pick % inflight.length, 1)[0]!);
        } else if (step.kind === 'cover' && accepted > 0) {
          // A refreshed snapshot up to a queued version a few past the snapshot: what is not in flight under it counts as installed.
          const from = queued().findIndex((entry) => entry.version > queue.snapshot);
          const target = from === -1 ? undefined : queued()[Math.min(accepted - 1, from + step.ahead)];
          if (target) {
            for (const entry of queued()) if (entry.version <= target.version && !inflight.includes(entry.version)) done.add(entry.version);
            queue.coverUpTo(target.version);
          }
        }
        check();
      }
      // Everything accepted drains once every install answers (accepting the rest first).
      if (accepted < entries.length) {
        queue.accept(entries.slice(accepted));
        accepted = entries.length;
        check();
      }
      while (inflight.length > 0) {
        install(inflight.shift()!);
        check();
      }
      assert.equal(queue.snapshot, entries.at(-1)!.version);
      assert.equal((queue.toJSON() as { waiting: number }).waiting, 0);
    }),
    { numRuns: 300 },
  );
});

test('scheduling: a queue 300 000 deep (its columns grow, wrap around and shrink again) dispatches each version once, only when eligible, and drains', () => {
  // A fixed pseudo-random history: safepoints up to 2 000 versions back, installs answered in a shuffled order.
  let seed = 42;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const total = 300_000;
  const queue = new StatemapQueue(0);
  /** Versions 2, 4, 6, ...: index i holds version 2 (i + 1). */
  const installed = new Uint8Array(total);
  const dispatched = new Uint8Array(total);
  let contiguous = 0;
  const safepointOf = new Float64Array(total);
  const inflight: number[] = [];
  const take = () => {
    for (const job of queue.takeReady()) {
      const i = job.version / 2 - 1;
      assert.equal(dispatched[i], 0, `version ${job.version} dispatched twice`);
      const waits = Math.min(safepointOf[i]!, job.version - 1);
      assert.ok(waits < 2 * (contiguous + 1), `version ${job.version} dispatched before ${waits} was installed`);
      assert.equal(job.safepoint, safepointOf[i]);
      dispatched[i] = 1;
      inflight.push(job.version);
    }
  };
  const answer = (count: number) => {
    const outcomes = [];
    for (let k = 0; k < count && inflight.length > 0; k++) {
      const at = Math.floor(random() * inflight.length);
      const version = inflight[at]!;
      inflight[at] = inflight.at(-1)!;
      inflight.pop();
      installed[version / 2 - 1] = 1;
      outcomes.push({ version, ok: true as const });
    }
    queue.settle(outcomes, Infinity);
    while (contiguous < total && installed[contiguous]) contiguous += 1;
    assert.equal(queue.snapshot, 2 * contiguous);
  };
  for (let start = 0; start < total; start += 1_000) {
    const entries: QueueEntry[] = [];
    for (let i = start; i < start + 1_000; i++) {
      const version = 2 * (i + 1);
      safepointOf[i] = Math.max(0, version - 2 * Math.floor(random() * 2_000));
      entries.push({ version, safepoint: safepointOf[i]!, statemap: [{ PUT: { v: version } }] });
    }
    queue.accept(entries);
    take();
    // Installs answer more slowly than versions arrive, so the queue grows deep.
    answer(200);
    take();
  }
  assert.ok(queue.size > 200_000, `the queue grew deep (${queue.size})`);
  while (queue.size > 0) {
    answer(5_000);
    take();
  }
  assert.equal(queue.snapshot, 2 * total);
  assert.ok(dispatched.every((flag) => flag === 1));
  assert.deepEqual(queue.toJSON(), { snapshot: 2 * total, size: 0, ready: 0, waiting: 0, counts: queue.counts() });
});
