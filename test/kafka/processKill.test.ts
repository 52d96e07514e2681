/**
 * kill -9 at random moments: `talos-replicator run` (batches of 4 versions, 4 installs at once)
 * is SIGKILLed at seeded random moments while the certifier is still publishing, and restarted
 * each time, against a real Kafka-protocol broker and a real Postgres. In the end every
 * committed version is applied exactly once (the installer's audit table has one row per
 * version under a primary key, so a second apply fails loudly), the balances equal the serial
 * replay, and the group's committed offset was never above the persisted snapshot + 1.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { createRandom } from '../../adapters/workload/random.js';
import { auditCount, logFacts, persistedSnapshot, workload } from '../cli/fixtures.js';
import { describeRun, makeTempDir } from '../support/cli.js';
import { usePostgres } from '../support/postgres.js';
import {
  assertExactlyOnce,
  certificationLog,
  committedOffset,
  split,
  startReplicator,
  tail,
  TOPIC,
  waitForEnd,
  type ReplicatorProcess,
  setUpProcessScenario,
} from './processHarness.js';

const pg = usePostgres();
const temp = await makeTempDir('talos-kafka-kill-');
after(() => temp.cleanup());

const LOG = workload(3000, 500, 31);
const facts = logFacts(LOG);
const KILLS = 3;
/** Seed of the kill delays (seed 1: 1624, 156 and 1390 ms: one kill during start-up, two while installing); TALOS_KILL_SEED overrides it. */
const SEED = process.env.TALOS_KILL_SEED ?? 1;
/** A kill comes between these many milliseconds after the process owns the partition and starts replicating. */
const KILL_DELAY_MS = [150, 2500] as const;

test('a replicator process killed with SIGKILL at random moments and restarted each time applies every version exactly once', { timeout: 300_000 }, async (t) => {
  const scenario = await setUpProcessScenario(t, pg, temp.dir, LOG);
  if (!scenario) return;
  const { mock, db, installer, admin, certifier, processes, watch } = scenario;

  const random = createRandom(SEED);
  // The certifier publishes one part of the log while each process runs, so at every kill some
  // of the log is still to come: each kill lands in the middle of the run.
  const parts = split(certificationLog(LOG), KILLS + 1);
  const publications: Promise<void>[] = [];
  const kills: Array<{ process: string; delayMs: number; audited: number; persisted: number | null; committed: number | null }> = [];
  /** The committed offset each process found when it started: the next one must read from there. */
  const startOffsets: Array<{ process: ReplicatorProcess; committed: number | null }> = [];
  for (let i = 0; i < KILLS; i += 1) {
    const replicator = startReplicator({ name: `run-${i + 1}`, bootstrap: mock.bootstrap, databaseUrl: db.url, installer });
    processes.push(replicator);
    startOffsets.push({ process: replicator, committed: await committedOffset(admin) });
    publications.push(certifier.publish(parts[i]!));
    await replicator.waitForLog(/replicating \(turn 1\)/);
    const delayMs = random.intBetween(...KILL_DELAY_MS);
    await delay(delayMs);
    assert.ok(replicator.running(), `${replicator.name} exited before it was killed:\n${tail(replicator.log())}`);
    replicator.child.kill('SIGKILL');
    const killed = await replicator.result;
    assert.equal(killed.signal, 'SIGKILL', describeRun(killed));
    kills.push({ process: replicator.name, delayMs, audited: await auditCount(db.pool), persisted: await persistedSnapshot(db.pool), committed: await committedOffset(admin) });
  }

  const survivor = startReplicator({ name: 'run-last', bootstrap: mock.bootstrap, databaseUrl: db.url, installer });
  processes.push(survivor);
  startOffsets.push({ process: survivor, committed: await committedOffset(admin) });
  publications.push(certifier.publish(parts[KILLS]!));
  await Promise.all(publications);
  await waitForEnd(db.pool, admin, facts, processes);
  survivor.child.kill('SIGTERM');
  const stopped = await survivor.result;
  assert.equal(stopped.code, 0, describeRun(stopped));
  const last = facts.lastCandidate;
  assert.match(stopped.stdout, new RegExp(`snapshot ${last}, persisted ${last}, committed ${last}$`, 'm'), describeRun(stopped));

  const offsets = await watch.stop();
  t.diagnostic(`seed ${SEED}, kills: ${JSON.stringify(kills)}`);
  t.diagnostic(`committed offsets seen: ${offsets.committed.length} distinct in ${offsets.samples} samples`);
  assert.deepEqual(offsets.violations, [], 'the committed offset never exceeds the persisted snapshot + 1');
  assert.ok(offsets.committed.length >= KILLS, `offsets were committed during the run, not only at its end: ${JSON.stringify(offsets.committed)}`);
  assert.equal(offsets.committed.at(-1), last + 1);
  assert.ok(
    kills.every((kill) => kill.audited < facts.installedVersions.length),
    `every kill came before the last version was installed: ${JSON.stringify(kills)}`,
  );
  // kafkajs starts each process from the group's committed offset (from the beginning when none).
  for (const { process, committed } of startOffsets) {
    const first = /turn 1 reads \S+ from offset (\d+)/.exec(process.log())?.[1];
    if (first !== undefined) assert.equal(Number(first), committed ?? 0, `${process.name} starts reading at the committed offset`);
  }
  await assertExactlyOnce(db.pool, facts, processes);
});
