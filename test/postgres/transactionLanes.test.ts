/**
 * Transaction lanes on a real Postgres: each COMMIT travels with the next waiting transaction's
 * BEGIN and opening, and every way such a chained message can fail settles each transaction by
 * what really happened to it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { Pool, PoolClient, QueryResult } from 'pg';
import { TransactionAbortedError } from '../../adapters/postgres/errors.js';
import { createTransactionLanes, type LaneTransaction } from '../../adapters/postgres/transactionLanes.js';
import { usePostgres } from '../support/postgres.js';

const postgres = usePostgres();

/** A pg client that records every query text it is given. */
function recordingClient(sent: string[]) {
  return class RecordingClient extends pg.Client {
    override query(...args: unknown[]): never {
      const first = args[0] as string | { text?: string };
      sent.push(typeof first === 'string' ? first : (first.text ?? ''));
      return (super.query as (...a: unknown[]) => never)(...args);
    }
  };
}

async function setUp(lanes: number, poolMax = lanes) {
  const { pool: admin, newPool } = await postgres.freshDatabase();
  await admin.query('CREATE TABLE t (id int PRIMARY KEY)');
  // Checked at COMMIT: the way to make a COMMIT fail on its own.
  await admin.query('CREATE TABLE d (id int, tag text, CONSTRAINT d_once UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)');
  const sent: string[] = [];
  const pool = newPool({ max: poolMax, Client: recordingClient(sent) });
  return { admin, pool, sent, lanes: createTransactionLanes(pool, { lanes, isolation: 'read committed' }) };
}

/** Inserts `id` into t; committed when the row is there. */
function insertInto(table: 't', id: number, opening = 'SELECT 1'): LaneTransaction {
  return {
    opening,
    work: async (client) => {
      await client.query(`INSERT INTO ${table} (id) VALUES ($1)`, [id]);
    },
    committed: async (client) => (await client.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id])).rowCount === 1,
  };
}

/** Inserts `id` into d, whose uniqueness is checked only at COMMIT; committed when its tagged row is there. */
function insertDeferred(id: number): LaneTransaction {
  const tag = `lane-${id}`;
  return {
    opening: 'SELECT 1',
    work: async (client) => {
      await client.query('INSERT INTO d (id, tag) VALUES ($1, $2)', [id, tag]);
    },
    committed: async (client) => (await client.query('SELECT 1 FROM d WHERE tag = $1', [tag])).rowCount === 1,
  };
}

async function ids(pool: Pool, table: string): Promise<number[]> {
  const { rows } = await pool.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`);
  return rows.map((row) => row.id);
}

const opens = (sent: readonly string[]) => sent.filter((text) => text.includes('BEGIN'));

test('transactions waiting for the lane send their BEGIN with the COMMIT before them: one message fewer each', async () => {
  const { admin, pool, sent, lanes } = await setUp(1);
  await Promise.all([1, 2, 3].map((id) => lanes.run(insertInto('t', id))));
  assert.deepEqual(await ids(admin, 't'), [1, 2, 3]);
  assert.deepEqual(opens(sent), [
    'BEGIN ISOLATION LEVEL READ COMMITTED; SELECT 1',
    'COMMIT; BEGIN ISOLATION LEVEL READ COMMITTED; SELECT 1',
    'COMMIT; BEGIN ISOLATION LEVEL READ COMMITTED; SELECT 1',
  ]);
  assert.equal(sent.at(-1), 'COMMIT', 'the last one commits alone, nothing waits behind it');
  assert.equal(sent.length, 7, 'three transactions of one statement each: 3 opening messages + 3 statements + 1 COMMIT');
});

test('a chained COMMIT that fails fails its own transaction only; the next one then starts on its own', async () => {
  const { admin, pool, sent, lanes } = await setUp(1);
  await admin.query('INSERT INTO d (id) VALUES (7)');
  const results = await Promise.allSettled([lanes.run(insertInto('t', 1)), lanes.run(insertDeferred(7)), lanes.run(insertInto('t', 2))]);
  assert.equal(results[0]!.status, 'fulfilled');
  assert.equal(results[1]!.status, 'rejected');
  assert.equal((results[1] as PromiseRejectedResult).reason.code, '23505', "the deferred constraint's error at COMMIT");
  assert.equal(results[2]!.status, 'fulfilled', 'the transaction behind the failed COMMIT ran after all');
  assert.deepEqual(await ids(admin, 't'), [1, 2]);
  assert.deepEqual(opens(sent).slice(-1), ['BEGIN ISOLATION LEVEL READ COMMITTED; SELECT 1'], 'it was opened again, alone');
});

test("a chained message failing at the next transaction's opening commits the previous one and fails only the next", async () => {
  const { admin, pool, lanes } = await setUp(1);
  const results = await Promise.allSettled([lanes.run(insertInto('t', 1)), lanes.run(insertInto('t', 2, 'SELECT 1/0')), lanes.run(insertInto('t', 3))]);
  assert.deepEqual(
    results.map((result) => result.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.match(String((results[1] as PromiseRejectedResult).reason), /division by zero/);
  assert.deepEqual(await ids(admin, 't'), [1, 3]);
});

test('work that throws rolls back and fails its transaction; one whose swallowed error aborted it fails at COMMIT; the lane goes on', async () => {
  const { admin, pool, lanes } = await setUp(1);
  const throwing: LaneTransaction = {
    ...insertInto('t', 2),
    work: async (client) => {
      await client.query('INSERT INTO t (id) VALUES (2)');
      throw new Error('user code gave up');
    },
  };
  const swallowing: LaneTransaction = {
    ...insertInto('t', 3),
    work: async (client) => {
      await client.query('INSERT INTO t (id) VALUES (3)');
      await client.query('SELECT 1/0').catch(() => undefined);
    },
  };
  const results = await Promise.allSettled([lanes.run(insertInto('t', 1)), lanes.run(throwing), lanes.run(swallowing), lanes.run(insertInto('t', 4))]);
  assert.deepEqual(
    results.map((result) => result.status),
    ['fulfilled', 'rejected', 'rejected', 'fulfilled'],
  );
  assert.match(String((results[1] as PromiseRejectedResult).reason), /user code gave up/);
  assert.ok((results[2] as PromiseRejectedResult).reason instanceof TransactionAbortedError);
  assert.deepEqual(await ids(admin, 't'), [1, 4]);
});

test('a lane gives its connection back when someone else waits for one of the pool, instead of chaining on', async () => {
  const { pool, lanes } = await setUp(1, 1);
  let committed = 0;
  let outsiderDoneAfter = -1;
  const slow = (id: number): LaneTransaction => ({
    opening: 'SELECT 1',
    work: async (client: PoolClient, _opened: QueryResult) => {
      await client.query('SELECT pg_sleep(0.01)');
      await client.query('INSERT INTO t (id) VALUES ($1)', [id]);
    },
    committed: async () => false,
  });
  const stream = Array.from({ length: 20 }, (_, index) => lanes.run(slow(index)).then(() => (committed += 1)));
  // The only connection is the lane's; this waits in the pool's queue.
  const outsider = pool.query('SELECT 1').then(() => (outsiderDoneAfter = committed));
  await Promise.all([...stream, outsider]);
  assert.ok(outsiderDoneAfter >= 0 && outsiderDoneAfter < 5, `the outside query ran after ${outsiderDoneAfter} of 20 transactions`);
});
