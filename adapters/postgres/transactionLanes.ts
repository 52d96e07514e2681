/**
 * Runs transactions on up to `lanes` held connections, sending each COMMIT together with the
 * next transaction's BEGIN and opening statement in one round trip when a next transaction is
 * already waiting: `COMMIT; BEGIN ...; <opening>`.
 *
 * Why: on a small host every round trip costs both processes a write, a read and a wake-up,
 * and that is most of what a short install transaction costs (a banking install is BEGIN, a
 * lock, an update and COMMIT: four). Chaining makes it three per transaction while others
 * wait, with no transaction held open any longer: the COMMIT leaves exactly when it would have.
 *
 * A transaction's outcome is its COMMIT's. When a chained message fails, nothing says whether
 * its COMMIT or the next opening failed; the transaction's own `committed` check (the install
 * bookkeeping) answers that on the cleaned-up connection, and the next transaction, if it never
 * started, goes back to the front of the queue.
 *
 * Connections go back to the pool whenever no transaction waits, and also when someone else
 * waits for one of the pool's connections (the snapshot store shares the pool), so lanes never
 * starve other users of the pool.
 */
import type { Pool, PoolClient, QueryResult } from 'pg';
import { Deque } from '../../machines/structures/deque.js';
import { TransactionAbortedError } from './errors.js';
import { begin, COMMIT, type IsolationLevel } from './sql.js';
import { rollbackQuietly, watchCheckedOut } from './transaction.js';

export interface LaneTransaction {
  /** One or more parameterless statements sent right after BEGIN, in the same round trip. */
  readonly opening: string;
  /** The transaction's work, given the opening's (last statement's) result; throw to roll back. */
  work(client: PoolClient, opened: QueryResult): Promise<void>;
  /**
   * Asked on a clean connection when the message carrying this transaction's COMMIT failed:
   * did it commit after all? An error here counts as "no" (the caller's retry is safe: its
   * opening claim refuses what is installed).
   */
  committed(client: PoolClient): Promise<boolean>;
}

export interface TransactionLanes {
  /** Resolves once the transaction committed; rejects with the error of its opening, its work or its COMMIT. */
  run(transaction: LaneTransaction): Promise<void>;
}

export interface TransactionLanesOptions {
  readonly lanes: number;
  readonly isolation: IsolationLevel;
}

interface Queued {
  readonly transaction: LaneTransaction;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export function createTransactionLanes(pool: Pool, options: TransactionLanesOptions): TransactionLanes {
  if (!Number.isSafeInteger(options.lanes) || options.lanes < 1) throw new RangeError(`lanes must be a positive integer, got ${options.lanes}`);
  const queue = new Deque<Queued>();
  const beginStatement = begin(options.isolation);
  let active = 0;
  /** Lanes waiting for their connection: each will take a transaction when it has one. */
  let connecting = 0;

  const startLanes = () => {
    while (active < options.lanes && queue.length > connecting) {
      active += 1;
      connecting += 1;
      void lane().finally(() => {
        active -= 1;
        startLanes();
      });
    }
  };

  /** Others wait for a connection of the pool: give ours back rather than chain. */
  const poolIsWanted = () => pool.waitingCount > 0;

  async function lane(): Promise<void> {
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      // No connection: whoever is first in line learns why; the others wait for the next lane.
      queue.shift()?.reject(error);
      return;
    } finally {
      connecting -= 1;
    }
    const giveBack = watchCheckedOut(client);
    /** Work done, COMMIT not sent yet. */
    let awaiting: Queued | null = null;
    /** Taken from the queue but not started (its message failed at the COMMIT before it): it goes first. */
    let carried: Queued | null = null;
    /** Whether the session is known to be outside any transaction block (may go back to the pool). */
    let reusable = true;
    try {
      for (;;) {
        const next: Queued | undefined = carried ?? (poolIsWanted() && awaiting !== null ? undefined : queue.shift());
        carried = null;
        if (next === undefined) {
          if (awaiting !== null) reusable = await commitAlone(client, awaiting);
          return;
        }
        const chained = awaiting;
        awaiting = null;
        let results: QueryResult[];
        try {
          // Several statements in one message: pg answers with one result each.
          const answer: unknown = await client.query(`${chained ? `${COMMIT}; ` : ''}${beginStatement}; ${next.transaction.opening}`);
          results = Array.isArray(answer) ? (answer as QueryResult[]) : [answer as QueryResult];
        } catch (error) {
          reusable = await rollbackQuietly(client);
          if (chained === null) {
            next.reject(error);
          } else if (reusable && (await committedAfterAll(client, chained))) {
            chained.resolve();
            next.reject(error);
          } else {
            chained.reject(error);
            // Its COMMIT failed, so nothing after it in the message ran: it goes first again.
            carried = next;
          }
          if (!reusable) {
            // This connection is done for: the carried transaction waits for another lane.
            if (carried !== null) queue.push(carried);
            carried = null;
            return;
          }
          continue;
        }
        if (chained !== null) settleCommit(chained, results[0]!);
        try {
          await next.transaction.work(client, results[results.length - 1]!);
        } catch (error) {
          reusable = await rollbackQuietly(client);
          next.reject(error);
          if (!reusable) return;
          continue;
        }
        awaiting = next;
      }
    } catch (error) {
      // Only our own bookkeeping can get here; whatever waited for a COMMIT learns of it.
      reusable = false;
      awaiting?.reject(error);
    } finally {
      giveBack(reusable);
    }
  }

  async function commitAlone(client: PoolClient, queued: Queued): Promise<boolean> {
    let result: QueryResult;
    try {
      result = await client.query(COMMIT);
    } catch (error) {
      const reusable = await rollbackQuietly(client);
      if (reusable && (await committedAfterAll(client, queued))) queued.resolve();
      else queued.reject(error);
      return reusable;
    }
    settleCommit(queued, result);
    return true;
  }

  async function committedAfterAll(client: PoolClient, queued: Queued): Promise<boolean> {
    try {
      return await queued.transaction.committed(client);
    } catch {
      return false;
    }
  }

  return {
    run(transaction) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ transaction, resolve, reject });
        startLanes();
      });
    },
  };
}

/** Postgres answers COMMIT of an aborted transaction with ROLLBACK and no error. */
function settleCommit(queued: Queued, result: QueryResult): void {
  if (result.command === 'COMMIT') queued.resolve();
  else queued.reject(new TransactionAbortedError());
}
