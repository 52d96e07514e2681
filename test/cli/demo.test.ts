/**
 * `talos-replicator demo` against a real (embedded) Postgres: the verified run, and proof that
 * the verification is not vacuous: a corrupted install (`corruptVersion`) and a database that
 * tampers with one version's rows behind the replicator's back are both reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runDemo } from '../../adapters/cli/demo.js';
import { silentLogger } from '../../adapters/logging.js';
import { generateCertificationLog } from '../../adapters/workload/certifier.js';
import { describeRun, nonLogLines, runCli } from '../support/cli.js';
import { usePostgres } from '../support/postgres.js';
import { bankMismatches, logFacts, workload } from './fixtures.js';

const pg = usePostgres();

const TRANSACTIONS = 1000;
const ACCOUNTS = 100;
const SEED = 3;
const options = { transactions: TRANSACTIONS, accounts: ACCOUNTS, concurrency: 4, batchSize: 10, seed: SEED, logger: silentLogger, progress: false };
const facts = logFacts(workload(TRANSACTIONS, ACCOUNTS, SEED));

/** The accounts a version's transfer touches, read from the log. */
function accountsOf(version: number): string[] {
  for (const record of generateCertificationLog(workload(TRANSACTIONS, ACCOUNTS, SEED))) {
    if (record.offset !== version || record.headers.messageType !== 'Candidate') continue;
    const body = JSON.parse(String(record.value)) as { statemap: Array<{ TRANSFER: { from: string; to: string } }> };
    return body.statemap.flatMap((item) => [item.TRANSFER.from, item.TRANSFER.to]);
  }
  throw new Error(`no candidate at ${version}`);
}

test('runDemo on a fresh database: every account matches the serial replay and the snapshot reaches the last version; a second run on the same database too', async () => {
  const db = await pg.freshDatabase();
  const summary = await runDemo({ ...options, databaseUrl: db.url });
  assert.deepEqual(summary.mismatches, []);
  assert.equal(summary.verified, true);
  assert.equal(summary.transactions, TRANSACTIONS);
  assert.equal(summary.committed, facts.expected.committedCount);
  assert.equal(summary.committed + summary.aborted, TRANSACTIONS);
  assert.equal(summary.lastVersion, facts.lastCandidate);
  assert.equal(summary.persistedSnapshot, facts.lastCandidate);
  assert.ok(summary.transactionsPerSecond > 0 && summary.latencyMs.p99 >= summary.latencyMs.p50);
  // Checked again here, independently of the demo's own verification.
  assert.deepEqual(await bankMismatches(db.pool, facts.expected), []);
  const total = await db.pool.query<{ total: string }>('SELECT sum(amount)::text AS total FROM bank_accounts');
  assert.equal(Number(total.rows[0]!.total), ACCOUNTS * 1000, 'transfers only move money');

  // Again on the same database with a shorter log: every version of it lies below the snapshot
  // the first run persisted, so the demo must start its tables afresh rather than skip them.
  const again = await runDemo({ ...options, transactions: 200, seed: SEED + 1, databaseUrl: db.url });
  assert.deepEqual(again.mismatches, []);
  assert.equal(again.verified, true);
  assert.equal(again.persistedSnapshot, again.lastVersion);
  assert.ok(again.lastVersion < facts.lastCandidate);
});

test('runDemo with corruptVersion set to a committed version: verification reports the mismatch', async () => {
  const db = await pg.freshDatabase();
  const corrupt = facts.expected.committed[Math.floor(facts.expected.committed.length / 2)]!.version;
  const summary = await runDemo({ ...options, databaseUrl: db.url, corruptVersion: corrupt });
  assert.equal(summary.verified, false);
  const [from, to] = accountsOf(corrupt);
  assert.ok(summary.mismatches.length >= 1, 'at least one mismatch');
  const named = summary.mismatches.filter((line) => line.includes(`account ${from}:`) || line.includes(`account ${to}:`));
  assert.ok(named.length >= 1, `a mismatch names ${from} or ${to}: ${summary.mismatches.join('; ')}`);
  // The corruption did not stop replication: the snapshot still reached the last version.
  assert.equal(summary.persistedSnapshot, facts.lastCandidate);
});

test('the demo command: exit 0 with a verified summary; non-zero with "does not match" when the database tampers with a version', async () => {
  const small = workload(300, 50, SEED);
  const smallFacts = logFacts(small);
  const tampered = smallFacts.expected.committed[Math.floor(smallFacts.expected.committed.length / 3)]!.version;
  const [good, bad] = await Promise.all([pg.freshDatabase(), pg.freshDatabase()]);
  // The demo creates bank_accounts only if missing: this one comes with a trigger that adds a
  // cent to every row version `tampered` writes, behind the replicator's back.
  await bad.pool.query('CREATE TABLE bank_accounts ("number" text PRIMARY KEY, amount decimal NOT NULL, "version" bigint NOT NULL)');
  await bad.pool.query(
    `CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF NEW."version" = ${tampered} THEN NEW.amount := NEW.amount + 0.01; END IF; RETURN NEW; END $$`,
  );
  await bad.pool.query('CREATE TRIGGER tamper BEFORE UPDATE ON bank_accounts FOR EACH ROW EXECUTE FUNCTION tamper()');
  const args = ['demo', '--transactions', '300', '--accounts', '50', '--seed', String(SEED), '--concurrency', '4'];
  const [ok, failed] = await Promise.all([runCli([...args, '--database-url', good.url]), runCli([...args, '--database-url', bad.url])]);

  assert.equal(ok.code, 0, describeRun(ok));
  assert.match(ok.stdout, /^demo: 300 transactions \(\d+ committed, \d+ aborted\)/m);
  assert.match(ok.stdout, /verified: every account matches a serial replay/);
  assert.match(ok.stdout, new RegExp(`persisted snapshot ${smallFacts.lastCandidate} \\(last version ${smallFacts.lastCandidate}\\)`));

  assert.notEqual(failed.code, 0, describeRun(failed));
  assert.equal(failed.code, 2, describeRun(failed));
  assert.match(failed.stdout, /NOT verified: \d+ mismatch\(es\)/);
  assert.deepEqual(nonLogLines(failed.stderr), ['talos-replicator: demo finished, but the database does not match the serial replay'], describeRun(failed));
  assert.doesNotMatch(failed.stderr, /\n\s+at /, 'no stack trace without --verbose');
});
