/**
 * `talos-replicator status` against a real Kafka-protocol broker and a real Postgres: before
 * any replicator ran, after one replicated the whole log and stopped, and after the database
 * went back behind the group's committed offset (as a restore from an older backup does),
 * which it notes, naming the versions a start seeks back for (exit 0: `run` installs them). The Kafka settings
 * come from flags once and from `run`'s environment variables once.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StatusReport } from '../../adapters/cli/status.js';
import { logFacts, workload } from '../cli/fixtures.js';
import { describeRun, makeTempDir, nonLogLines, runCli } from '../support/cli.js';
import { usePostgres } from '../support/postgres.js';
import { certificationLog, GROUP, setUpProcessScenario, startReplicator, TOPIC, waitForEnd } from './processHarness.js';

const pg = usePostgres();
const temp = await makeTempDir('talos-kafka-status-');
after(() => temp.cleanup());

const LOG = workload(400, 100, 17);
const facts = logFacts(LOG);

test('status reports the snapshot, the committed offset and the lag, and notes (exit 0) when the database is behind the committed offset, which run seeks back for', { timeout: 180_000 }, async (t) => {
  const scenario = await setUpProcessScenario(t, pg, temp.dir, LOG);
  if (!scenario) return;
  const { mock, db, installer, certifier, processes, admin } = scenario;
  const records = certificationLog(LOG);
  const logEnd = Number(records.at(-1)!.offset) + 1;
  await certifier.publish(records);
  const kafkaFlags = ['--brokers', mock.bootstrap, '--topic', TOPIC, '--group', GROUP];
  const status = async (args: readonly string[], env?: Record<string, string>) => runCli(['status', '--database-url', db.url, ...args], env ? { env } : {});

  const before = await status([...kafkaFlags, '--json']);
  assert.equal(before.code, 0, describeRun(before));
  const fresh = JSON.parse(before.stdout) as StatusReport;
  assert.deepEqual(fresh.replication, { replicated: false, schema: 'public' });
  assert.deepEqual(fresh.kafka, { topic: TOPIC, groupId: GROUP, partitions: [{ partition: 0, committed: null, logStart: 0, logEnd }] });
  assert.deepEqual(fresh.problems, []);

  const replicator = startReplicator({ name: 'run', bootstrap: mock.bootstrap, databaseUrl: db.url, installer });
  processes.push(replicator);
  await replicator.waitForLog(/replicating \(turn 1\)/);
  await waitForEnd(db.pool, admin, facts, processes);
  replicator.child.kill('SIGTERM');
  assert.equal((await replicator.result).code, 0, describeRun(await replicator.result));

  // The same settings as `run` reads them from its environment.
  const caughtUp = await status([], { KAFKA_BROKERS: mock.bootstrap, KAFKA_TOPIC: TOPIC, KAFKA_GROUP_ID: GROUP });
  assert.equal(caughtUp.code, 0, describeRun(caughtUp));
  const last = facts.lastCandidate;
  assert.match(caughtUp.stdout, new RegExp(`persisted snapshot: ${last}\\n`));
  assert.match(caughtUp.stdout, /exactly-once bookkeeping: 0 version\(s\) recorded: /, 'the final persist pruned every row');
  assert.match(caughtUp.stdout, new RegExp(`kafka: group ${GROUP} on ${TOPIC}\\n  partition 0: committed offset ${last + 1}; log holds offsets 0\\.\\.${logEnd - 1}; ${logEnd - last - 1} record\\(s\\) past the persisted snapshot\\nok\\n$`));

  // A restore from an older backup: the database goes back, the group's offset does not.
  const restoredTo = last - 150;
  await db.pool.query('UPDATE cohort_snapshot SET "version" = $1', [restoredTo]);
  // `run` seeks back to the persisted snapshot + 1 then (test/kafka/seekBack.test.ts): a note, not a problem.
  const behind = await status(kafkaFlags);
  assert.equal(behind.code, 0, describeRun(behind));
  assert.match(
    behind.stdout,
    new RegExp(
      `NOTE: group ${GROUP} has committed offset ${last + 1} on ${TOPIC}/0, past the persisted snapshot ${restoredTo}: a replicator started from here seeks back to offset ${restoredTo + 1}, so that versions ${restoredTo + 1}\\.\\.${last} are installed\\nok\\n$`,
    ),
  );
  assert.deepEqual(nonLogLines(behind.stderr), []);
});
