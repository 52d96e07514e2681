import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createPostgresPool,
  describePostgresTarget,
  redactConnectionUrl,
  resolvePostgresConfig,
  verifyPostgresConnection,
} from '../../adapters/postgres/connection.js';
import { PostgresConfigError } from '../../adapters/postgres/errors.js';
import { usePostgres } from '../support/postgres.js';

const pg = usePostgres();

function configError(build: () => unknown): PostgresConfigError {
  try {
    build();
  } catch (error) {
    assert.ok(error instanceof PostgresConfigError, `expected PostgresConfigError, got ${String(error)}`);
    return error;
  }
  return assert.fail('expected a PostgresConfigError');
}

test('a URL is passed through with the pool settings', () => {
  const config = resolvePostgresConfig({ url: 'postgres://app:s3cret@db.example:6543/cohort', max: 12 });
  assert.equal(config.connectionString, 'postgres://app:s3cret@db.example:6543/cohort');
  assert.equal(config.max, 12);
  assert.equal(config.application_name, 'talos-replicator');
  assert.equal(describePostgresTarget(config), 'postgres://app:***@db.example:6543/cohort');
});

test('bad URLs are named without their password', () => {
  const notUrl = configError(() => resolvePostgresConfig({ url: 'postgres://app:pa ss@@:x/db' }));
  assert.doesNotMatch(notUrl.message, /pa ss/);
  assert.match(notUrl.message, /^Postgres connection URL postgres:\/\/app:\*\*\*@.* is not a valid URL/);
  const scheme = configError(() => resolvePostgresConfig({ url: 'mysql://u:hunter2@h/db' }));
  assert.equal(scheme.message, 'Postgres connection URL mysql://u:***@h/db must start with postgres:// or postgresql://, not mysql://');
  const port = configError(() => resolvePostgresConfig({ url: 'postgresql://u:hunter2@h:99999/db' }));
  assert.doesNotMatch(port.message, /hunter2/);
  const ssl = configError(() => resolvePostgresConfig({ url: 'postgres://u:hunter2@h/db?sslmode=sometimes' }));
  assert.match(ssl.message, /sslmode of connection URL postgres:\/\/u:\*\*\*@h\/db\?sslmode=sometimes must be one of disable, /);
});

test('PG* variables are read from the given environment', () => {
  const config = resolvePostgresConfig({
    env: { PGHOST: 'db', PGPORT: '6000', PGUSER: 'app', PGPASSWORD: 'pw', PGDATABASE: 'cohort', PGSSLMODE: 'require' },
    max: 3,
  });
  assert.deepEqual(
    { host: config.host, port: config.port, user: config.user, password: config.password, database: config.database, ssl: config.ssl, max: config.max },
    { host: 'db', port: 6000, user: 'app', password: 'pw', database: 'cohort', ssl: { rejectUnauthorized: false }, max: 3 },
  );
  assert.equal(describePostgresTarget(config), 'app@db:6000/cohort');
  assert.equal(resolvePostgresConfig({ env: { PGHOST: 'db', PGSSLMODE: 'prefer' } }).ssl, false);
  assert.deepEqual(resolvePostgresConfig({ env: { PGHOST: 'db', PGSSLMODE: 'verify-full' } }).ssl, { rejectUnauthorized: true });
});

test('missing or wrong environment settings say what to fix', () => {
  assert.match(configError(() => resolvePostgresConfig({ env: {} })).message, /^No Postgres connection configured: pass a connection URL .* or set PGHOST, PGPORT/);
  assert.match(configError(() => resolvePostgresConfig({ env: { PGPASSWORD: 'only-this' } })).message, /^No Postgres connection configured/);
  assert.equal(configError(() => resolvePostgresConfig({ env: { PGHOST: 'h', PGPORT: '54x' } })).message, 'PGPORT must be a port number between 1 and 65535, got "54x"');
  assert.match(configError(() => resolvePostgresConfig({ env: { PGHOST: 'h', PGSSLMODE: 'on' } })).message, /^PGSSLMODE must be one of/);
  assert.equal(configError(() => resolvePostgresConfig({ url: 'postgres://h/db', max: 0 })).message, 'Postgres pool size must be an integer >= 1, got 0');
});

test('redaction covers user:password@ and password= forms', () => {
  assert.equal(redactConnectionUrl('postgres://u:p%40ss@h:1/d'), 'postgres://u:***@h:1/d');
  assert.equal(redactConnectionUrl('postgres://h/d?user=u&password=secret&x=1'), 'postgres://h/d?user=u&password=***&x=1');
  assert.equal(redactConnectionUrl('postgres://h/d'), 'postgres://h/d');
});

test('a pool built from the URL, or from PG* variables, reaches the server', async () => {
  const server = pg.server();
  const fromUrl = createPostgresPool({ url: server.url, max: 2 });
  const fromEnv = createPostgresPool({
    env: { PGHOST: server.host, PGPORT: String(server.port), PGUSER: server.user, PGPASSWORD: server.password, PGDATABASE: server.database },
    max: 2,
  });
  try {
    for (const pool of [fromUrl, fromEnv]) {
      await verifyPostgresConnection(pool);
      assert.equal((await pool.query('SELECT current_database() AS db')).rows[0].db, server.database);
      assert.equal(pool.options.max, 2);
    }
  } finally {
    await Promise.all([fromUrl.end(), fromEnv.end()]);
  }
});

test('a wrong password fails verification with the target named and the password hidden', async () => {
  const server = pg.server();
  const pool = createPostgresPool({ url: server.url.replace(`:${server.password}@`, ':wrong-password@'), max: 1 });
  try {
    const error: unknown = await verifyPostgresConnection(pool).then(() => assert.fail('expected a failure'), (e: unknown) => e);
    assert.ok(error instanceof PostgresConfigError);
    assert.match(error.message, new RegExp(`^Cannot connect to Postgres at postgres://postgres:\\*\\*\\*@127.0.0.1:${server.port}/replicator: password authentication failed`));
    assert.doesNotMatch(error.message, /wrong-password/);
  } finally {
    await pool.end();
  }
});
