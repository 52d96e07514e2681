/**
 * One transaction on a pooled client: BEGIN, the work, COMMIT, with the failure paths a
 * replicator cannot afford to get wrong (a swallowed error turning COMMIT into ROLLBACK, a
 * connection dying mid-transaction).
 */
import type { ClientBase, Pool, PoolClient } from 'pg';
import { TransactionAbortedError } from './errors.js';
import { begin, COMMIT, ROLLBACK, type IsolationLevel } from './sql.js';

export type { IsolationLevel } from './sql.js';

/** Anything a single statement can run on: the pool (any connection) or one client. */
export type Queryable = Pool | ClientBase;

/**
 * Watches a client checked out of the pool until it is given back with the returned function:
 * pg-pool removes its error listener while a client is checked out, and without ours a
 * connection dropped by the server would be an unhandled 'error' event (a crash). The client
 * goes back to the pool only when its session is known to be outside any transaction block
 * (`reusable`) and its connection did not fail; otherwise it is destroyed.
 */
export function watchCheckedOut(client: PoolClient): (reusable: boolean) => void {
  let connectionError: Error | undefined;
  const onError = (error: Error): void => {
    connectionError = error;
  };
  client.on('error', onError);
  return (reusable) => {
    client.removeListener('error', onError);
    // Passing an error destroys the connection instead of returning it to the pool.
    client.release(connectionError ?? (reusable ? undefined : new Error('connection left in an unknown transaction state')));
  };
}

export async function inTransaction<T>(pool: Pool, isolation: IsolationLevel, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  const giveBack = watchCheckedOut(client);
  // Whether the session may go back to the pool: only when we know it is outside any
  // transaction block. A failed BEGIN, COMMIT or ROLLBACK leaves that unknown.
  let reusable = false;
  try {
    await client.query(begin(isolation));
    let value: T;
    try {
      value = await work(client);
    } catch (error) {
      reusable = await rollbackQuietly(client);
      throw error;
    }
    const result = await client.query(COMMIT);
    reusable = true;
    // Postgres answers COMMIT of an aborted transaction with ROLLBACK and no error.
    if (result.command !== 'COMMIT') throw new TransactionAbortedError();
    return value;
  } finally {
    giveBack(reusable);
  }
}

/** ROLLBACK, whatever state the session is in; true when the session is known to be outside any transaction block. */
export async function rollbackQuietly(client: PoolClient): Promise<boolean> {
  try {
    await client.query(ROLLBACK);
    return true;
  } catch {
    return false;
  }
}
