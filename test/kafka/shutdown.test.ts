/**
 * Graceful shutdown of `talos-replicator run` (a child process, as deployed):
 * - SIGTERM mid-run: in-flight installs finish, the snapshot is persisted, its offset committed,
 *   the consumer group left, exit code 0, well within `--shutdown-timeout-ms`;
 * - SIGTERM while still joining the group (a standby, or a start-up): exit code 0, and the
 *   consumer is not restarted into the group it just left;
 * - SIGTERM while an embedded Postgres is still starting: the stop waits for it, then stops it;
 * - a shutdown that cannot complete (the database refuses connections, so `updateSnapshot` keeps
 *   failing) ends after `--shutdown-timeout-ms` with a non-zero exit code and a clear message,
 *   and the committed offset is still at or below the persisted snapshot + 1.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { auditedVersions, logFacts, persistedSnapshot, prepareBank, workload, writeInstaller } from '../cli/fixtures.js';
import { describeRun, makeTempDir, nonLogLines, spawnCli, type RunningCli } from '../support/cli.js';
import { mockKafkaForTest } from '../support/kafka/mockBroker.js';
import { usePostgres, type TestDatabase } from '../support/postgres.js';
import { MOCK_KAFKA_ENV, connectAdmin, produce, teardown, until, workloadRecords } from './harness.js';

const postgres = usePostgres();
const temp = await makeTempDir('talos-kafka-shutdown-');
after(() => temp.cleanup());

const LOG = workload(3000, 400, 57);
const facts = logFacts(LOG);
const TOPIC = 'certification';

async function auditCountOrZero(db: TestDatabase): Promise<number> {
  return db.pool
    .query<{ n: number }>('SELECT count(*)::int AS n FROM replay_audit')
    .then((result) => result.rows[0]!.n)
    .catch(() => 0);
}

function startRun(bootstrap: string, group: string, db: TestDatabase, installer: string, shutdownTimeoutMs: number, verbose: boolean): RunningCli & { stderr(): string } {
  const running = spawnCli(
    [...(verbose ? ['--verbose'] : []), 'run', '--brokers', bootstrap, '--topic', TOPIC, '--group', group, '--database-url', db.url, '--installer', installer, '--concurrency', '4', '--shutdown-timeout-ms', String(shutdownTimeoutMs)],
    { env: MOCK_KAFKA_ENV, timeoutMs: 40_000 },
  );
  let stderr = '';
  running.child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  return { ...running, stderr: () => stderr };
}

/** A broker holding the whole log, a bank database, an admin client and an installer module; undefined when skipped. */
async function producedScenario(t: TestContext, installerName: string) {
  const cleanup = teardown(t);
  const mock = await mockKafkaForTest(t, { topics: [TOPIC] });
  if (!mock) return undefined;
  const db = await postgres.freshDatabase();
  await prepareBank(db.pool, LOG);
  const admin = await connectAdmin(mock.bootstrap);
  cleanup(() => admin.close());
  await produce(mock.bootstrap, TOPIC, workloadRecords(LOG));
  const installer = await writeInstaller(temp.dir, 'esm-named', installerName);
  return { cleanup, mock, db, admin, installer };
}

test('SIGTERM mid-run: in-flight installs finish, snapshot persisted, offset committed, group left, exit 0', { timeout: 60_000 }, async (t) => {
  const scenario = await producedScenario(t, 'graceful');
  if (!scenario) return;
  const { cleanup, mock, db, admin, installer } = scenario;

  const SHUTDOWN_TIMEOUT_MS = 20_000;
  const run = startRun(mock.bootstrap, 'cohort-graceful', db, installer, SHUTDOWN_TIMEOUT_MS, true);
  cleanup(() => void run.child.kill('SIGKILL'));
  await until('200 versions to be installed', async () => (await auditCountOrZero(db)) >= 200, 30_000, () => run.stderr());
  const signalled = Date.now();
  run.child.kill('SIGTERM');
  const result = await run.result;
  const stopMs = Date.now() - signalled;

  assert.equal(result.code, 0, describeRun(result));
  assert.ok(stopMs < SHUTDOWN_TIMEOUT_MS, `stopped in ${stopMs} ms, within --shutdown-timeout-ms`);
  const summary = /^run: stopped after 1 turn\(s\) of ownership; snapshot (\d+), persisted (\d+), committed (\d+)$/m.exec(result.stdout);
  assert.ok(summary, describeRun(result));
  const [snapshot, persisted, committed] = summary.slice(1).map(Number) as [number, number, number];
  assert.equal(persisted, snapshot, 'the last snapshot is persisted');
  assert.equal(committed, persisted, "the persisted snapshot's offset is committed");
  assert.ok(persisted > 0 && persisted < facts.lastCandidate, `stopped mid-run (snapshot ${persisted} of ${facts.lastCandidate})`);
  assert.equal(await persistedSnapshot(db.pool), persisted);
  assert.equal(await admin.committedOffset('cohort-graceful', TOPIC), persisted + 1);

  // Installs in flight at the signal finished: every version up to the snapshot is in, and each
  // version above it that was applied has its bookkeeping row (same transaction), none is half-done.
  const audited = await auditedVersions(db.pool);
  assert.deepEqual(audited.filter((version) => version <= persisted), facts.installedVersions.filter((version) => version <= persisted));
  const { rows } = await db.pool.query<{ version: string }>('SELECT "version"::text AS version FROM replicator_installed_versions WHERE "version" > $1 ORDER BY replicator_installed_versions."version"', [persisted]);
  assert.deepEqual(rows.map((row) => Number(row.version)), audited.filter((version) => version > persisted));
  const sessions = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'talos-replicator'`, [db.name]);
  assert.equal(sessions.rowCount, 0, 'the database connections are closed');

  const log = result.stderr;
  assert.match(log, /SIGTERM: stopping/);
  assert.match(log, /turn 1 ended/);
  assert.match(log, /no longer owns certification: disconnecting/);
  assert.match(log, /kafka: Stopped .*"groupId":"cohort-graceful"/, 'the consumer stopped, leaving the group');
  assert.doesNotMatch(log, / error /, 'no error logged');
  assert.deepEqual(nonLogLines(log).filter((line) => !line.startsWith('    at ')), [], 'nothing but log lines on stderr');
});

test('SIGTERM while the consumer is still joining the group exits 0 and does not rejoin', { timeout: 60_000 }, async (t) => {
  const cleanup = teardown(t);
  const mock = await mockKafkaForTest(t, { topics: [TOPIC] });
  if (!mock) return;
  const db = await postgres.freshDatabase();
  const installer = await writeInstaller(temp.dir, 'esm-named', 'joining');
  const run = startRun(mock.bootstrap, 'cohort-joining', db, installer, 20_000, false);
  cleanup(() => void run.child.kill('SIGKILL'));
  // The mock holds a group's first join for 3 s: a signal 0.5 s after the start lands inside it.
  await until('the replicator to start', () => /info replicating certification from/.test(run.stderr()), 20_000, () => run.stderr());
  await delay(500);
  run.child.kill('SIGTERM');
  const result = await run.result;
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stdout, /^run: stopped after 0 turn\(s\) of ownership/m, describeRun(result));
  assert.doesNotMatch(result.stderr, /Restarting the consumer|owns certification/, `the consumer was not restarted after leaving\n${describeRun(result)}`);
});

test('SIGTERM while the embedded Postgres is still starting: it starts, stops cleanly, and the command exits 0', { timeout: 60_000 }, async (t) => {
  const cleanup = teardown(t);
  const mock = await mockKafkaForTest(t, { topics: [TOPIC] });
  if (!mock) return;
  const installer = await writeInstaller(temp.dir, 'esm-named', 'starting');
  // Run as root, the server runs as "postgres", which must be able to enter the directory.
  await chmod(temp.dir, 0o755);
  const dataDir = path.join(temp.dir, 'embedded-data');
  const running = spawnCli(['run', '--brokers', mock.bootstrap, '--topic', TOPIC, '--group', 'cohort-starting', '--data-dir', dataDir, '--installer', installer], {
    env: { ...MOCK_KAFKA_ENV, DATABASE_URL: '' },
    timeoutMs: 40_000,
  });
  cleanup(() => void running.child.kill('SIGKILL'));
  let stderr = '';
  running.child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  await until('the embedded Postgres to be starting', () => /starting an embedded Postgres/.test(stderr), 20_000, () => stderr);
  running.child.kill('SIGTERM');
  const result = await running.result;
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stdout, /^run: stopped after 0 turn\(s\) of ownership/m, describeRun(result));
  assert.equal(existsSync(path.join(dataDir, 'postmaster.pid')), false, 'the embedded server was stopped, not left running');
});

test('a shutdown that cannot persist its snapshot exits non-zero after --shutdown-timeout-ms, naming the timeout', { timeout: 60_000 }, async (t) => {
  const scenario = await producedScenario(t, 'stuck');
  if (!scenario) return;
  const { cleanup, mock, db, admin, installer } = scenario;
  const superuser = new pg.Client({ connectionString: postgres.server().urlFor('postgres') });
  superuser.on('error', () => undefined);
  await superuser.connect();
  cleanup(() => superuser.end());
  cleanup(() => superuser.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`));

  const SHUTDOWN_TIMEOUT_MS = 1500;
  const run = startRun(mock.bootstrap, 'cohort-stuck', db, installer, SHUTDOWN_TIMEOUT_MS, false);
  cleanup(() => void run.child.kill('SIGKILL'));
  await until('100 versions to be installed', async () => (await auditCountOrZero(db)) >= 100, 30_000, () => run.stderr());

  // The database goes away: no new connections, and the open ones are cut.
  await superuser.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
  await superuser.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db.name]);
  await until('installs to fail', () => /failed/.test(run.stderr()), 10_000, () => run.stderr());

  const signalled = Date.now();
  run.child.kill('SIGTERM');
  const result = await run.result;
  const stopMs = Date.now() - signalled;

  t.diagnostic(`exited ${stopMs} ms after SIGTERM (--shutdown-timeout-ms ${SHUTDOWN_TIMEOUT_MS})`);
  assert.notEqual(result.code, 0, describeRun(result));
  assert.equal(result.signal, null, 'it exits by itself, not killed');
  assert.ok(stopMs >= SHUTDOWN_TIMEOUT_MS, `gave the stop ${SHUTDOWN_TIMEOUT_MS} ms (exited after ${stopMs} ms)`);
  assert.ok(stopMs < SHUTDOWN_TIMEOUT_MS + 10_000, `exits soon after the timeout, not whenever the event loop empties (${stopMs} ms)\n${describeRun(result)}`);
  const message = nonLogLines(result.stderr).filter((line) => line.startsWith('talos-replicator:'));
  assert.equal(message.length, 1, describeRun(result));
  assert.match(message[0]!, new RegExp(`did not stop within ${SHUTDOWN_TIMEOUT_MS} ms`));
  assert.match(result.stderr, /updateSnapshot\(\d+\) failed/, 'the log says why');

  await superuser.query(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
  const persisted = (await persistedSnapshot(db.pool)) ?? 0;
  const committed = await admin.committedOffset('cohort-stuck', TOPIC);
  assert.ok(committed === null || committed <= persisted + 1, `committed offset ${committed} is at or below the persisted snapshot ${persisted} + 1`);
});
