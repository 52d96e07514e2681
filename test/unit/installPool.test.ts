/**
 * When the install pool reports outcomes: a round that settles within one turn is reported
 * before anything else runs (the in-memory pipeline depends on hearing of it before the source
 * delivers more), and answers that come in separately while other calls still run are gathered
 * into one report per pass of the event loop (a database's replies, one socket each).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, sendTo, setup } from 'xstate';
import { createInstallPool } from '../../actors/installPool.js';
import type { DispatchedVersion, Installer } from '../../machines/domain.js';
import type { PoolEvent, PoolReport } from '../../machines/installer.machine.js';

function startPool(installer: Installer) {
  const reports: PoolReport[] = [];
  const parent = setup({
    types: { events: {} as PoolEvent | PoolReport },
    actors: { pool: createInstallPool(installer) },
  }).createMachine({
    invoke: { id: 'pool', src: 'pool', input: { batchSize: 1 } },
    on: {
      RUN: { actions: sendTo('pool', ({ event }) => event) },
      'POOL.SETTLED': { actions: ({ event }) => reports.push(event) },
    },
  });
  const actor = createActor(parent).start();
  const run = (versions: number[]) => actor.send({ type: 'RUN', batchSize: 1, jobs: versions.map((version): DispatchedVersion => ({ version, safepoint: null, statemap: [] })) });
  return { reports, run, stop: () => actor.stop() };
}

const nextImmediate = () => new Promise<void>((resolve) => setImmediate(resolve));
const versionsOf = (report: PoolReport) => report.outcomes.map((outcome) => outcome.version);

test('a round that settles in one turn is reported at once, in one report, before the next macrotask', async () => {
  const pool = startPool({ install: async () => undefined });
  let seenByFirstImmediate = -1;
  pool.run([1, 2, 3]);
  setImmediate(() => (seenByFirstImmediate = pool.reports.length));
  await nextImmediate();
  assert.equal(seenByFirstImmediate, 1);
  assert.deepEqual(pool.reports.map(versionsOf), [[1, 2, 3]]);
  pool.stop();
});

test('answers arriving in separate callbacks of one event-loop phase, while a call still runs, make one report', async () => {
  const resolvers = new Map<number, () => void>();
  const pool = startPool({ install: (_statemaps, version) => new Promise<void>((resolve) => resolvers.set(version, resolve)) });
  pool.run([1, 2, 3]);
  // Two immediates queued together run in one check phase, each callback followed by its
  // microtasks; an immediate queued meanwhile (the pool's report) waits for the next loop turn.
  // (Two timers would say the same, but a loaded machine may run them in two turns.)
  await new Promise<void>((resolve) => {
    setImmediate(() => resolvers.get(1)!());
    setImmediate(() => {
      resolvers.get(2)!();
      resolve();
    });
  });
  await nextImmediate();
  assert.deepEqual(pool.reports.map(versionsOf), [[1, 2]], 'one report for both answers');
  assert.equal(pool.reports[0]!.calls, 2);
  resolvers.get(3)!();
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(pool.reports.map(versionsOf), [[1, 2], [3]], 'the last running call is reported without waiting for the loop');
  pool.stop();
});

test('failed calls are reported with their errors in the same way', async () => {
  const pool = startPool({
    install: async (_statemaps, version) => {
      if (version === 2) throw new Error('no');
    },
  });
  pool.run([1, 2]);
  await nextImmediate();
  assert.equal(pool.reports.length, 1);
  const outcomes = pool.reports[0]!.outcomes;
  assert.deepEqual(outcomes.map((outcome) => [outcome.version, outcome.ok]), [[1, true], [2, false]]);
  assert.equal((outcomes[1] as { error: Error }).error.message, 'no');
  pool.stop();
});
