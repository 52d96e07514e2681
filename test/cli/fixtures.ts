/**
 * What the CLI tests share: a simulated certification log written to a file, the bank the
 * log's transfers apply to, installer modules as a user would write them, and checks of the
 * database against a serial replay of the committed transfers.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from 'pg';
import { writeNdjsonLog, type NdjsonFormat } from '../../adapters/files/ndjsonLog.js';
import {
  expectedEndState,
  generateCertificationLog,
  initialAccounts,
  type CertifierOptions,
  type ExpectedEndState,
} from '../../adapters/workload/certifier.js';

export const INITIAL_BALANCE = '1000.00';

export function workload(transactions: number, accounts: number, seed = 7): CertifierOptions {
  return { seed, transactions, accounts, initialBalance: INITIAL_BALANCE };
}

export interface LogFacts {
  readonly expected: ExpectedEndState;
  /** Every version the replicator installs (committed or aborted, duplicates excluded), ascending. */
  readonly installedVersions: readonly number[];
  readonly lastCandidate: number;
}

/** Facts about the log of `options` a correct replicator must reproduce. */
export function logFacts(options: CertifierOptions): LogFacts {
  const expected = expectedEndState(options);
  const duplicates = new Set(expected.duplicates.map((d) => d.version));
  const installedVersions: number[] = [];
  let lastCandidate = 0;
  for (const record of generateCertificationLog(options)) {
    if (record.headers.messageType !== 'Candidate') continue;
    const offset = Number(record.offset);
    lastCandidate = offset;
    if (offset > 0 && !duplicates.has(offset)) installedVersions.push(offset);
  }
  return { expected, installedVersions, lastCandidate };
}

export async function writeLog(file: string, options: CertifierOptions, format: NdjsonFormat): Promise<string> {
  await writeNdjsonLog(file, generateCertificationLog(options), { format });
  return file;
}

/** `bank_accounts` at the initial balances, and the audit table the installer modules write. */
export async function prepareBank(pool: Pool, options: CertifierOptions): Promise<void> {
  await pool.query('CREATE TABLE bank_accounts ("number" text PRIMARY KEY, amount decimal NOT NULL, "version" bigint NOT NULL)');
  await pool.query('CREATE TABLE replay_audit ("version" bigint PRIMARY KEY, transfers int NOT NULL)');
  const names = initialAccounts(options).map((account) => account.name);
  await pool.query('INSERT INTO bank_accounts ("number", amount, "version") SELECT unnest($1::text[]), $2::decimal, 0', [names, INITIAL_BALANCE]);
}

/** Differences between `bank_accounts` and the expected balances and versions (empty: equal). */
export async function bankMismatches(pool: Pool, expected: ExpectedEndState): Promise<string[]> {
  const { rows } = await pool.query<{ number: string; cents: string; version: string }>(
    'SELECT "number", round(amount * 100)::bigint::text AS cents, "version"::text FROM bank_accounts ORDER BY "number"',
  );
  const mismatches: string[] = [];
  if (rows.length !== expected.accounts.size) mismatches.push(`${rows.length} accounts, expected ${expected.accounts.size}`);
  for (const row of rows) {
    const want = expected.accounts.get(row.number);
    if (want === undefined) mismatches.push(`unexpected account ${row.number}`);
    else if (Number(row.cents) !== want.balanceCents || Number(row.version) !== want.version) {
      mismatches.push(`${row.number}: ${Number(row.cents) / 100} at version ${row.version}, expected ${want.balanceCents / 100} at version ${want.version}`);
    }
  }
  return mismatches;
}

export async function auditedVersions(pool: Pool): Promise<number[]> {
  const { rows } = await pool.query<{ version: string }>('SELECT "version"::text AS version FROM replay_audit ORDER BY replay_audit."version"');
  return rows.map((row) => Number(row.version));
}

export async function auditCount(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM replay_audit');
  return rows[0]!.n;
}

export async function persistedSnapshot(pool: Pool): Promise<number | null> {
  const { rows } = await pool.query<{ version: string }>(`SELECT "version"::text FROM cohort_snapshot WHERE id = 'SINGLETON'`);
  return rows[0] === undefined ? null : Number(rows[0].version);
}

/** Everything a replay changes, to show a second run changes nothing. */
export async function databaseState(pool: Pool): Promise<string> {
  const accounts = await pool.query('SELECT "number", amount::text, "version"::text FROM bank_accounts ORDER BY "number"');
  const audit = await pool.query('SELECT "version"::text, transfers FROM replay_audit ORDER BY "version"');
  return JSON.stringify({ accounts: accounts.rows, audit: audit.rows, snapshot: await persistedSnapshot(pool) });
}

/**
 * The body of the installer modules: the README's TRANSFER install (row guards
 * `version < $version`, so a repeated version leaves balances alone) plus one audit row per
 * version under a primary key, so a version applied twice fails the transaction loudly
 * instead of passing unnoticed. Accounts are locked in name order, as the banking adapter does.
 */
const INSTALL_BODY = `
  await client.query('INSERT INTO replay_audit ("version", transfers) VALUES ($1, $2)', [version, statemaps.length]);
  for (const { action, payload } of statemaps) {
    if (action !== 'TRANSFER') throw new Error('unknown action ' + action);
    const [first, second] = [payload.from, payload.to].sort();
    await client.query('SELECT 1 FROM bank_accounts WHERE "number" IN ($1, $2) ORDER BY "number" FOR UPDATE', [first, second]);
    await client.query('UPDATE bank_accounts SET amount = amount - $1, "version" = $3 WHERE "number" = $2 AND "version" < $3', [payload.amount, payload.from, version]);
    await client.query('UPDATE bank_accounts SET amount = amount + $1, "version" = $3 WHERE "number" = $2 AND "version" < $3', [payload.amount, payload.to, version]);
  }
`;

export type InstallerShape = 'esm-named' | 'esm-default-object' | 'cjs-object' | 'cjs-function';

/** Writes an installer module of the given shape into `dir`; returns its path. */
export async function writeInstaller(dir: string, shape: InstallerShape, name: string = shape): Promise<string> {
  const esm = shape.startsWith('esm');
  const file = path.join(dir, `${name}.${esm ? 'mjs' : 'cjs'}`);
  const source: Record<InstallerShape, string> = {
    'esm-named': `export async function install(statemaps, version, client) {${INSTALL_BODY}}\n`,
    'esm-default-object': `async function install(statemaps, version, client) {${INSTALL_BODY}}\nexport default { install };\n`,
    'cjs-object': `'use strict';\nasync function install(statemaps, version, client) {${INSTALL_BODY}}\nmodule.exports = { install };\n`,
    'cjs-function': `'use strict';\nmodule.exports = async function install(statemaps, version, client) {${INSTALL_BODY}};\n`,
  };
  await writeFile(file, source[shape]);
  return file;
}
