/**
 * The Talos banking example as a cohort: `bank_accounts` rows carrying the version that
 * last wrote them, and an install for the `TRANSFER {from, to, amount}` statemap action.
 * It is idempotent on its own (a row already at the version is left alone), so it is
 * correct with or without the transactional installer's bookkeeping.
 */
import type { ClientBase } from 'pg';
import type { InstallJob, StatemapItem, Version } from '../../machines/domain.js';
import * as sql from './sql.js';
import type { Queryable } from './transaction.js';

export const TRANSFER_ACTION = 'TRANSFER';
/** Width of generated account numbers ('000042'): text order equals numeric order. */
export const ACCOUNT_NUMBER_WIDTH = 6;

export interface Transfer {
  readonly from: string;
  readonly to: string;
  /** A non-negative decimal, as text so no precision is lost on the way to `numeric`. */
  readonly amount: string;
}

export interface BankingOptions {
  /** Schema of `bank_accounts`. Default `public`. */
  readonly schema?: string;
}

/** A statemap item the banking install cannot apply; names the version and action. */
export class StatemapPayloadError extends Error {
  override readonly name = 'StatemapPayloadError';
  constructor(
    readonly version: Version,
    readonly action: string,
    detail: string,
  ) {
    super(`Version ${version}, action ${JSON.stringify(action)}: ${detail}`);
  }
}

/** Account number `index` as created by `createBankingSchema`. */
export function bankAccountNumber(index: number): string {
  return String(index).padStart(ACCOUNT_NUMBER_WIDTH, '0');
}

/**
 * Create `bank_accounts` (if missing) and accounts 0 .. accounts-1 with `initialBalance`.
 * Existing accounts keep their balance and version, so running it twice is harmless.
 */
export async function createBankingSchema(db: Queryable, accounts: number, initialBalance: string | number, options: BankingOptions = {}): Promise<void> {
  if (!Number.isSafeInteger(accounts) || accounts < 0) throw new RangeError(`accounts must be a non-negative integer, got ${accounts}`);
  const balance = decimalText(initialBalance);
  if (balance === undefined) throw new RangeError(`initialBalance must be a non-negative decimal, got ${String(initialBalance)}`);
  const schema = options.schema ?? sql.DEFAULT_SCHEMA;
  if (schema !== sql.DEFAULT_SCHEMA) await db.query(sql.createSchema(schema));
  await db.query(sql.createBankAccountsTable(schema));
  if (accounts > 0) await db.query(sql.insertBankAccounts(schema, accounts, balance, ACCOUNT_NUMBER_WIDTH));
}

/** Validate one statemap item as a transfer; throws StatemapPayloadError naming what is wrong. */
export function parseTransfer(item: StatemapItem): Transfer {
  if (item.action !== TRANSFER_ACTION) {
    throw new StatemapPayloadError(item.version, item.action, `unknown action (the banking install only knows ${TRANSFER_ACTION})`);
  }
  const payload = item.payload;
  if (typeof payload !== 'object' || payload === null) throw new StatemapPayloadError(item.version, item.action, 'payload must be an object {from, to, amount}');
  const { from, to, amount } = payload as Record<string, unknown>;
  if (typeof from !== 'string' || from === '') throw new StatemapPayloadError(item.version, item.action, 'payload.from must be a non-empty account number');
  if (typeof to !== 'string' || to === '') throw new StatemapPayloadError(item.version, item.action, 'payload.to must be a non-empty account number');
  const amountText = decimalText(amount);
  if (amountText === undefined) {
    throw new StatemapPayloadError(item.version, item.action, `payload.amount must be a non-negative decimal, got ${JSON.stringify(amount)}`);
  }
  return { from, to, amount: amountText };
}

/** The Talos banking install on the `public` schema; see `createBankingInstall`. */
export const bankingInstall = createBankingInstall();

/**
 * An install (for `createTransactionalInstaller`, or called inside your own transaction):
 * every transfer of the version is applied with the row guard `version < $installVersion`.
 */
export function createBankingInstall(options: BankingOptions = {}): (statemaps: readonly StatemapItem[], version: Version, client: ClientBase) => Promise<void> {
  const schema = options.schema ?? sql.DEFAULT_SCHEMA;
  sql.quoteIdentifier(schema);
  return async (statemaps, version, client) => {
    if (statemaps.length === 0) return;
    const transfers = statemaps.map(parseTransfer);
    const numbers: string[] = [];
    const deltas: string[] = [];
    for (const { from, to, amount } of transfers) {
      numbers.push(from, to);
      deltas.push(`-${amount}`, amount);
    }
    const accounts = [...new Set(numbers)].sort();
    // Lock every touched row first, in account order: concurrent versions sharing accounts
    // then wait for each other instead of deadlocking.
    const locked = await client.query<{ number: string }>(sql.lockBankAccounts(schema, accounts));
    if (locked.rowCount !== accounts.length) {
      const found = new Set(locked.rows.map((row) => row.number));
      const missing = accounts.filter((account) => !found.has(account));
      throw new StatemapPayloadError(version, TRANSFER_ACTION, `unknown account${missing.length === 1 ? '' : 's'} ${missing.join(', ')}`);
    }
    await client.query(sql.applyBankDeltas(schema, version, numbers, deltas));
  };
}

/**
 * The banking install for a batch of versions (for `createTransactionalInstaller`'s
 * `installBatch`): one lock and one update for the whole batch. Versions of one batch touch
 * disjoint accounts; should two of them share one, it falls back to one version at a time.
 */
export function createBankingInstallBatch(options: BankingOptions = {}): (jobs: readonly InstallJob[], client: ClientBase) => Promise<void> {
  const schema = options.schema ?? sql.DEFAULT_SCHEMA;
  const single = createBankingInstall(options);
  return async (jobs, client) => {
    const numbers: string[] = [];
    const deltas: string[] = [];
    const versions: Version[] = [];
    const owner = new Map<string, Version>();
    for (const job of jobs) {
      for (const { from, to, amount } of job.statemaps.map(parseTransfer)) {
        for (const account of [from, to]) {
          const previous = owner.get(account);
          if (previous !== undefined && previous !== job.version) {
            for (const each of jobs) await single(each.statemaps, each.version, client);
            return;
          }
          owner.set(account, job.version);
        }
        numbers.push(from, to);
        deltas.push(`-${amount}`, amount);
        versions.push(job.version, job.version);
      }
    }
    if (numbers.length === 0) return;
    const accounts = [...owner.keys()].sort();
    const locked = await client.query<{ number: string }>(sql.lockBankAccounts(schema, accounts));
    if (locked.rowCount !== accounts.length) {
      const found = new Set(locked.rows.map((row) => row.number));
      const missing = accounts.filter((account) => !found.has(account));
      throw new StatemapPayloadError(owner.get(missing[0]!)!, TRANSFER_ACTION, `unknown account${missing.length === 1 ? '' : 's'} ${missing.join(', ')}`);
    }
    await client.query(sql.applyBankDeltasOfVersions(schema, numbers, deltas, versions));
  };
}

const DECIMAL_PATTERN = /^\d+(\.\d+)?$/;

/** Non-negative decimal as text, or undefined. Numbers are accepted when they print as plain decimals. */
function decimalText(value: unknown): string | undefined {
  if (typeof value === 'number') value = Number.isFinite(value) && value >= 0 ? String(value) : undefined;
  return typeof value === 'string' && DECIMAL_PATTERN.test(value) ? value : undefined;
}
