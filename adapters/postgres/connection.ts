/**
 * Building a `pg.Pool` from a connection URL or the usual PG* environment variables, with
 * errors that say which setting is wrong and never echo a password.
 */
import pg from 'pg';
import type { Pool, PoolConfig } from 'pg';
import { PostgresConfigError } from './errors.js';
import { SELECT_ONE } from './sql.js';

export interface PostgresConnectionOptions {
  /** `postgres://user:password@host:port/database?sslmode=...`; when absent, PG* variables are used. */
  readonly url?: string;
  /** Where PG* variables are read from. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Pool size: installer concurrency plus a couple for the snapshot and schema work. Default 10. */
  readonly max?: number;
  /** Shown in pg_stat_activity. Default `talos-replicator`. */
  readonly applicationName?: string;
  /** Give up connecting after this long. Default 10 000 ms. */
  readonly connectionTimeoutMillis?: number;
  /** Close connections idle this long. Default 30 000 ms. */
  readonly idleTimeoutMillis?: number;
  /**
   * An idle pooled connection failed (server restart, network). pg-pool discards it and
   * opens a new one on demand; without a listener the event would crash the process.
   */
  readonly onIdleClientError?: (error: Error) => void;
}

export const DEFAULT_POOL_SIZE = 10;
const ENV_KEYS = ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE'] as const;
const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const;

/** Replace the password of a URL-ish string with `***` (also works on strings `URL` rejects). */
export function redactConnectionUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^@/?#]*@/i, '$1:***@').replace(/([?&]password=)[^&#]*/i, '$1***');
}

/** `user@host:port/database`, for logs and error messages. */
export function describePostgresTarget(config: PoolConfig): string {
  if (config.connectionString !== undefined) return redactConnectionUrl(config.connectionString);
  const user = config.user ?? '(default user)';
  const host = config.host ?? 'localhost';
  const port = config.port ?? 5432;
  return `${user}@${host}:${port}/${config.database ?? user}`;
}

/** Pure: options -> pg PoolConfig, or a PostgresConfigError naming the problem. */
export function resolvePostgresConfig(options: PostgresConnectionOptions = {}): PoolConfig {
  const max = options.max ?? DEFAULT_POOL_SIZE;
  if (!Number.isInteger(max) || max < 1) throw new PostgresConfigError(`Postgres pool size must be an integer >= 1, got ${max}`);
  const common: PoolConfig = {
    max,
    application_name: options.applicationName ?? 'talos-replicator',
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    idleTimeoutMillis: options.idleTimeoutMillis ?? 30_000,
  };
  if (options.url !== undefined) return { ...common, connectionString: checkUrl(options.url) };
  return { ...common, ...fromEnvironment(options.env ?? process.env) };
}

function checkUrl(url: string): string {
  const shown = redactConnectionUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PostgresConfigError(
      `Postgres connection URL ${shown} is not a valid URL (expected postgres://user:password@host:port/database; percent-encode special characters in the user name and password)`,
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new PostgresConfigError(`Postgres connection URL ${shown} must start with postgres:// or postgresql://, not ${parsed.protocol}//`);
  }
  if (parsed.port !== '') checkPort(parsed.port, `the port of connection URL ${shown}`);
  const sslmode = parsed.searchParams.get('sslmode');
  if (sslmode !== null) checkSslMode(sslmode, `sslmode of connection URL ${shown}`);
  return url;
}

function fromEnvironment(env: Readonly<Record<string, string | undefined>>): PoolConfig {
  const present = ENV_KEYS.filter((key) => nonEmpty(env[key]) !== undefined);
  if (present.length === 0 || (present.length === 1 && present[0] === 'PGPASSWORD')) {
    throw new PostgresConfigError(
      'No Postgres connection configured: pass a connection URL (postgres://user:password@host:port/database) or set PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE',
    );
  }
  const config: PoolConfig = {};
  const host = nonEmpty(env.PGHOST);
  const port = nonEmpty(env.PGPORT);
  const user = nonEmpty(env.PGUSER);
  const password = env.PGPASSWORD;
  const database = nonEmpty(env.PGDATABASE);
  const sslmode = nonEmpty(env.PGSSLMODE);
  if (host !== undefined) config.host = host;
  if (port !== undefined) config.port = checkPort(port, 'PGPORT');
  if (user !== undefined) config.user = user;
  if (password !== undefined) config.password = password;
  if (database !== undefined) config.database = database;
  if (sslmode !== undefined) config.ssl = sslFromMode(checkSslMode(sslmode, 'PGSSLMODE'));
  return config;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function checkPort(value: string, what: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new PostgresConfigError(`${what} must be a port number between 1 and 65535, got "${value}"`);
  }
  return port;
}

type SslMode = (typeof SSL_MODES)[number];

function checkSslMode(value: string, what: string): SslMode {
  if (!(SSL_MODES as readonly string[]).includes(value)) {
    throw new PostgresConfigError(`${what} must be one of ${SSL_MODES.join(', ')}, got "${value}"`);
  }
  return value as SslMode;
}

/**
 * libpq's modes on pg's options. pg cannot fall back from TLS to plain text, so `allow`
 * and `prefer` (libpq's default) connect without TLS, which is what they do against a
 * server without TLS; ask for `require` or stronger to insist on encryption.
 */
function sslFromMode(mode: SslMode): PoolConfig['ssl'] {
  switch (mode) {
    case 'disable':
    case 'allow':
    case 'prefer':
      return false;
    case 'require':
    case 'no-verify':
      return { rejectUnauthorized: false };
    case 'verify-ca':
    case 'verify-full':
      return { rejectUnauthorized: true };
  }
}

/** Options -> a ready pool (no connection is opened until first use; see `verifyPostgresConnection`). */
export function createPostgresPool(options: PostgresConnectionOptions = {}): Pool {
  const pool = new pg.Pool(resolvePostgresConfig(options));
  pool.on('error', (error) => options.onIdleClientError?.(error));
  return pool;
}

/** Open one connection now, so a wrong host or password fails at startup with a clear message. */
export async function verifyPostgresConnection(pool: Pool): Promise<void> {
  try {
    await pool.query(SELECT_ONE);
  } catch (error) {
    throw new PostgresConfigError(`Cannot connect to Postgres at ${describePostgresTarget(pool.options)}: ${reasonOf(error)}`, { cause: error });
  }
}

/** Connection failures can be AggregateErrors (IPv4 and IPv6 both refused) with an empty message. */
function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.message !== '') return error.message;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(reasonOf).join('; ');
  return error.name;
}
