/**
 * Building a `pg.Pool` from a connection URL or the usual PG* environment variables, with
 * errors that say which setting is wrong and never echo a password.
 *
 * TLS: in a URL, pg itself reads `sslmode`, `sslrootcert`, `sslcert` and `sslkey`. From the
 * environment, PGSSLMODE with libpq's PGSSLROOTCERT (certificates to trust), PGSSLCERT and
 * PGSSLKEY (a client certificate), whose files are read and checked here, at start.
 */
import pg from 'pg';
import type { Pool, PoolConfig } from 'pg';
import type { ConnectionOptions } from 'node:tls';
import { checkCertificates, checkKeyPair, readPemFile, type Fail } from '../files/pem.js';
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
  if (host !== undefined) config.host = host;
  if (port !== undefined) config.port = checkPort(port, 'PGPORT');
  if (user !== undefined) config.user = user;
  if (password !== undefined) config.password = password;
  if (database !== undefined) config.database = database;
  const ssl = sslFromEnvironment(env);
  if (ssl !== undefined) config.ssl = ssl;
  return config;
}

const TLS_FILE_VARIABLES = ['PGSSLROOTCERT', 'PGSSLCERT', 'PGSSLKEY'] as const;

/** PGSSLMODE and the TLS files; undefined when none is set. */
function sslFromEnvironment(env: Readonly<Record<string, string | undefined>>): PoolConfig['ssl'] | undefined {
  const modeText = nonEmpty(env.PGSSLMODE);
  const mode = modeText === undefined ? undefined : checkSslMode(modeText, 'PGSSLMODE');
  const files = TLS_FILE_VARIABLES.filter((name) => nonEmpty(env[name]) !== undefined);
  if (files.length === 0) return mode === undefined ? undefined : sslFromMode(mode);
  const base = mode === undefined ? false : sslFromMode(mode);
  if (base === false) {
    throw new PostgresConfigError(
      `${files.join(', ')} ${files.length === 1 ? 'is' : 'are'} set, but PGSSLMODE is ${mode ?? 'not set'}, so the connection would not use TLS: set PGSSLMODE to verify-full (or verify-ca, require)`,
    );
  }
  const fail =
    (name: string): Fail =>
    (reason) => {
      throw new PostgresConfigError(`${name}: ${reason}`);
    };
  const read = (name: (typeof TLS_FILE_VARIABLES)[number]) => {
    const file = nonEmpty(env[name])?.trim();
    return file === undefined ? null : { pem: readPemFile(file, fail(name)), origin: file };
  };
  const ca = read('PGSSLROOTCERT');
  const cert = read('PGSSLCERT');
  const key = read('PGSSLKEY');
  if (cert && !key) throw new PostgresConfigError(`PGSSLCERT is set (${cert.origin}) but PGSSLKEY is not: a client certificate needs its private key`);
  if (key && !cert) throw new PostgresConfigError(`PGSSLKEY is set (${key.origin}) but PGSSLCERT is not: a private key needs its client certificate`);
  if (ca) checkCertificates(ca.pem, ca.origin, fail('PGSSLROOTCERT'));
  if (cert && key) checkKeyPair(cert, key, null, { cert: fail('PGSSLCERT'), key: fail('PGSSLKEY') }, 'encrypted (pg reads no key password from the environment: decrypt the key, or use a URL with sslkey and sslpassword)');
  const options: ConnectionOptions = { ...base };
  // As libpq: with a root certificate, require checks the chain as verify-ca does.
  if (ca && mode === 'require') Object.assign(options, VERIFY_CHAIN_ONLY);
  if (ca) options.ca = ca.pem;
  if (cert && key) Object.assign(options, { cert: cert.pem, key: key.pem });
  return options;
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

/** libpq's verify-ca: the server's certificate must chain to a trusted one; its host name is not checked. */
const VERIFY_CHAIN_ONLY = { rejectUnauthorized: true, checkServerIdentity: () => undefined } as const;

/**
 * libpq's modes on pg's options. pg cannot fall back from TLS to plain text, so `allow`
 * and `prefer` (libpq's default) connect without TLS, which is what they do against a
 * server without TLS; ask for `require` or stronger to insist on encryption.
 */
function sslFromMode(mode: SslMode): false | ConnectionOptions {
  switch (mode) {
    case 'disable':
    case 'allow':
    case 'prefer':
      return false;
    case 'require':
    case 'no-verify':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { ...VERIFY_CHAIN_ONLY };
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
