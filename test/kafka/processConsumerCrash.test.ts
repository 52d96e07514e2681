/**
 * The broker answers a fetch with an error kafkajs does not retry (INVALID_REQUEST): kafkajs
 * crashes the consumer and does not restart it. The `talos-replicator run` process hands the
 * turn over (in-flight installs finish, the snapshot is persisted), reconnects, owns the
 * partition again and finishes the log in a new turn: every version applied exactly once.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { logFacts, workload } from '../cli/fixtures.js';
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
const temp = await makeTempDir('talos-kafka-crash-');
after(() => temp.cleanup());

const LOG = workload(1500, 300, 67);
const facts = logFacts(LOG);
const TOTAL = facts.installedVersions.length;
const FETCH = 1;
const INVALID_REQUEST = 42;

test('a consumer crash kafkajs does not restart: the run process reconnects and finishes in a new turn', { timeout: 240_000 }, async (t) => {
  const scenario = await setUpProcessScenario(t, pg, temp.dir, LOG);
  if (!scenario) return;
  const { mock, db, installer, admin, certifier, processes, watch } = scenario;
  const [first, second] = split(certificationLog(LOG), 2);

  const replicator = startReplicator({ name: 'replicator', bootstrap: mock.bootstrap, databaseUrl: db.url, installer });
  processes.push(replicator);
  await certifier.publish(first!);
  await replicator.waitForLog(/replicating \(turn 1\)/);
  await waitForInstalls(db.pool, 0.2 * TOTAL, replicator, 'some versions installed');

  await mock.pushRequestErrors(FETCH, INVALID_REQUEST);
  await replicator.waitForLog(/Kafka consumer stopped on an error it does not retry/, 30_000);
  const publishedSecond = certifier.publish(second!);
  await replicator.waitForLog(/turn 1 ended/, 30_000);
  await replicator.waitForLog(/replicating \(turn 2\)/, 60_000);
  const log = replicator.log();
  assert.ok(log.indexOf('turn 1 ended') < log.indexOf('replicating (turn 2)'), `the first turn's replicator stopped before the second started:\n${tail(log)}`);
  await publishedSecond;
  await waitForEnd(db.pool, admin, facts, processes);
  replicator.child.kill('SIGTERM');
  const stopped = await replicator.result;
  assert.equal(stopped.code, 0, describeRun(stopped));
  const last = facts.lastCandidate;
  assert.match(stopped.stdout, new RegExp(`stopped after 2 turn\\(s\\) of ownership; snapshot ${last}, persisted ${last}, committed ${last}$`, 'm'), describeRun(stopped));

  const offsets = await watch.stop();
  assert.deepEqual(offsets.violations, [], 'the committed offset never exceeds the persisted snapshot + 1');
  await assertExactlyOnce(db.pool, facts, processes);
});
