/**
 * The Kafka broker stops mid-run and comes back a few seconds later: the `talos-replicator run`
 * process does not crash, reconnects with backoff and finishes the log with every version
 * applied exactly once, the balances of the serial replay, and a committed offset never above
 * the persisted snapshot + 1.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { auditCount, logFacts, workload } from '../cli/fixtures.js';
import { describeRun, makeTempDir } from '../support/cli.js';
import { usePostgres } from '../support/postgres.js';
import {
  assertExactlyOnce,
  certificationLog,
  split,
  startReplicator,
  tail,
  TOPIC,
  waitForEnd,
  setUpProcessScenario,
  waitForInstalls,
} from './processHarness.js';

const pg = usePostgres();
const temp = await makeTempDir('talos-kafka-outage-');
after(() => temp.cleanup());

const LOG = workload(2000, 400, 53);
const facts = logFacts(LOG);
const TOTAL = facts.installedVersions.length;
/**
 * How long the broker stays down: longer than the session timeout, so the group forgets the
 * member and it must rejoin (and may start a new turn of ownership) once it reconnects.
 */
const OUTAGE_MS = 6000;

test('the replicator process survives the broker stopping and restarting mid-run', { timeout: 240_000 }, async (t) => {
  const scenario = await setUpProcessScenario(t, pg, temp.dir, LOG);
  if (!scenario) return;
  const { mock, db, installer, admin, certifier, processes, watch } = scenario;
  const [first, second] = split(certificationLog(LOG), 2);

  const replicator = startReplicator({ name: 'replicator', bootstrap: mock.bootstrap, databaseUrl: db.url, installer });
  processes.push(replicator);
  await certifier.publish(first!);
  await replicator.waitForLog(/replicating \(turn 1\)/);
  await waitForInstalls(db.pool, 0.25 * TOTAL, replicator, 'a quarter of the versions installed');

  const logBeforeOutage = replicator.log().length;
  await mock.setBrokerDown(-1);
  const installedAtOutage = await auditCount(db.pool);
  await delay(OUTAGE_MS);
  assert.ok(replicator.running(), `the replicator survives the outage:\n${tail(replicator.log())}`);
  await mock.setBrokerUp(-1);
  const duringOutage = replicator.log().slice(logBeforeOutage);
  assert.match(duringOutage, /ECONNREFUSED/, `the replicator noticed the outage:\n${tail(duringOutage)}`);
  // kafkajs' retries (initial 300 ms, doubling with jitter) space the reconnection attempts out.
  const retryTimes = [...duringOutage.matchAll(/"retryTime":(\d+)/g)].map((match) => Number(match[1]));
  assert.ok(retryTimes.length >= 2 && Math.max(...retryTimes) > 2 * Math.min(...retryTimes), `reconnection with backoff, retry times ${JSON.stringify(retryTimes)}:\n${tail(duringOutage)}`);

  // The certifier publishes the rest once the broker is back; the replicator reconnects and finishes.
  await certifier.publish(second!);
  await waitForEnd(db.pool, admin, facts, processes);
  replicator.child.kill('SIGTERM');
  const stopped = await replicator.result;
  assert.equal(stopped.code, 0, describeRun(stopped));
  const last = facts.lastCandidate;
  assert.match(stopped.stdout, new RegExp(`snapshot ${last}, persisted ${last}, committed ${last}$`, 'm'), describeRun(stopped));

  const offsets = await watch.stop();
  const turns = /stopped after (\d+) turn/.exec(stopped.stdout)?.[1];
  t.diagnostic(`broker down at ${installedAtOutage} of ${TOTAL} versions for ${OUTAGE_MS} ms; ${turns} turn(s) of ownership; ${offsets.committed.length} distinct committed offsets seen`);
  assert.deepEqual(offsets.violations, [], 'the committed offset never exceeds the persisted snapshot + 1');
  assert.equal(offsets.committed.at(-1), last + 1);
  await assertExactlyOnce(db.pool, facts, processes);
});
