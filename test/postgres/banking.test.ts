import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pool } from 'pg';
import type { StatemapItem, Version } from '../../machines/domain.js';
import {
  bankAccountNumber,
  bankingInstall,
  createBankingInstall,
  createBankingSchema,
  parseTransfer,
  StatemapPayloadError,
} from '../../adapters/postgres/banking.js';
import { createTransactionalInstaller } from '../../adapters/postgres/transactionalInstaller.js';
import { PostgresInstallError } from '../../adapters/postgres/errors.js';
import { inTransaction } from '../../adapters/postgres/transaction.js';
import type { RetryNotice } from '../../adapters/postgres/retry.js';
import { usePostgres } from '../support/postgres.js';
import { range } from './fixtures.js';

const pg = usePostgres();

function transfer(version: Version, from: number, to: number, amount: string | number): StatemapItem {
  return { action: 'TRANSFER', version, safepoint: null, payload: { from: bankAccountNumber(from), to: bankAccountNumber(to), amount } };
}

async function accounts(pool: Pool, schema = 'public'): Promise<Array<{ number: string; amount: string; version: string }>> {
  const result = await pool.query(`SELECT "number", amount::text AS amount, "version"::text AS version FROM "${schema}".bank_accounts ORDER BY "number"`);
  return result.rows;
}

test('createBankingSchema creates numbered accounts and is idempotent', async () => {
  const { pool } = await pg.freshDatabase();
  await createBankingSchema(pool, 3, '100.00');
  await pool.query(`UPDATE bank_accounts SET amount = 1 WHERE "number" = '000000'`);
  await createBankingSchema(pool, 4, 100);
  assert.deepEqual(await accounts(pool), [
    { number: '000000', amount: '1', version: '0' },
    { number: '000001', amount: '100.00', version: '0' },
    { number: '000002', amount: '100.00', version: '0' },
    { number: '000003', amount: '100', version: '0' },
  ]);
  await assert.rejects(createBankingSchema(pool, -1, 1), RangeError);
  await assert.rejects(createBankingSchema(pool, 1, '-5'), RangeError);
});

test('a transfer moves the amount and stamps both rows with the version', async () => {
  const { pool } = await pg.freshDatabase();
  await createBankingSchema(pool, 3, '100.00');
  await inTransaction(pool, 'read committed', (client) => bankingInstall([transfer(5, 0, 2, '10.25')], 5, client));
  assert.deepEqual(await accounts(pool), [
    { number: '000000', amount: '89.75', version: '5' },
    { number: '000001', amount: '100.00', version: '0' },
    { number: '000002', amount: '110.25', version: '5' },
  ]);
});

test('a redelivered version is a no-op even without the bookkeeping table', async () => {
  const { pool } = await pg.freshDatabase();
  await createBankingSchema(pool, 2, '50');
  const statemaps = [transfer(7, 0, 1, '5')];
  for (let i = 0; i < 3; i += 1) await inTransaction(pool, 'read committed', (client) => bankingInstall(statemaps, 7, client));
  // An older version arriving late is a no-op as well: the rows are already past it.
  await inTransaction(pool, 'read committed', (client) => bankingInstall([transfer(6, 1, 0, '1')], 6, client));
  assert.deepEqual((await accounts(pool)).map((row) => row.amount), ['45', '55']);
  const tables = await pool.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'replicator_installed_versions'`);
  assert.equal(tables.rows[0].n, 0);
});

test('several transfers of one version touching the same account all apply', async () => {
  const { pool } = await pg.freshDatabase();
  await createBankingSchema(pool, 3, '100');
  const statemaps = [transfer(9, 0, 1, '10'), transfer(9, 1, 2, '30'), transfer(9, 2, 0, 5)];
  await inTransaction(pool, 'read committed', (client) => bankingInstall(statemaps, 9, client));
  assert.deepEqual((await accounts(pool)).map((row) => [row.amount, row.version]), [
    ['95', '9'],
    ['80', '9'],
    ['125', '9'],
  ]);
});

test('unknown actions, unknown accounts and bad payloads are rejected naming the version', async () => {
  const { pool } = await pg.freshDatabase();
  await createBankingSchema(pool, 2, '100');
  const install = (items: StatemapItem[], version: Version) => inTransaction(pool, 'read committed', (client) => bankingInstall(items, version, client));

  const unknownAction = await install([{ action: 'WITHDRAW', version: 4, safepoint: null, payload: {} }], 4).catch((e: unknown) => e);
  assert.ok(unknownAction instanceof StatemapPayloadError);
  assert.equal(unknownAction.version, 4);
  assert.equal(unknownAction.action, 'WITHDRAW');
  assert.match(unknownAction.message, /^Version 4, action "WITHDRAW": unknown action/);

  const unknownAccount = await install([transfer(5, 0, 77, '1')], 5).catch((e: unknown) => e);
  assert.ok(unknownAccount instanceof StatemapPayloadError);
  assert.match(unknownAccount.message, /^Version 5, action "TRANSFER": unknown account 000077$/);

  assert.throws(() => parseTransfer(transfer(6, 0, 1, '-3')), /Version 6, action "TRANSFER": payload.amount must be a non-negative decimal, got "-3"/);
  assert.throws(() => parseTransfer(transfer(6, 0, 1, Number.NaN)), StatemapPayloadError);
  assert.throws(() => parseTransfer({ action: 'TRANSFER', version: 6, safepoint: null, payload: null }), /payload must be an object/);
  assert.throws(() => parseTransfer({ action: 'TRANSFER', version: 6, safepoint: null, payload: { from: '', to: 'x', amount: '1' } }), /payload.from/);
  assert.deepEqual(parseTransfer(transfer(6, 0, 1, 2.5)), { from: '000000', to: '000001', amount: '2.5' });
  assert.deepEqual((await accounts(pool)).map((row) => row.amount), ['100', '100'], 'nothing applied');
});

test('through the transactional installer: errors are typed and name the version and action', async () => {
  const { pool } = await pg.freshDatabase();
  await createBankingSchema(pool, 2, '100');
  const installer = createTransactionalInstaller(pool, { install: bankingInstall });
  const error: unknown = await installer
    .install([{ action: 'OPEN_ACCOUNT', version: 3, safepoint: null, payload: {} }], 3)
    .then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(error instanceof PostgresInstallError);
  assert.ok(error.cause instanceof StatemapPayloadError);
  assert.match(error.message, /^Installing version 3 failed after 1 attempt: Version 3, action "OPEN_ACCOUNT": unknown action/);
});

test('concurrent versions locking the same accounts in opposite orders do not deadlock', async () => {
  const { pool, newPool } = await pg.freshDatabase();
  await createBankingSchema(pool, 4, '1000');
  const retries: RetryNotice[] = [];
  const installer = createTransactionalInstaller(newPool({ max: 8 }), { install: bankingInstall, onRetry: (notice) => retries.push(notice) });
  // Neighbouring versions list the same accounts in opposite orders. The core would never
  // run versions sharing accounts at once (safepoints); this checks the locking alone. With
  // no safepoint order an older version may arrive after a newer one touched its rows, and
  // the row guard then skips it there, so money is not conserved and is not asserted.
  const touched = new Map<string, number>();
  await Promise.all(
    range(1, 120).map((version) => {
      const items = version % 2 === 0 ? [transfer(version, 0, 3, '1'), transfer(version, 2, 1, '1')] : [transfer(version, 3, 0, '2'), transfer(version, 1, 2, '2')];
      for (const account of range(0, 3)) touched.set(bankAccountNumber(account), version);
      return installer.install(items, version);
    }),
  );
  assert.deepEqual(retries, [], 'sorted row locking avoids deadlocks altogether');
  for (const row of await accounts(pool)) assert.equal(Number(row.version), touched.get(row.number), `account ${row.number} carries the newest version`);
});

test('versions sharing accounts installed in version order conserve money', async () => {
  const { pool } = await pg.freshDatabase();
  await createBankingSchema(pool, 5, '100.00');
  const installer = createTransactionalInstaller(pool, { install: bankingInstall });
  for (const version of range(1, 40)) await installer.install([transfer(version, version % 5, (version * 2) % 5, '3.33')], version);
  const rows = await accounts(pool);
  assert.equal(rows.reduce((sum, row) => sum + Math.round(Number(row.amount) * 100), 0), 50_000);
});

test('batch install equals one-by-one install on the banking schema', async () => {
  const batchDb = await pg.freshDatabase();
  const singleDb = await pg.freshDatabase();
  const schema = 'bank';
  const install = createBankingInstall({ schema });
  for (const db of [batchDb, singleDb]) await createBankingSchema(db.pool, 10, '500.00', { schema });
  const jobs = range(1, 50).map((version) => ({
    version,
    statemaps: [transfer(version, (version * 7) % 10, (version * 3) % 10, `${version}.${version % 10}0`), transfer(version, version % 10, (version + 1) % 10, '0.01')],
  }));
  const batched = createTransactionalInstaller(batchDb.pool, { install, schema });
  const single = createTransactionalInstaller(singleDb.pool, { install, schema });
  for (let i = 0; i < jobs.length; i += 10) await batched.installBatch(jobs.slice(i, i + 10));
  for (const { statemaps, version } of jobs) await single.install(statemaps, version);
  assert.deepEqual(await accounts(batchDb.pool, schema), await accounts(singleDb.pool, schema));
  // Redelivering the whole run as one batch changes nothing.
  await batched.installBatch(jobs);
  assert.deepEqual(await accounts(batchDb.pool, schema), await accounts(singleDb.pool, schema));
});
