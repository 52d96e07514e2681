/**
 * A stale owner: the active `talos-replicator run` process is frozen (SIGSTOP) mid-run for
 * longer than the session timeout, so the group gives the partition to the standby, and then
 * thawed (SIGCONT) while the standby replicates. The thawed process finds out it lost the
 * partition, hands its turn over and stands by; whatever it still had in flight (installs,
 * snapshot writes, offset commits) must not apply a version twice nor commit an offset above
 * the persisted snapshot + 1, and the log is finished exactly once.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { auditCount, logFacts, workload } from '../cli/fixtures.js';
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
  waitUntil,
  setUpProcessScenario,
  waitForInstalls,
} from './processHarness.js';

const pg = usePostgres();
const temp = await makeTempDir('talos-kafka-stale-');
after(() => temp.cleanup());

const LOG = workload(2000, 400, 71);
const facts = logFacts(LOG);
const TOTAL = facts.installedVersions.length;
const REPLICATING = /replicating \(turn 1\)/;

test('an owner frozen past its session and thawed while the standby replicates neither applies a version twice nor commits past the snapshot', { timeout: 240_000 }, async (t) => {
  const scenario = await setUpProcessScenario(t, pg, temp.dir, LOG, (processes) => {
    // A frozen child cannot die of SIGTERM: thaw it first.
    for (const p of processes) if (p.running()) p.child.kill('SIGCONT');
  });
  if (!scenario) return;
  const { mock, db, installer, admin, certifier, processes, watch } = scenario;
  const [first, second, third] = split(certificationLog(LOG), 3);
  const start = (name: string) => {
    const replicator = startReplicator({ name, bootstrap: mock.bootstrap, databaseUrl: db.url, installer });
    processes.push(replicator);
    return replicator;
  };

  const publishedFirst = certifier.publish(first!);
  const stale = start('stale');
  await stale.waitForLog(REPLICATING);
  const standby = start('standby');
  await standby.waitForLog(/standing by/);
  await publishedFirst;
  const publishedSecond = certifier.publish(second!);
  await waitForInstalls(db.pool, 0.4 * TOTAL, stale, '40% of the versions installed');

  // Frozen mid-run, possibly inside an install transaction (its row locks stay held).
  stale.child.kill('SIGSTOP');
  const frozenAt = await auditCount(db.pool);
  await standby.waitForLog(REPLICATING, 60_000);
  const publishedThird = certifier.publish(third!);
  await standby.waitForLog(/turn 1 reads \S+ from offset \d+/, 60_000);
  const committedAtTakeover = await committedOffset(admin);

  // Thawed while the standby replicates: it must find out it lost the partition and stand by.
  const logBeforeThaw = stale.log().length;
  stale.child.kill('SIGCONT');
  await waitUntil(
    'the thawed process to hand its turn over',
    () => /turn 1 ended/.test(stale.log().slice(logBeforeThaw)),
    60_000,
    () => tail(stale.log()),
  );
  assert.ok(stale.running(), `the thawed process keeps running (standing by):\n${tail(stale.log())}`);
  assert.doesNotMatch(stale.log(), /replicating \(turn 2\)/, 'the thawed process does not take the partition back');

  await Promise.all([publishedSecond, publishedThird]);
  await waitForEnd(db.pool, admin, facts, [standby]);
  // The standby-turned-stale process stops first, then the owner (which commits last).
  for (const replicator of [stale, standby]) {
    replicator.child.kill('SIGTERM');
    const stopped = await replicator.result;
    assert.equal(stopped.code, 0, describeRun(stopped));
  }
  const last = facts.lastCandidate;
  assert.equal(await committedOffset(admin), last + 1, 'the committed offset ends after the last version');

  const offsets = await watch.stop();
  t.diagnostic(`frozen at ${frozenAt} of ${TOTAL} versions; committed offset at takeover ${committedAtTakeover}; committed offsets seen: ${JSON.stringify(offsets.committed)}`);
  assert.deepEqual(offsets.violations, [], 'the committed offset never exceeds the persisted snapshot + 1');
  await assertExactlyOnce(db.pool, facts, processes);
});
