/**
 * `talos-replicator status` on a real Postgres: what it reads (the persisted snapshot, the
 * exactly-once bookkeeping, or their absence) without creating or changing anything, and the
 * rules that flag a start which could not install every version and note one that seeks back (unit cases; the Kafka side end to end is
 * in test/kafka/processStatus.test.ts).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import { statusFindings, type StatusReport } from '../../adapters/cli/status.js';
import type { GroupPosition } from '../../adapters/kafka/groupPosition.js';
import { createPostgresSnapshotStore, createTransactionalInstaller } from '../../adapters/postgres/index.js';
import type { ReplicationStatus } from '../../adapters/postgres/replicationStatus.js';
import { describeRun, makeTempDir, nonLogLines, runCli } from '../support/cli.js';
import { usePostgres } from '../support/postgres.js';

const pg = usePostgres();
const temp = await makeTempDir('talos-cli-status-');
after(() => temp.cleanup());

async function tablesOf(pool: Pool): Promise<string[]> {
  const result = await pool.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
  return result.rows.map((row) => row.tablename);
}

async function statusJson(url: string): Promise<StatusReport> {
  const run = await runCli(['status', '--database-url', url, '--json']);
  assert.equal(run.code, 0, describeRun(run));
  return JSON.parse(run.stdout) as StatusReport;
}

test('a database no replicator has run against: status says so, exits 0, and creates no table', async () => {
  const db = await pg.freshDatabase();
  await db.pool.query('CREATE TABLE bank_accounts ("number" text PRIMARY KEY)');
  const run = await runCli(['status', '--database-url', db.url]);
  assert.equal(run.code, 0, describeRun(run));
  assert.match(run.stdout, /no cohort_snapshot table in schema public: no replicator has run against this database\nok\n$/);
  assert.deepEqual(await tablesOf(db.pool), ['bank_accounts'], 'status created nothing');
  assert.deepEqual((await statusJson(db.url)).replication, { replicated: false, schema: 'public' });
});

test('the persisted snapshot and the bookkeeping rows above it and covered by it, as the installer and the store left them', async () => {
  const db = await pg.freshDatabase();
  const installer = createTransactionalInstaller(db.pool, { install: async () => {} });
  for (let version = 1; version <= 6; version++) await installer.install([{ action: 'NOOP', payload: {}, version, safepoint: null }], version);
  // The replicator's store persists 3 and prunes the rows it covers; a store without pruning then raises it to 5.
  await createPostgresSnapshotStore(db.pool, { pruneInstalledBookkeeping: true }).updateSnapshot(3);
  await createPostgresSnapshotStore(db.pool).updateSnapshot(5);
  const tables = await tablesOf(db.pool);

  const report = await statusJson(db.url);
  assert.deepEqual(report.replication, {
    replicated: true,
    schema: 'public',
    snapshot: 5,
    bookkeeping: { watermark: 3, rows: 3, lowest: 4, highest: 6, coveredBySnapshot: 2, aboveSnapshot: 1 },
  });
  assert.equal(report.kafka, null);
  assert.deepEqual(report.problems, []);
  assert.deepEqual(await tablesOf(db.pool), tables, 'status changed no table');
  const text = await runCli(['status', '--database-url', db.url]);
  assert.equal(text.code, 0, describeRun(text));
  assert.match(text.stdout, /persisted snapshot: 5\n/);
  assert.match(text.stdout, /exactly-once bookkeeping: 3 version\(s\) recorded \(4\.\.6\): 1 above the snapshot \(installed, not yet persisted\), 2 covered by it \(pruned next\); watermark 3\n/);
});

test('a snapshot store used without the transactional installer: the snapshot, and no bookkeeping', async () => {
  const db = await pg.freshDatabase();
  await createPostgresSnapshotStore(db.pool).updateSnapshot(7);
  const report = await statusJson(db.url);
  assert.deepEqual(report.replication, { replicated: true, schema: 'public', snapshot: 7, bookkeeping: null });
});

test('status without a database to read is one clear line, before anything starts', async () => {
  const run = await runCli(['status'], { cwd: temp.dir });
  assert.equal(run.code, 1, describeRun(run));
  assert.deepEqual(nonLogLines(run.stderr), ['talos-replicator: status needs the database to read: give --database-url (or DATABASE_URL), or --data-dir of an embedded Postgres']);
  const missing = await runCli(['status', '--data-dir', `${temp.dir}/none`]);
  assert.equal(missing.code, 1, describeRun(missing));
  assert.deepEqual(nonLogLines(missing.stderr), [`talos-replicator: --data-dir ${temp.dir}/none holds no Postgres data directory (no PG_VERSION file)`]);
});

test('brokers that cannot be reached end status within seconds with one line naming the group, topic and brokers', async () => {
  const db = await pg.freshDatabase();
  const run = await runCli(['status', '--database-url', db.url, '--brokers', '127.0.0.1:1', '--topic', 'certification', '--group', 'cohort']);
  assert.equal(run.code, 1, describeRun(run));
  assert.deepEqual(nonLogLines(run.stderr), ['talos-replicator: cannot read where group cohort stands on certification (brokers 127.0.0.1:1): Connection error: connect ECONNREFUSED 127.0.0.1:1']);
  assert.equal(run.stdout, '', 'no half report');
});

test('a Kafka setting given alone is refused for what is missing, before the database is read', async () => {
  const run = await runCli(['status', '--database-url', 'postgres://nobody:secret@127.0.0.1:1/none', '--topic', 'certification']);
  assert.equal(run.code, 1, describeRun(run));
  assert.match(nonLogLines(run.stderr).join('\n'), /^talos-replicator: .*brokers/);
});

describe('statusFindings: where a start from here would read, and what it cannot install', () => {
  const at = (snapshot: number): ReplicationStatus => ({ replicated: true, schema: 'public', snapshot, bookkeeping: null });
  const group = (committed: number | null, logStart = 0, logEnd = 1000, partitions = 1): GroupPosition => ({
    topic: 'certification',
    groupId: 'cohort',
    partitions: Array.from({ length: partitions }, (_, partition) => ({ partition, committed, logStart, logEnd })),
  });
  const nothing = { problems: [], notes: [] };

  test('nothing to say without Kafka, or when the group reads from at or below snapshot + 1', () => {
    assert.deepEqual(statusFindings(at(500), null), nothing);
    assert.deepEqual(statusFindings(at(500), group(501)), nothing);
    assert.deepEqual(statusFindings(at(500), group(300)), nothing, 'reading again from below is what a restart after a crash does: installed versions are skipped');
    assert.deepEqual(statusFindings(at(0), group(null)), nothing);
    assert.deepEqual(statusFindings({ replicated: false, schema: 'public' }, group(null)), nothing);
    assert.deepEqual(statusFindings(at(500), group(501, 400)), nothing, 'retention below the snapshot is harmless');
  });

  test('a committed offset past snapshot + 1 (a database restored from a backup, a group reset to latest) is a note: run seeks back', () => {
    assert.deepEqual(statusFindings(at(500), group(800)), {
      problems: [],
      notes: ['group cohort has committed offset 800 on certification/0, past the persisted snapshot 500: a replicator started from here seeks back to offset 501, so that versions 501..799 are installed'],
    });
    assert.deepEqual(statusFindings({ replicated: false, schema: 'public' }, group(800)), {
      problems: [],
      notes: ['group cohort has committed offset 800 on certification/0, past an empty database: a replicator started from here seeks back to offset 1, so that versions 1..799 are installed'],
    });
  });

  test('a log whose start retention moved past snapshot + 1 is a problem, whatever the committed offset', () => {
    const gone = 'certification/0 starts at offset 600 (retention), past the persisted snapshot 500: versions 501..599 are gone from the topic';
    assert.deepEqual(statusFindings(at(500), group(null, 600)), { problems: [gone], notes: [] });
    assert.deepEqual(statusFindings(at(500), group(450, 600)), { problems: [gone], notes: [] });
    assert.deepEqual(statusFindings(at(500), group(800, 600)), { problems: [gone], notes: [] });
  });

  test('more than one partition', () => {
    assert.deepEqual(statusFindings(at(500), group(501, 0, 1000, 2)), { problems: ['topic certification has 2 partitions; a Talos certification topic has exactly one'], notes: [] });
  });
});
