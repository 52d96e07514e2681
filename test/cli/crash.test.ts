/**
 * A replay killed with SIGKILL half-way through and then run again to completion applies every
 * version exactly once: the installer module writes one audit row per version under a primary
 * key, so applying a version twice would fail the install (and, after --max-install-attempts,
 * the replay) instead of passing unnoticed; and the balances equal the serial replay.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describeRun, makeTempDir, runCli, spawnCli } from '../support/cli.js';
import { usePostgres } from '../support/postgres.js';
import { auditCount, auditedVersions, bankMismatches, logFacts, persistedSnapshot, prepareBank, workload, writeInstaller, writeLog } from './fixtures.js';

const pg = usePostgres();
const temp = await makeTempDir('talos-cli-crash-');
after(() => temp.cleanup());

const LOG = workload(3000, 3000, 21);
const facts = logFacts(LOG);
const TOTAL = facts.installedVersions.length;

test('a replay killed half-way and run again installs every version exactly once', async () => {
  const db = await pg.freshDatabase();
  await prepareBank(db.pool, LOG);
  const file = await writeLog(path.join(temp.dir, 'big.ndjson'), LOG, 'envelope');
  const installer = await writeInstaller(temp.dir, 'esm-named');
  const args = ['replay', '--file', file, '--installer', installer, '--batch-size', '4', '--concurrency', '8', '--database-url', db.url];

  // Kill it once a fifth of the versions are in and the bookkeeping table has rows.
  const first = spawnCli(args);
  const threshold = Math.floor(TOTAL / 5);
  for (;;) {
    if (first.child.exitCode !== null) assert.fail(`the first run ended before it could be killed: ${describeRun(await first.result)}`);
    const progress = await db.pool
      .query<{ audited: number; booked: number }>('SELECT (SELECT count(*)::int FROM replay_audit) AS audited, (SELECT count(*)::int FROM replicator_installed_versions) AS booked')
      .then((result) => result.rows[0]!)
      .catch(() => ({ audited: 0, booked: 0 })); // the CLI has not created its tables yet
    if (progress.audited >= threshold && progress.booked > 0) break;
    await delay(20);
  }
  first.child.kill('SIGKILL');
  const killed = await first.result;
  assert.equal(killed.signal, 'SIGKILL', describeRun(killed));
  // A COMMIT already sent by the dead process may still be executing: wait for its sessions to end.
  while ((await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'talos-replicator'`, [db.name])).rowCount! > 0) {
    await delay(20);
  }

  const installedBefore = await auditCount(db.pool);
  const snapshotBefore = (await persistedSnapshot(db.pool)) ?? 0;
  assert.ok(installedBefore < TOTAL, `killed half-way: ${installedBefore} of ${TOTAL} versions installed`);
  assert.ok(snapshotBefore < facts.lastCandidate, `the persisted snapshot ${snapshotBefore} is not at the end yet`);
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM replay_audit WHERE "version" > $1', [snapshotBefore]);
  const installedAboveSnapshot = rows[0]!.n;
  assert.ok(installedAboveSnapshot > 0, 'some versions above the persisted snapshot were installed: the restart has to skip them');

  const second = await runCli(args);
  assert.equal(second.code, 0, describeRun(second));
  // Versions at or below the persisted snapshot are not even handed to the installer; those
  // above it that the first run installed are, and the bookkeeping skips them.
  assert.match(
    second.stdout,
    new RegExp(`: ${TOTAL - installedBefore} versions installed \\(${installedAboveSnapshot} more already installed by an earlier run, skipped\\) in [\\d.]+ s; persisted snapshot ${facts.lastCandidate}$`, 'm'),
    describeRun(second),
  );
  assert.deepEqual(await auditedVersions(db.pool), facts.installedVersions, 'every version exactly once');
  assert.deepEqual(await bankMismatches(db.pool, facts.expected), []);
  assert.equal(await persistedSnapshot(db.pool), facts.lastCandidate);
});
