/**
 * Every SQL statement the Postgres adapter sends, as pure builders (pg-boss style): no I/O
 * here, so the whole dialect can be read, reviewed and tested in one place. Values always
 * travel as parameters; only identifiers (schema and table names) are spliced into the
 * text, and those always go through `quoteIdentifier`.
 */
import type { QueryConfig } from 'pg';
import type { Version } from '../../machines/domain.js';

/** A statement ready for `client.query(...)`. */
export type Statement = QueryConfig<unknown[]> & { readonly text: string; readonly values: unknown[] };

export const DEFAULT_SCHEMA = 'public';
/** Talos's cohort convention: one row, id 'SINGLETON', holding the persisted snapshot. */
export const SNAPSHOT_TABLE = 'cohort_snapshot';
export const SINGLETON_ID = 'SINGLETON';
/** One row per version the transactional installer has applied and committed. */
export const INSTALLED_TABLE = 'replicator_installed_versions';
/** One row: every version at or below it counts as installed (its bookkeeping rows were pruned). */
export const WATERMARK_TABLE = 'replicator_installed_watermark';
export const BANK_ACCOUNTS_TABLE = 'bank_accounts';

/** Postgres silently truncates longer identifiers, which could make two names collide. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * Quote an identifier for splicing into SQL text. Double quotes are doubled, so any name is
 * safe; names Postgres would mangle (empty, NUL, too long) are rejected instead.
 */
export function quoteIdentifier(name: string): string {
  if (name.length === 0) throw new RangeError('SQL identifier must not be empty');
  if (name.includes('\0')) throw new RangeError('SQL identifier must not contain a NUL character');
  if (Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES) {
    throw new RangeError(`SQL identifier "${name}" is longer than ${MAX_IDENTIFIER_BYTES} bytes; Postgres would truncate it`);
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Quote a string literal, for the few statements that take no parameters (ALTER ROLE ...
 * PASSWORD). Assumes standard_conforming_strings (on since Postgres 9.1): only quotes double.
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new RangeError('SQL literal must not contain a NUL character');
  return `'${value.replaceAll("'", "''")}'`;
}

/** `"schema"."table"`. */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdentifier(schema)}.${quoteIdentifier(table)}`;
}

// ---------------------------------------------------------------------------------------
// Schema creation. Run inside one transaction holding `lockSchemaCreation`: concurrent
// `CREATE TABLE IF NOT EXISTS` of the same table can still fail on the catalog's unique
// index (the check and the insert are not atomic), so racing processes take turns.
// ---------------------------------------------------------------------------------------

/** Transaction-scoped advisory lock serialising DDL of this adapter per schema. */
export function lockSchemaCreation(schema: string): Statement {
  return { text: 'SELECT pg_advisory_xact_lock(hashtext($1))', values: [`talos-replicator:ddl:${schema}`] };
}

/** Only issued for schemas other than `public`: CREATE SCHEMA checks the CREATE privilege even when the schema exists. */
export function createSchema(schema: string): string {
  return `CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`;
}

export function createSnapshotTable(schema: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(schema, SNAPSHOT_TABLE)} (id text PRIMARY KEY, "version" bigint NOT NULL)`;
}

/** Creates the singleton row at version 0 unless it exists (never lowers an existing one). */
export function insertSnapshotRow(schema: string): Statement {
  return {
    text: `INSERT INTO ${qualifiedName(schema, SNAPSHOT_TABLE)} (id, "version") VALUES ($1, 0) ON CONFLICT (id) DO NOTHING`,
    values: [SINGLETON_ID],
  };
}

export function createInstalledTable(schema: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(schema, INSTALLED_TABLE)} ("version" bigint PRIMARY KEY, installed_at timestamptz NOT NULL DEFAULT now())`;
}

export function createWatermarkTable(schema: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(schema, WATERMARK_TABLE)} (id text PRIMARY KEY, "version" bigint NOT NULL)`;
}

/** -1: nothing pruned yet, so no version is presumed installed (not even 0). */
export function insertWatermarkRow(schema: string): Statement {
  return {
    text: `INSERT INTO ${qualifiedName(schema, WATERMARK_TABLE)} (id, "version") VALUES ($1, -1) ON CONFLICT (id) DO NOTHING`,
    values: [SINGLETON_ID],
  };
}

// ---------------------------------------------------------------------------------------
// Snapshot.
// ---------------------------------------------------------------------------------------

export function selectSnapshot(schema: string): Statement {
  return { text: `SELECT "version" FROM ${qualifiedName(schema, SNAPSHOT_TABLE)} WHERE id = $1`, values: [SINGLETON_ID] };
}

/**
 * Raise-only write of the snapshot. An upsert, so a deleted row comes back; the conflict
 * branch's WHERE makes a lower or equal version a no-op (no row version written at all).
 */
export function raiseSnapshot(schema: string, version: Version): Statement {
  const table = qualifiedName(schema, SNAPSHOT_TABLE);
  return {
    text:
      `INSERT INTO ${table} AS s (id, "version") VALUES ($1, $2) ` +
      `ON CONFLICT (id) DO UPDATE SET "version" = EXCLUDED."version" WHERE s."version" < EXCLUDED."version"`,
    values: [SINGLETON_ID, version],
  };
}

// ---------------------------------------------------------------------------------------
// Installed-version bookkeeping (exactly-once).
// ---------------------------------------------------------------------------------------

/** SINGLETON_ID as an SQL string literal, for the parameterless claim. */
const SINGLETON_LITERAL = `'${SINGLETON_ID.replace(/'/g, "''")}'`;

/**
 * How claims and prunes exclude each other: a prune takes the bookkeeping table in SHARE ROW
 * EXCLUSIVE mode (see `lockInstalledForPrune`), which conflicts with the ROW EXCLUSIVE lock every
 * claim takes and holds until its transaction ends. So a prune waits for every install in
 * flight, and a claim that comes while a prune runs waits for it. A claim must read the
 * watermark with a snapshot taken after that wait, or it could miss what the prune just
 * deleted. Under READ COMMITTED a statement's snapshot is taken after the locks it needs (the
 * batch claim's INSERT), and each statement of the claim procedure takes its own snapshot, so the
 * procedure's INSERT, which comes after its LOCK TABLE, reads the watermark the prune left. Under
 * REPEATABLE READ and SERIALIZABLE the transaction's snapshot is taken by its first statement,
 * which would be the call of the procedure, before the wait: there the claim starts with an
 * explicit LOCK TABLE (which takes no snapshot), so the snapshot comes after it. Table locks
 * write nothing: no row lock, no WAL for them, unlike a FOR SHARE on the watermark row taken by
 * every claim.
 */
function lockForClaim(installed: string, isolation: IsolationLevel): string {
  return isolation === 'read committed' ? '' : `${lockForClaimStatement(installed)}; `;
}

function lockForClaimStatement(installed: string): string {
  return `LOCK TABLE ${installed} IN ROW EXCLUSIVE MODE`;
}

/** The PL/pgSQL procedure behind `claimVersionInline`, one per schema (see `createClaimProcedure`). */
export const CLAIM_PROCEDURE = 'replicator_claim_version';

const CLAIM_BODY_QUOTE = '$talos_claim$';

/**
 * Claim one version for the current transaction: record it, or fail when it is installed
 * already (so that nothing of this transaction can commit).
 *
 * - Recorded before (its row exists): the primary key refuses it (23505, unique_violation).
 * - At or below the watermark (installed, and its row pruned since): the CASE gives NULL, which
 *   the primary key refuses too (23502, not_null_violation).
 * - Another transaction inserting the same version right now: the INSERT waits for it and then
 *   either fails (it committed) or claims (it rolled back): concurrent redelivery applies once.
 *
 * `isClaimRefusal` tells these refusals from other errors (they keep their code, table and schema
 * on the way out of the procedure).
 *
 * Why a procedure: the claim runs once per install transaction, and parsing and planning an INSERT
 * with a subquery every time cost the server about a sixth of a whole banking install. PL/pgSQL
 * keeps each statement's plan for the session, so a call costs parsing `CALL p(v)` only. It
 * needs no session state of the adapter's own (unlike PREPARE), so it works the same behind a
 * transaction-pooling proxy. The bookkeeping schema step (re)creates it. A procedure rather than a
 * function because CALL is a utility statement: nothing to plan, and no row to send back and parse.
 *
 * Its LOCK TABLE states the order `lockForClaim` needs: lock first, then the INSERT's snapshot.
 * Postgres would also take the INSERT's lock before its snapshot on its own (a cached plan's
 * locks come first), but that is an implementation detail this must not rest on.
 */
export function createClaimProcedure(schema: string): string {
  return (
    `CREATE OR REPLACE PROCEDURE ${qualifiedName(schema, CLAIM_PROCEDURE)}(claimed bigint) ` +
    `LANGUAGE plpgsql AS ${CLAIM_BODY_QUOTE}${claimProcedureBody(schema)}${CLAIM_BODY_QUOTE}`
  );
}

/** The claim procedure's source text, as `pg_proc.prosrc` holds it. */
export function claimProcedureBody(schema: string): string {
  const { installed, watermark } = bookkeepingNames(schema);
  const body =
    `BEGIN ` +
    `${lockForClaimStatement(installed)}; ` +
    `INSERT INTO ${installed} ("version") VALUES (CASE WHEN claimed > COALESCE((SELECT "version" FROM ${watermark} WHERE id = ${SINGLETON_LITERAL}), -1) THEN claimed END); ` +
    `END`;
  // A schema name containing the quote tag would end the body early.
  if (body.includes(CLAIM_BODY_QUOTE)) throw new RangeError(`schema "${schema}" must not contain ${CLAIM_BODY_QUOTE}`);
  return body;
}

/**
 * The claim procedure's current source and kind ('p'), if a routine of that name and argument
 * exists (no row otherwise). The schema step replaces it only when it differs: CREATE OR REPLACE
 * needs to own it, and a role that may use the procedure someone else created should still start.
 */
export function selectClaimProcedure(schema: string): Statement {
  return { text: 'SELECT prosrc, prokind FROM pg_proc WHERE oid = to_regprocedure($1)', values: [`${qualifiedName(schema, CLAIM_PROCEDURE)}(bigint)`] };
}

/** A routine of the claim's name that is not the procedure (a function, from an earlier build) must go first. */
export function dropClaimFunction(schema: string): string {
  return `DROP FUNCTION IF EXISTS ${qualifiedName(schema, CLAIM_PROCEDURE)}(bigint)`;
}

/**
 * The claim for one version: a call of the procedure `createClaimProcedure` makes (under
 * REPEATABLE READ and SERIALIZABLE after the lock of `lockForClaim`). One parameterless string,
 * so it travels with BEGIN (or with the previous transaction's COMMIT) in one round trip; the
 * version is a checked safe integer, so inlining is safe.
 */
export function claimVersionInline(schema: string, version: Version, isolation: IsolationLevel = 'read committed'): string {
  checkClaimVersion(version);
  const { installed, claim } = bookkeepingNames(schema);
  return `${lockForClaim(installed, isolation)}CALL ${claim}(${version})`;
}

/**
 * Claim several versions (a batched install); returns (RETURNING) the versions that were not
 * installed yet, and only those may be applied: versions at or below the watermark are filtered
 * out, recorded ones skipped (ON CONFLICT DO NOTHING, which also waits for a concurrent inserter
 * of the same version). Rows are inserted in version order so overlapping concurrent batches
 * lock index entries in the same order and cannot deadlock on each other. The lock against
 * prunes is the one `lockForClaim` describes.
 */
export function claimVersionsInline(schema: string, versions: readonly Version[], isolation: IsolationLevel = 'read committed'): string {
  for (const version of versions) checkClaimVersion(version);
  const { installed, watermark } = bookkeepingNames(schema);
  return (
    lockForClaim(installed, isolation) +
    `INSERT INTO ${installed} ("version") ` +
    `SELECT v FROM unnest(ARRAY[${versions.join(',')}]::bigint[]) AS claim(v) ` +
    `WHERE v > COALESCE((SELECT "version" FROM ${watermark} WHERE id = ${SINGLETON_LITERAL}), -1) ` +
    `ORDER BY v ON CONFLICT ("version") DO NOTHING RETURNING "version"`
  );
}

function checkClaimVersion(version: Version): void {
  if (!Number.isSafeInteger(version) || version < 0) throw new RangeError(`version must be a non-negative integer, got ${version}`);
}

/**
 * First statement of a prune: waits for every claim in flight and holds new ones off until the
 * prune commits (see `lockForClaim`). SHARE ROW EXCLUSIVE also makes two prunes take turns.
 */
export function lockInstalledForPrune(schema: string): string {
  return `LOCK TABLE ${bookkeepingNames(schema).installed} IN SHARE ROW EXCLUSIVE MODE`;
}

/** The bookkeeping tables' quoted names, per schema (an install should not re-quote them). */
interface BookkeepingNames {
  readonly installed: string;
  readonly watermark: string;
  readonly claim: string;
}

const bookkeepingNamesBySchema = new Map<string, BookkeepingNames>();

function bookkeepingNames(schema: string): BookkeepingNames {
  let names = bookkeepingNamesBySchema.get(schema);
  if (names === undefined) {
    names = {
      installed: qualifiedName(schema, INSTALLED_TABLE),
      watermark: qualifiedName(schema, WATERMARK_TABLE),
      claim: qualifiedName(schema, CLAIM_PROCEDURE),
    };
    bookkeepingNamesBySchema.set(schema, names);
  }
  return names;
}

/** Pruning, after `lockInstalledForPrune`: raise the watermark. */
export function raiseWatermark(schema: string, upToVersion: Version): Statement {
  const table = qualifiedName(schema, WATERMARK_TABLE);
  return {
    text:
      `INSERT INTO ${table} AS w (id, "version") VALUES ($1, $2) ` +
      `ON CONFLICT (id) DO UPDATE SET "version" = GREATEST(w."version", EXCLUDED."version")`,
    values: [SINGLETON_ID, upToVersion],
  };
}

/** Second half of pruning, in the same transaction after `raiseWatermark`. */
export function deleteInstalledUpTo(schema: string, upToVersion: Version): Statement {
  return { text: `DELETE FROM ${qualifiedName(schema, INSTALLED_TABLE)} WHERE "version" <= $1`, values: [upToVersion] };
}

/** True when the version is recorded or at/below the watermark. */
export function selectIsInstalled(schema: string, version: Version): Statement {
  return {
    text:
      `SELECT EXISTS (SELECT 1 FROM ${qualifiedName(schema, INSTALLED_TABLE)} WHERE "version" = $2) ` +
      `OR $2 <= COALESCE((SELECT "version" FROM ${qualifiedName(schema, WATERMARK_TABLE)} WHERE id = $1), -1) AS installed`,
    values: [SINGLETON_ID, version],
  };
}

// ---------------------------------------------------------------------------------------
// Status (read-only; `talos-replicator status`).
// ---------------------------------------------------------------------------------------

/** Which of the adapter's own tables exist in `schema`: a status read must not create any. */
export function selectExistingTables(schema: string): Statement {
  return {
    text: `SELECT t AS "table" FROM unnest($2::text[]) AS t WHERE to_regclass(quote_ident($1) || '.' || quote_ident(t)) IS NOT NULL`,
    values: [schema, [SNAPSHOT_TABLE, INSTALLED_TABLE, WATERMARK_TABLE]],
  };
}

export function selectWatermark(schema: string): Statement {
  return { text: `SELECT "version" FROM ${qualifiedName(schema, WATERMARK_TABLE)} WHERE id = $1`, values: [SINGLETON_ID] };
}

/** How many bookkeeping rows there are, their range, and how many the persisted snapshot `$1` already covers (left for the next prune). */
export function summarizeInstalledVersions(schema: string, snapshot: Version): Statement {
  return {
    text:
      `SELECT count(*) AS rows, min("version") AS lowest, max("version") AS highest, ` +
      `count(*) FILTER (WHERE "version" <= $1) AS covered FROM ${qualifiedName(schema, INSTALLED_TABLE)}`,
    values: [snapshot],
  };
}

/** A consistent read of several tables, which cannot write by mistake. */
export const BEGIN_READ_ONLY_SNAPSHOT = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';

// ---------------------------------------------------------------------------------------
// Banking example (Talos's cohort demo).
// ---------------------------------------------------------------------------------------

export function createBankAccountsTable(schema: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(schema, BANK_ACCOUNTS_TABLE)} ("number" text PRIMARY KEY, amount decimal NOT NULL, "version" bigint NOT NULL)`;
}

/**
 * Accounts '000000' .. lpad(count - 1): fixed width so text order is numeric order.
 * Existing accounts are left alone, so re-running is harmless.
 */
export function insertBankAccounts(schema: string, count: number, initialBalance: string, width: number): Statement {
  return {
    text:
      `INSERT INTO ${qualifiedName(schema, BANK_ACCOUNTS_TABLE)} ("number", amount, "version") ` +
      `SELECT lpad(i::text, $3, '0'), $2::decimal, 0 FROM generate_series(0, $1 - 1) AS i ` +
      `ON CONFLICT ("number") DO NOTHING`,
    values: [count, initialBalance, width],
  };
}

/**
 * Lock the accounts a version touches, in account-number order. LockRows sits above the
 * Sort in the plan, so locks are taken in that order: two versions touching the same
 * accounts queue up instead of deadlocking.
 */
export function lockBankAccounts(schema: string, accountNumbers: readonly string[]): Statement {
  return {
    text: `SELECT "number" FROM ${qualifiedName(schema, BANK_ACCOUNTS_TABLE)} WHERE "number" = ANY($1::text[]) ORDER BY "number" FOR UPDATE`,
    values: [[...accountNumbers]],
  };
}

/**
 * Apply the net change of every account of one version and stamp it with the version.
 * `version < $1` makes a redelivered version a no-op even without the bookkeeping table.
 * Deltas are summed per account in SQL (exact decimal arithmetic, and an account that
 * appears in two transfers of one version is updated once, not skipped the second time).
 */
export function applyBankDeltas(schema: string, version: Version, accountNumbers: readonly string[], deltas: readonly string[]): Statement {
  return {
    text:
      `UPDATE ${qualifiedName(schema, BANK_ACCOUNTS_TABLE)} AS a SET amount = a.amount + d.delta, "version" = $1 ` +
      `FROM (SELECT n, sum(x) AS delta FROM unnest($2::text[], $3::numeric[]) AS u(n, x) GROUP BY n) AS d ` +
      `WHERE a."number" = d.n AND a."version" < $1`,
    values: [version, [...accountNumbers], [...deltas]],
  };
}

/**
 * The net change of every account of several versions at once, each row stamped with the
 * version that wrote it. Only for versions that touch disjoint accounts (a batch of jobs that
 * were eligible together); `version < v` keeps a redelivered version a no-op.
 */
export function applyBankDeltasOfVersions(schema: string, accountNumbers: readonly string[], deltas: readonly string[], versions: readonly Version[]): Statement {
  return {
    text:
      `UPDATE ${qualifiedName(schema, BANK_ACCOUNTS_TABLE)} AS a SET amount = a.amount + d.delta, "version" = d.v ` +
      `FROM (SELECT n, sum(x) AS delta, max(v) AS v FROM unnest($1::text[], $2::numeric[], $3::bigint[]) AS u(n, x, v) GROUP BY n) AS d ` +
      `WHERE a."number" = d.n AND a."version" < d.v`,
    values: [[...accountNumbers], [...deltas], [...versions]],
  };
}

// ---------------------------------------------------------------------------------------
// Transactions and administration.
// ---------------------------------------------------------------------------------------

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

const BEGIN_BY_ISOLATION: Readonly<Record<IsolationLevel, string>> = {
  'read committed': 'BEGIN ISOLATION LEVEL READ COMMITTED',
  'repeatable read': 'BEGIN ISOLATION LEVEL REPEATABLE READ',
  serializable: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
};

export function begin(isolation: IsolationLevel): string {
  return BEGIN_BY_ISOLATION[isolation];
}

export const COMMIT = 'COMMIT';
export const ROLLBACK = 'ROLLBACK';
export const SELECT_ONE = 'SELECT 1';

export function selectDatabaseExists(name: string): Statement {
  return { text: 'SELECT 1 FROM pg_database WHERE datname = $1', values: [name] };
}

/** CREATE DATABASE takes no parameters; the name is quoted as an identifier. */
export function createDatabase(name: string): string {
  return `CREATE DATABASE ${quoteIdentifier(name)}`;
}

/** Utility statement: no parameters allowed, so the password is quoted as a literal. */
export function alterRolePassword(role: string, password: string): string {
  return `ALTER ROLE ${quoteIdentifier(role)} PASSWORD ${quoteLiteral(password)}`;
}
