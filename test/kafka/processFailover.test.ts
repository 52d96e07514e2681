/**
 * Failover between two `talos-replicator run` processes of one consumer group, against a real
 * Kafka-protocol broker and a real Postgres: one replicates, the other stands by and installs
 * nothing while the first lives. The active one is stopped mid-run, by SIGKILL (the group
 * notices after the session timeout) or by SIGTERM (it finishes in-flight installs, persists,
 * commits and leaves the group); the standby takes over from the committed offset and finishes
 * the log. No version is lost or applied twice, the balances equal the serial replay, and the
 * committed offset is never above the persisted snapshot + 1.
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
  setUpProcessScenario,
  waitForInstalls,
} from './processHarness.js';

const pg = usePostgres();
const temp = await makeTempDir('talos-kafka-failover-');
after(() => temp.cleanup());

const LOG = workload(2000, 400, 41);
const facts = logFacts(LOG);
const TOTAL = facts.installedVersions.length;
const REPLICATING = /replicating \(turn 1\)/;
const STANDING_BY = /standing by: another member of the group reads/;

for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
  test(`the standby takes over from the committed offset when the active replicator gets ${signal} mid-run`, { timeout: 240_000 }, async (t) => {
    const scenario = await setUpProcessScenario(t, pg, temp.dir, LOG);
    if (!scenario) return;
    const { mock, db, installer, admin, certifier, processes, watch } = scenario;
    const [first, second, third] = split(certificationLog(LOG), 3);
    const start = (name: string) => {
      const replicator = startReplicator({ name, bootstrap: mock.bootstrap, databaseUrl: db.url, installer });
      processes.push(replicator);
      return replicator;
    };

    // The first process owns the partition; the second joins the group and stands by.
    const publishedFirst = certifier.publish(first!);
    const active = start('active');
    await active.waitForLog(REPLICATING);
    const standby = start('standby');
    await standby.waitForLog(STANDING_BY);
    await publishedFirst;

    // More of the log arrives; the active one replicates it (the join of the standby made it
    // rejoin the group and re-read from the committed offset) and is stopped mid-way.
    const publishedSecond = certifier.publish(second!);
    await waitForInstalls(db.pool, 0.4 * TOTAL, active, 'the active replicator to install 40% of the versions');
    assert.ok(active.running(), `the active replicator is still running:\n${tail(active.log())}`);
    assert.doesNotMatch(standby.log(), REPLICATING, 'the standby installs nothing while the active replicator lives');
    const installedAtStop = await auditCount(db.pool);
    active.child.kill(signal);
    const stopped = await active.result;
    if (signal === 'SIGKILL') {
      assert.equal(stopped.signal, 'SIGKILL', describeRun(stopped));
    } else {
      assert.equal(stopped.code, 0, describeRun(stopped));
      assert.match(stopped.stdout, /^run: stopped after 1 turn\(s\) of ownership; snapshot \d+, persisted \d+, committed \d+$/m, describeRun(stopped));
    }
    assert.doesNotMatch(standby.log(), REPLICATING, 'the standby installed nothing while the active replicator lived');
    // Nobody can commit now: the standby owns nothing yet.
    const committedAtHandover = await committedOffset(admin);
    assert.ok(installedAtStop < TOTAL, 'stopped mid-run');

    // The standby takes over from the committed offset and finishes the log.
    const publishedThird = certifier.publish(third!);
    await standby.waitForLog(REPLICATING, 60_000);
    const resumedAt = await standby.waitForLog(/turn 1 reads \S+ from offset \d+/, 60_000);
    const resumedFrom = Number(/from offset (\d+)/.exec(resumedAt)![1]);
    if (resumedFrom !== (committedAtHandover ?? 0)) {
      // On a loaded machine the group can hand the partition over while the stopping replicator
      // still drains: the standby then read the snapshot before the last persist, started past it
      // (at the offset committed so far) and sought back to its snapshot + 1. Never past what the
      // old owner committed, and said in its log.
      assert.ok(resumedFrom < (committedAtHandover ?? 0), `the standby starts at or before the committed offset (${resumedFrom} vs ${committedAtHandover})`);
      assert.match(standby.log(), new RegExp(`seeking back to offset ${resumedFrom} `), 'a start before the committed offset is a seek back to the snapshot + 1');
    }
    await Promise.all([publishedSecond, publishedThird]);
    await waitForEnd(db.pool, admin, facts, [standby]);
    standby.child.kill('SIGTERM');
    const finished = await standby.result;
    assert.equal(finished.code, 0, describeRun(finished));
    const last = facts.lastCandidate;
    assert.match(finished.stdout, new RegExp(`snapshot ${last}, persisted ${last}, committed ${last}$`, 'm'), describeRun(finished));

    const offsets = await watch.stop();
    t.diagnostic(`stopped the active replicator at ${installedAtStop} of ${TOTAL} versions; committed offset then ${committedAtHandover}; ${offsets.committed.length} distinct committed offsets seen`);
    assert.deepEqual(offsets.violations, [], 'the committed offset never exceeds the persisted snapshot + 1');
    assert.equal(offsets.committed.at(-1), last + 1);
    await assertExactlyOnce(db.pool, facts, processes);
  });
}
