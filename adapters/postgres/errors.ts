/**
 * The adapter's error types and the one question every retry decision asks: which
 * SQLSTATE is behind this error?
 */
import type { Version } from '../../machines/domain.js';

/** SQLSTATEs that mean "the transaction lost a race; running it again can succeed". */
export const RETRIABLE_SQLSTATES: ReadonlySet<string> = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);

const SQLSTATE_PATTERN = /^[0-9A-Z]{5}$/;
/** User code may wrap pg errors; look a few causes deep, not forever (cycles). */
const MAX_CAUSE_DEPTH = 5;

/** The SQLSTATE of a pg error, or of the first error in its `cause` chain that has one. */
export function sqlStateOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && typeof current === 'object' && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && SQLSTATE_PATTERN.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isRetriableSqlError(error: unknown): boolean {
  const state = sqlStateOf(error);
  return state !== undefined && RETRIABLE_SQLSTATES.has(state);
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}

/** "version 7" / "versions 3, 4, 5" / "versions 3, 4, 5, ... 90 (40 versions)". */
export function describeVersions(versions: readonly Version[]): string {
  if (versions.length === 1) return `version ${versions[0]}`;
  if (versions.length <= 6) return `versions ${versions.join(', ')}`;
  return `versions ${versions.slice(0, 3).join(', ')}, ... ${versions[versions.length - 1]} (${versions.length} versions)`;
}

/**
 * An install that did not commit. Nothing of it is applied (the transaction rolled back, or
 * its outcome is unknown and the bookkeeping will tell on the next attempt). Retriable
 * SQLSTATEs were already retried inside the adapter; `attempts` says how often.
 */
export class PostgresInstallError extends Error {
  override readonly name = 'PostgresInstallError';
  /** Every version of the failed transaction, in version order. */
  readonly versions: readonly Version[];
  /** The version whose user install was running when it failed, if the failure was there. */
  readonly failedVersion: Version | undefined;
  readonly attempts: number;
  readonly sqlState: string | undefined;

  constructor(details: { versions: readonly Version[]; failedVersion?: Version; attempts: number; cause: unknown }) {
    const { versions, failedVersion, attempts, cause } = details;
    const sqlState = sqlStateOf(cause);
    const where = versions.length > 1 && failedVersion !== undefined ? ` at version ${failedVersion}` : '';
    const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
    const state = sqlState === undefined ? '' : ` (SQLSTATE ${sqlState})`;
    super(`Installing ${describeVersions(versions)} failed${where} after ${tries}: ${describeCause(cause)}${state}`, { cause });
    this.versions = versions;
    this.failedVersion = failedVersion;
    this.attempts = attempts;
    this.sqlState = sqlState;
  }
}

/** Reading or persisting the snapshot failed. */
export class PostgresSnapshotError extends Error {
  override readonly name = 'PostgresSnapshotError';
  readonly operation: 'read' | 'update';
  readonly version: Version | undefined;
  readonly sqlState: string | undefined;

  constructor(details: { operation: 'read' | 'update'; version?: Version; cause: unknown }) {
    const { operation, version, cause } = details;
    const sqlState = sqlStateOf(cause);
    const what = operation === 'read' ? 'Reading the cohort snapshot' : `Persisting cohort snapshot ${version}`;
    const state = sqlState === undefined ? '' : ` (SQLSTATE ${sqlState})`;
    super(`${what} failed: ${describeCause(cause)}${state}`, { cause });
    this.operation = operation;
    this.version = version;
    this.sqlState = sqlState;
  }
}

/**
 * The user's install caught a failed statement and carried on: Postgres then turns the
 * COMMIT into a ROLLBACK, so nothing (not even the bookkeeping row) was written.
 */
export class TransactionAbortedError extends Error {
  override readonly name = 'TransactionAbortedError';
  constructor() {
    super('COMMIT rolled back: a statement failed inside the transaction and its error was caught, so the transaction was aborted and nothing was applied');
  }
}

/** Connection settings that cannot work; the message names the setting, never a password. */
export class PostgresConfigError extends Error {
  override readonly name = 'PostgresConfigError';
}
